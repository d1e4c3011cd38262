//! Walks over archives built at test time, hostile ones included.

use std::io::{Cursor, Write};
use std::ops::ControlFlow;

use vitrine_archive::{walk, Event, LimitKind, Limits};

#[derive(Default)]
struct Seen {
    members: Vec<(String, Vec<u8>)>,
    limits: Vec<(String, LimitKind)>,
    corrupt: Vec<(String, String)>,
}

impl std::fmt::Debug for Seen {
    // Member names and sizes only: contents can be megabytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m: Vec<_> = self.members.iter().map(|(n, d)| (n, d.len())).collect();
        f.debug_struct("Seen")
            .field("members", &m)
            .field("limits", &self.limits)
            .field("corrupt", &self.corrupt)
            .finish()
    }
}

fn run(data: &[u8], limits: &Limits) -> Seen {
    let mut seen = Seen::default();
    walk(data, limits, &mut |ev| {
        match ev {
            Event::Member { path, data } => seen.members.push((path.join("!"), data.to_vec())),
            Event::LimitExceeded { path, limit } => seen.limits.push((path.join("!"), limit)),
            Event::Corrupt { path, error } => seen.corrupt.push((path.join("!"), error)),
        }
        ControlFlow::Continue(())
    });
    seen
}

fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9));
    for (n, d) in members {
        w.start_file(*n, opts).unwrap();
        w.write_all(d).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn tar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (n, d) in members {
        let mut h = tar::Header::new_ustar();
        h.set_size(d.len() as u64);
        h.set_mode(0o644);
        // Set the name bytes directly: `set_path` refuses `..`, which is
        // exactly what a hostile archive contains.
        h.as_ustar_mut().unwrap().name[..n.len()].copy_from_slice(n.as_bytes());
        h.set_cksum();
        b.append(&h, *d).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8], name: Option<&str>) -> Vec<u8> {
    let mut b = flate2::GzBuilder::new();
    if let Some(n) = name {
        b = b.filename(n);
    }
    let mut w = b.write(Vec::new(), flate2::Compression::default());
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

fn bzip2(data: &[u8]) -> Vec<u8> {
    let mut w = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut w = lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::default()).unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

fn sevenz(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = sevenz_rust2::ArchiveWriter::new(Cursor::new(Vec::new())).unwrap();
    for (n, d) in members {
        w.push_archive_entry(sevenz_rust2::ArchiveEntry::new_file(n), Some(*d))
            .unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn eicar() -> Vec<u8> {
    // Assembled at run time so this source file is not itself a detection.
    let mut v = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$".to_vec();
    v.extend_from_slice(b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*");
    v
}

#[test]
fn eicar_three_archives_deep_is_named_by_its_path() {
    let inner7z = sevenz(&[("payload/eicar.com", &eicar())]);
    let tgz = gzip(&tar(&[("dir/inner.7z", &inner7z)]), Some("inner.tar"));
    let outer = zip(&[("readme.txt", b"hello"), ("dir/inner.tar.gz", &tgz)]);
    let seen = run(&outer, &Limits::default());
    assert!(
        seen.limits.is_empty() && seen.corrupt.is_empty(),
        "{seen:?}"
    );
    let hit: Vec<_> = seen.members.iter().filter(|(_, d)| *d == eicar()).collect();
    assert_eq!(hit.len(), 1, "{seen:?}");
    assert_eq!(
        hit[0].0,
        "dir/inner.tar.gz!inner.tar!dir/inner.7z!payload/eicar.com"
    );
}

#[test]
fn every_single_stream_format() {
    let e = eicar();
    for (data, name) in [
        (gzip(&e, None), "(gzip)"),
        (gzip(&e, Some("eicar.com")), "eicar.com"),
        (bzip2(&e), "(bzip2)"),
        (xz(&e), "(xz)"),
    ] {
        let seen = run(&data, &Limits::default());
        assert_eq!(seen.members, vec![(name.to_string(), e.clone())]);
        assert!(seen.limits.is_empty() && seen.corrupt.is_empty());
    }
}

#[test]
fn zip_bomb_stops_at_the_ratio_limit_in_bounded_memory() {
    // 64 MiB of zeros deflate to about 64 KiB: a 1000x expansion.
    let zeros = vec![0u8; 64 << 20];
    let bomb = zip(&[("zeros.bin", &zeros), ("after.txt", b"after")]);
    assert!(bomb.len() < 200 << 10, "{}", bomb.len());
    let seen = run(&bomb, &Limits::default());
    assert_eq!(
        seen.limits,
        vec![("zeros.bin".to_string(), LimitKind::Ratio)]
    );
    // The bomb member is not reported as content, and the container is
    // not read further.
    assert!(seen.members.is_empty(), "{:?}", seen.members.len());
}

#[test]
fn nested_bomb_hits_the_total_limit() {
    // Ten copies of a 5 MiB zero member (each under the ratio floor),
    // nested one level: a small total limit is met and ends the walk.
    let zeros = vec![0u8; 5 << 20];
    let inner = zip(&[("z", &zeros)]);
    let members: Vec<(String, Vec<u8>)> = (0..10)
        .map(|i| (format!("{i}.zip"), inner.clone()))
        .collect();
    let refs: Vec<(&str, &[u8])> = members
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let outer = zip(&refs);
    let limits = Limits {
        max_total_bytes: 20 << 20,
        ..Limits::default()
    };
    let seen = run(&outer, &limits);
    assert_eq!(seen.limits.len(), 1, "{:?}", seen.limits);
    assert_eq!(seen.limits[0].1, LimitKind::TotalBytes);
}

#[test]
fn a_hundred_levels_deep_stops_at_the_depth_limit() {
    let mut data = eicar();
    for i in 0..100 {
        data = zip(&[(&format!("level{i}"), &data)]);
    }
    let seen = run(&data, &Limits::default());
    assert_eq!(seen.limits.len(), 1);
    assert_eq!(seen.limits[0].1, LimitKind::Depth);
    assert_eq!(seen.limits[0].0.split('!').count(), 16);
    assert_eq!(seen.members.len(), 16);
    // With a deep enough limit the payload is found.
    let deep = Limits {
        max_depth: 101,
        ..Limits::default()
    };
    let seen = run(&data, &deep);
    assert!(seen.limits.is_empty());
    assert_eq!(seen.members.last().unwrap().1, eicar());
}

#[test]
fn traversing_and_absolute_names_are_only_names() {
    let z = zip(&[("../../etc/x", &eicar()), ("/etc/y", b"abs")]);
    let seen = run(&z, &Limits::default());
    let names: Vec<_> = seen.members.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["../../etc/x", "/etc/y"]);
    let t = tar(&[("../../../tmp/z", b"tarred")]);
    let seen = run(&t, &Limits::default());
    assert_eq!(seen.members[0].0, "../../../tmp/z");
}

#[test]
fn control_characters_in_names_cannot_forge_lines() {
    let z = zip(&[("a\nb: Eicar FOUND", b"x")]);
    let seen = run(&z, &Limits::default());
    assert_eq!(seen.members[0].0, "a\\x0ab: Eicar FOUND");
}

#[test]
fn truncated_zip_still_yields_members_before_the_cut() {
    let z = zip(&[("first", &eicar()), ("second", &vec![7u8; 100_000])]);
    let cut = &z[..z.len() / 2];
    let seen = run(cut, &Limits::default());
    assert_eq!(seen.members[0], ("first".to_string(), eicar()));
    // The cut member (if reached) and the missing directory are reported.
    assert!(seen.corrupt.iter().any(|(p, _)| p.is_empty()), "{seen:?}");
}

#[test]
fn truncated_streams_report_damage_and_keep_the_prefix() {
    let big: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let mut data = eicar();
    data.extend_from_slice(&big);
    for packed in [gzip(&data, None), bzip2(&data), xz(&data)] {
        let cut = &packed[..packed.len() / 2];
        let seen = run(cut, &Limits::default());
        assert_eq!(seen.corrupt.len(), 1, "{seen:?}");
        if let Some((_, d)) = seen.members.first() {
            assert!(d.len() < data.len());
        }
    }
    let t = tar(&[("a", &big)]);
    let seen = run(&t[..4096], &Limits::default());
    assert_eq!(seen.corrupt.len(), 1, "{seen:?}");
    let s = sevenz(&[("a", &big)]);
    let seen = run(&s[..s.len() / 2], &Limits::default());
    assert_eq!(seen.corrupt.len(), 1, "{seen:?}");
}

#[test]
fn garbage_after_magic_is_corrupt_not_a_crash() {
    for magic in [
        &b"PK\x03\x04"[..],
        b"7z\xbc\xaf\x27\x1c",
        b"\x1f\x8b",
        b"BZh9",
        b"\xfd7zXZ\x00",
    ] {
        let mut d = magic.to_vec();
        d.extend((0..4000u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8));
        let seen = run(&d, &Limits::default());
        assert!(!seen.corrupt.is_empty(), "{magic:?}: {seen:?}");
        // The format is named once: "bzip2: invalid data", never
        // "bzip2: bzip2: invalid data".
        for (_, message) in &seen.corrupt {
            let (first, rest) = message.split_once(':').unwrap_or((message, ""));
            assert!(
                !rest.trim_start().starts_with(&format!("{first}:")),
                "{message}"
            );
        }
    }
}

#[test]
fn member_count_and_size_limits() {
    let names: Vec<String> = (0..50).map(|i| format!("f{i}")).collect();
    let refs: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let z = zip(&refs);
    let limits = Limits {
        max_members: 10,
        ..Limits::default()
    };
    let seen = run(&z, &limits);
    assert_eq!(seen.members.len(), 10);
    assert_eq!(seen.limits, vec![("f10".to_string(), LimitKind::Members)]);

    let z = zip(&[("big", &vec![1u8; 5000]), ("small", b"ok")]);
    let limits = Limits {
        max_member_size: 1000,
        ..Limits::default()
    };
    let seen = run(&z, &limits);
    assert_eq!(
        seen.limits,
        vec![("big".to_string(), LimitKind::MemberSize)]
    );
    // A member too large is skipped; the next one is still read.
    assert_eq!(seen.members, vec![("small".to_string(), b"ok".to_vec())]);
}

#[test]
fn the_visitor_can_stop_the_walk() {
    let z = zip(&[("a", b"1"), ("b", b"2"), ("c", b"3")]);
    let mut n = 0;
    let stats = walk(&z, &Limits::default(), &mut |_| {
        n += 1;
        ControlFlow::Break(())
    });
    assert_eq!(n, 1);
    assert!(stats.stopped);
}
