#![no_main]
// Parse arbitrary bytes; if they parse, format, reparse and assert equality.
// The body lives in vitrine_tlog::fuzz_bodies so the crate's tests run it too.
libfuzzer_sys::fuzz_target!(|data: &[u8]| vitrine_tlog::fuzz_bodies::policy(data));
