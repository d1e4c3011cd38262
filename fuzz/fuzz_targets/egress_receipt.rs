#![no_main]
// The intake's receipt (JSON, signed note, statement, tlog-proof) parsed and
// verified against fixed keys: no panic on any input.
libfuzzer_sys::fuzz_target!(|data: &[u8]| vitrine_egress::fuzz::receipt(data));
