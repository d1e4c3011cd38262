#![no_main]
// The egress policy parser on arbitrary bytes: no panic; whatever parses
// never lets a document kind through (checked in vitrine_egress::fuzz).
libfuzzer_sys::fuzz_target!(|data: &[u8]| vitrine_egress::fuzz::policy(data));
