#![no_main]
// A keyholder's share request (JSON, signed access, tlog-proof, sealed
// share) checked by a keyholder whose log the fuzzer cannot sign for: no
// panic, and no share is ever released.
libfuzzer_sys::fuzz_target!(|data: &[u8]| vitrine_keyholder::fuzz::share_request(data));
