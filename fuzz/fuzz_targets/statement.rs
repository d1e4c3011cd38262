#![no_main]
// A statement body that parses must format back to exactly the same bytes
// (one canonical form), and the note wrapper must never panic.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = vitrine_statements::Statement::parse(data) {
        assert_eq!(s.to_text().as_bytes(), data, "statement is not canonical");
    }
    let _ = vitrine_statements::Statement::open(data, &vitrine_note::Verifiers::new());
});
