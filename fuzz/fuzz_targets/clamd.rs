#![no_main]
// Bytes a clamd client sends to `vitrine daemon`: commands are read one
// after another until the end or a refusal, and any INSTREAM is read under
// a small limit. No panic; a stream never exceeds its limit; what is shown
// of a client's bytes is printable ASCII.
use vitrine_clamd::{escape, read_request, read_stream, Command};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut r = std::io::BufReader::new(data);
    for _ in 0..64 {
        match read_request(&mut r, 256) {
            Ok(Some(Ok(req))) => {
                if req.command == Command::InStream {
                    if let Ok(s) = read_stream(&mut r, 1024) {
                        assert!(s.len() <= 1024);
                    }
                }
            }
            Ok(Some(Err(e))) => {
                let shown = e.to_string();
                assert!(!shown.bytes().any(|b| b < 0x20 || b == 0x7f), "{shown:?}");
                break;
            }
            Ok(None) | Err(_) => break,
        }
    }
    assert!(escape(data).bytes().all(|b| (0x20..0x7f).contains(&b)));
});
