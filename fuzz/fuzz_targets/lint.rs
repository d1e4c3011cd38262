#![no_main]
// The linter reads rules from any logged bundle: it must never panic, and
// every finding must point inside the source.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(src) = std::str::from_utf8(data) {
        if let Ok(report) = vitrine_lint::lint_source("fuzz.yar", src) {
            let lines = src.split('\n').count();
            for f in &report.findings {
                assert!(f.line >= 1 && f.line <= lines, "finding outside the source");
            }
        }
    }
});
