#![no_main]
// A trust policy that parses must survive its own formatting.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(p) = vitrine_client::TrustPolicy::parse(data) {
        let text = p.to_text();
        let again = vitrine_client::TrustPolicy::parse(text.as_bytes())
            .expect("a formatted policy parses");
        assert_eq!(again.to_text(), text);
    }
});
