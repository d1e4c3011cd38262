#![no_main]
// A rule bundle that parses must re-serialise to the same bytes.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(b) = vitrine_bundle::Bundle::parse(data, &vitrine_bundle::Limits::default()) {
        assert_eq!(b.to_bytes(), data, "bundle is not canonical");
    }
});
