#![no_main]
// Any bytes walked as a container: no panic, and the limits hold (the
// decompressed total never passes max_total_bytes, members never pass
// max_members, nesting never passes max_depth). Small limits so the
// fuzzer reaches them.
use std::ops::ControlFlow;
use vitrine_archive::{walk, Event, Limits};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_depth: 4,
        max_members: 64,
        max_total_bytes: 1 << 20,
        max_member_size: 256 << 10,
        max_ratio: 50,
    };
    let mut bytes = 0u64;
    let mut members = 0u64;
    let stats = walk(data, &limits, &mut |ev| {
        if let Event::Member { path, data } = ev {
            assert!(path.len() <= limits.max_depth);
            assert!(data.len() as u64 <= limits.max_member_size);
            bytes += data.len() as u64;
            members += 1;
        }
        let _ = vitrine_archive::sniff(data);
        ControlFlow::Continue(())
    });
    assert!(bytes <= limits.max_total_bytes);
    assert!(members <= limits.max_members);
    assert!(stats.bytes <= limits.max_total_bytes);
});
