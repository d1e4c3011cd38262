//! Parser tables and spec worked examples for checkpoints, tiles, entry
//! bundles, tlog-proof, tlog-witness bodies and tlog-policy, plus the fuzz
//! round-trip bodies over seeded random inputs.

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use vitrine_note::{Cosigner, Note, SignatureType, SignerKey, Verifiers};
use vitrine_tlog::*;

const CP_TEXT: &str =
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const CP_NOTE: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

fn key(name: &str, kind: SignatureType, seed: u8) -> SignerKey {
    SignerKey::from_seed(name, kind, [seed; 32]).unwrap()
}

fn tree(n: u64) -> MemoryTree {
    let mut t = MemoryTree::new();
    for i in 0..n {
        t.push_data(&i.to_be_bytes());
    }
    t
}

// ---- tlog-checkpoint ----

#[test]
fn checkpoint_spec_example() {
    let c = Checkpoint::parse(CP_TEXT).unwrap();
    assert_eq!(c.origin, "example.com/behind-the-sofa");
    assert_eq!(c.size, 20852163);
    assert!(c.extensions.is_empty());
    assert_eq!(c.to_string(), CP_TEXT);
    let n = Note::parse(CP_NOTE.as_bytes()).unwrap();
    assert_eq!(Checkpoint::parse(n.text()).unwrap(), c);
}

#[test]
fn checkpoint_table() {
    let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
    let ok = [
        format!("o\n0\n{root}\n"),
        format!("o\n18446744073709551615\n{root}\n"),
        format!("o\n1\n{root}\next one\next two\n"),
        format!("o with space\n1\n{root}\n"),
    ];
    for s in &ok {
        assert_eq!(Checkpoint::parse(s).unwrap().to_string(), *s);
    }
    let bad = [
        (format!("\n1\n{root}\n"), "empty origin"),
        (format!("o\n01\n{root}\n"), "leading zero"),
        (format!("o\n+1\n{root}\n"), "plus sign"),
        (format!("o\n-1\n{root}\n"), "negative"),
        (format!("o\n\n{root}\n"), "empty size"),
        (format!("o\n18446744073709551616\n{root}\n"), "overflow"),
        (format!("o\n1 \n{root}\n"), "trailing space"),
        ("o\n1\nAAAA\n".to_owned(), "short root"),
        (format!("o\n1\n{}\n", &root[1..]), "bad base64"),
        (format!("o\n1\n{root}"), "no final newline"),
        ("o\n1\n".to_owned(), "missing root"),
        (format!("o\n1\n{root}\n\n"), "empty extension"),
        (
            format!("o\n1\n{root}\next\n\nx\n"),
            "empty extension in the middle",
        ),
        (format!("o\r\n1\n{root}\n"), "carriage return"),
    ];
    for (s, why) in &bad {
        assert!(Checkpoint::parse(s).is_err(), "{why}");
    }
}

#[test]
fn sign_and_open_checkpoint() {
    let log = key("example.com/log", SignatureType::Ed25519, 1);
    let w1 = Cosigner::new(key("w1.example", SignatureType::CosignatureV1, 2)).unwrap();
    let w2 = Cosigner::new(key("w2.example", SignatureType::CosignatureV1, 3)).unwrap();
    let t = tree(10);
    let cp = Checkpoint::new("example.com/log", 10, t.root());
    let mut note = cp.sign(&log).unwrap();
    note.cosign(&w1, 1_700_000_000).unwrap();
    let ws = Verifiers::from_keys([w1.verifier(), w2.verifier()]);
    let o = open_checkpoint(&note.to_bytes(), &log.verifier(), &ws).unwrap();
    assert_eq!(o.checkpoint, cp);
    assert_eq!(o.cosignatures.len(), 1);
    assert_eq!(o.cosignatures[0].timestamp(), Some(1_700_000_000));
    assert_eq!(o.witness_names(), BTreeSet::from(["w1.example".to_owned()]));

    // Wrong log key, wrong origin, bad witness cosignature.
    let other = key("example.com/log", SignatureType::Ed25519, 9);
    assert!(open_checkpoint(&note.to_bytes(), &other.verifier(), &ws).is_err());
    let elsewhere = key("example.com/other", SignatureType::Ed25519, 1);
    assert!(matches!(
        open_checkpoint(&note.to_bytes(), &elsewhere.verifier(), &ws),
        Err(Error::Proof(ProofError::OriginMismatch { .. }))
    ));
    let mut n2 = Checkpoint::new("example.com/log", 11, t.root())
        .sign(&log)
        .unwrap();
    let forged = w2.cosign(&cp.to_string(), 5).unwrap();
    n2.add_signature(forged);
    assert!(open_checkpoint(&n2.to_bytes(), &log.verifier(), &ws).is_err());
}

// ---- tlog-tiles ----

#[test]
fn tile_spec_examples() {
    let tiles = tiles_for_size(70_000);
    let count = |level: u8, full: bool| {
        tiles
            .iter()
            .filter(|t| t.level() == Some(level) && t.is_partial() != full)
            .count()
    };
    let partial = |level: u8| {
        tiles
            .iter()
            .find(|t| t.level() == Some(level) && t.is_partial())
            .map(|t| t.width())
    };
    assert_eq!(count(0, true), 273);
    assert_eq!(partial(0), Some(112));
    assert_eq!(count(1, true), 1);
    assert_eq!(partial(1), Some(17));
    assert_eq!(count(2, true), 0);
    assert_eq!(partial(2), Some(1));
    assert_eq!(tiles.len(), 273 + 1 + 1 + 1 + 1);

    let t256 = tiles_for_size(256);
    assert_eq!(
        t256,
        vec![
            TilePath::hashes(0, 0, 256).unwrap(),
            TilePath::hashes(1, 0, 1).unwrap()
        ]
    );
    assert!(tiles_for_size(0).is_empty());

    // Index encoding example.
    let p = TilePath::hashes(0, 1234067, 256).unwrap();
    assert_eq!(p.to_string(), "tile/0/x001/x234/067");
}

#[test]
fn tile_path_table() {
    let ok = [
        ("tile/0/000", 0, Some(0), 256),
        ("tile/0/001", 1, Some(0), 256),
        ("tile/63/999", 999, Some(63), 256),
        ("tile/1/x001/000", 1000, Some(1), 256),
        ("tile/0/x001/x234/067", 1234067, Some(0), 256),
        ("tile/0/x001/x234/067.p/8", 1234067, Some(0), 8),
        ("tile/2/000.p/1", 0, Some(2), 1),
        ("tile/0/000.p/255", 0, Some(0), 255),
        ("tile/entries/x001/x234/067.p/255", 1234067, None, 255),
        ("tile/entries/000", 0, None, 256),
        (
            "tile/0/x018/x446/x744/x073/x709/x551/615",
            u64::MAX,
            Some(0),
            256,
        ),
    ];
    for (s, idx, level, width) in ok {
        let p = TilePath::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(
            (p.index(), p.level(), p.width()),
            (idx, level, width),
            "{s}"
        );
        assert_eq!(p.to_string(), s);
    }
    let bad = [
        "",
        "tile/",
        "tile/0",
        "tile/0/",
        "tile/00/000",
        "tile/01/000",
        "tile/64/000",
        "tile/-1/000",
        "tile/a/000",
        "tile/0/0",
        "tile/0/0000",
        "tile/0/1",
        "tile/0/x000/001",
        "tile/0/001/002",
        "tile/0/x01/002",
        "tile/0/xx001/002",
        "tile/0/x001/x002",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/01",
        "tile/0/000.p/",
        "tile/0/000.p",
        "tile/0/000.p/1/",
        "tile/0/000/",
        "/tile/0/000",
        "tiles/0/000",
        "tile/entries/x001",
        "tile/entries/000.p/300",
        "tile/0/x018/x446/x744/x073/x709/x551/616",
        "tile/0/+01",
        "tile/ 0/000",
        "tile/0/00a",
    ];
    for s in bad {
        assert!(TilePath::parse(s).is_err(), "{s:?}");
    }
    assert!(TilePath::hashes(64, 0, 1).is_err());
    assert!(TilePath::hashes(0, 0, 0).is_err());
    assert!(TilePath::entries(0, 257).is_err());
}

#[test]
fn tile_contents_and_tile_hash_reader() {
    // Two full level-0 tiles, a partial one, and a partial level-1 tile.
    let size = 256 * 2 + 70;
    let t = tree(size);
    let leaves: Vec<Hash> = (0..size).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let tiles = tiles_for_size(size);
    let mut store = std::collections::HashMap::new();
    for p in &tiles {
        let from_leaves = tile_from_leaf_hashes(&leaves, p).unwrap();
        let from_reader = tile_from_reader(&t, p).unwrap();
        assert_eq!(from_leaves, from_reader, "{p}");
        assert_eq!(from_leaves.len(), usize::from(p.width()) * 32);
        store.insert(*p, from_leaves);
    }
    // Level-1 hash 0 is the root of the first full level-0 tile.
    let l1 = &store[&TilePath::hashes(1, 0, 2).unwrap()];
    assert_eq!(l1[..32], root_from_leaf_hashes(&leaves[..256]));
    let node_ids: Vec<_> = TilePath::hashes(1, 0, 2).unwrap().node_ids().collect();
    assert_eq!(node_ids, vec![(8, 0), (8, 1)]);

    let fetches = std::cell::Cell::new(0);
    let reader = TileHashReader::new(size, |p: &TilePath| {
        fetches.set(fetches.get() + 1);
        store.get(p).cloned().ok_or(Error::TileUnavailable {
            path: p.to_string(),
        })
    });
    assert_eq!(tree_root(&reader, size).unwrap(), t.root());
    for idx in [0, 1, 255, 256, 300, 511, 512, size - 1] {
        let p = inclusion_proof(&reader, idx, size).unwrap();
        assert_eq!(p, inclusion_proof(&t, idx, size).unwrap());
        verify_inclusion(idx, size, &leaves[idx as usize], &p, &t.root()).unwrap();
    }
    for m in [1, 100, 256, 257, 512, 513] {
        assert_eq!(
            consistency_proof(&reader, m, size).unwrap(),
            consistency_proof(&t, m, size).unwrap()
        );
    }
    assert!(fetches.get() <= tiles.len(), "tiles are cached");
    assert!(matches!(
        reader.read_node(0, size),
        Err(Error::OutOfRange { .. })
    ));
    // Wrong-length tile.
    let short = TileHashReader::new(size, |_: &TilePath| Ok(vec![0u8; 31]));
    assert!(matches!(
        short.read_node(0, 0),
        Err(Error::MalformedTile { .. })
    ));
    assert_eq!(tile_for_hash(size, 0, 520), TilePath::hashes(0, 2, 70).ok());
    assert_eq!(bundle_for_leaf(size, 3), TilePath::entries(0, 256).ok());
    assert_eq!(bundle_for_leaf(size, size), None);
}

#[test]
fn entry_bundles() {
    let entries: Vec<Vec<u8>> = vec![b"".to_vec(), b"a".to_vec(), vec![7u8; 300]];
    let b = encode_entry_bundle(&entries).unwrap();
    assert_eq!(&b[..5], &[0, 0, 0, 1, b'a']);
    assert_eq!(decode_entry_bundle(&b).unwrap(), entries);
    let full: Vec<Vec<u8>> = (0..256u16).map(|i| i.to_be_bytes().to_vec()).collect();
    let fb = encode_entry_bundle(&full).unwrap();
    assert_eq!(decode_entry_bundle(&fb).unwrap().len(), 256);
    let bad: Vec<(Vec<u8>, &str)> = vec![
        (vec![], "empty"),
        (vec![0], "truncated length"),
        (vec![0, 2, 1], "truncated entry"),
        ([b.as_slice(), &[0]].concat(), "trailing byte"),
        ([fb.as_slice(), &[0, 0]].concat(), "257 entries"),
    ];
    for (d, why) in bad {
        assert!(decode_entry_bundle(&d).is_err(), "{why}");
    }
    assert!(encode_entry_bundle::<Vec<u8>>(&[]).is_err());
    assert!(encode_entry_bundle(&[vec![0u8; 65536]]).is_err());
    let too_many: Vec<Vec<u8>> = vec![vec![]; 257];
    assert!(encode_entry_bundle(&too_many).is_err());
}

// ---- tlog-proof ----

fn proof_fixture() -> (SignerKey, Vec<Cosigner>, MemoryTree, TlogProof) {
    let log = key("example.com/fancylog", SignatureType::Ed25519, 1);
    let ws: Vec<Cosigner> = (1..=3)
        .map(|i| {
            Cosigner::new(key(
                &format!("witness{i}.example"),
                SignatureType::CosignatureV1,
                10 + i,
            ))
            .unwrap()
        })
        .collect();
    let t = tree(100);
    let mut note = Checkpoint::new("example.com/fancylog", 100, t.root())
        .sign(&log)
        .unwrap();
    for w in &ws {
        note.cosign(w, 1_700_000_000).unwrap();
    }
    let p = TlogProof::new(
        Some(b"age-v1.2.1-darwin-arm64.tar.gz".to_vec()),
        73,
        inclusion_proof(&t, 73, 100).unwrap(),
        note,
    )
    .unwrap();
    (log, ws, t, p)
}

#[test]
fn tlog_proof_constructed_spec_equivalent() {
    let (log, ws, _t, p) = proof_fixture();
    let text = p.to_string();
    // Same shape as the spec example: header, extra, index, hashes, blank
    // line, checkpoint with log signature and three cosignatures.
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "c2sp.org/tlog-proof@v1");
    assert!(lines[1].starts_with("extra "));
    assert_eq!(lines[2], "index 73");
    assert_eq!(lines[3 + p.proof().len()], "");
    assert_eq!(lines[4 + p.proof().len()], "example.com/fancylog");
    assert_eq!(text.matches('\u{2014}').count(), 4);
    let parsed = TlogProof::parse(text.as_bytes()).unwrap();
    assert_eq!(parsed, p);
    assert_eq!(parsed.to_string(), text);

    let leaf = leaf_hash(&73u64.to_be_bytes());
    let wv = Verifiers::from_keys(ws.iter().map(Cosigner::verifier));
    let v = parsed.verify(&leaf, &log.verifier(), &wv).unwrap();
    assert_eq!(v.witness_names().len(), 3);
    assert_eq!(v.checkpoint.size, 100);
    // Only two witnesses known.
    let two = Verifiers::from_keys(ws[..2].iter().map(Cosigner::verifier));
    assert_eq!(
        parsed
            .verify(&leaf, &log.verifier(), &two)
            .unwrap()
            .witness_names()
            .len(),
        2
    );
    // Wrong leaf, wrong index.
    assert!(matches!(
        parsed.verify(&leaf_hash(b"x"), &log.verifier(), &wv),
        Err(Error::Proof(ProofError::Inclusion))
    ));
    let moved = text.replace("index 73", "index 72");
    assert!(TlogProof::parse(moved.as_bytes())
        .unwrap()
        .verify(&leaf, &log.verifier(), &wv)
        .is_err());
}

#[test]
fn tlog_proof_table() {
    let (_, _, _, p) = proof_fixture();
    let text = p.to_string();
    let (head, note) = text.split_once("\n\n").unwrap();
    let no_extra: String = head
        .lines()
        .filter(|l| !l.starts_with("extra"))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        + "\n"
        + note;
    let parsed = TlogProof::parse(no_extra.as_bytes()).unwrap();
    assert_eq!(parsed.extra(), None);
    assert_eq!(parsed.to_string(), no_extra);
    let no_hashes = format!("c2sp.org/tlog-proof@v1\nindex 0\n\n{note}");
    assert!(TlogProof::parse(no_hashes.as_bytes()).is_ok());
    let h = "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=";
    let bad = [
        format!("c2sp.org/tlog-proof@v2\nindex 0\n\n{note}"),
        format!("c2sp.org/tlog-proof@v1 \nindex 0\n\n{note}"),
        format!("index 0\n\n{note}"),
        format!("c2sp.org/tlog-proof@v1\nindex 01\n\n{note}"),
        format!("c2sp.org/tlog-proof@v1\nindex -1\n\n{note}"),
        format!("c2sp.org/tlog-proof@v1\nindex  1\n\n{note}"),
        format!("c2sp.org/tlog-proof@v1\n\n{note}"),
        format!("c2sp.org/tlog-proof@v1\nextra \nindex 0\n\n{note}"),
        format!("c2sp.org/tlog-proof@v1\nextra !!\nindex 0\n\n{note}"),
        format!("c2sp.org/tlog-proof@v1\nindex 0\nextra YQ==\n\n{note}"),
        format!("c2sp.org/tlog-proof@v1\nindex 0\n{}\n\n{note}", &h[1..]),
        format!("c2sp.org/tlog-proof@v1\nindex 0\nAAAA\n\n{note}"),
        format!("c2sp.org/tlog-proof@v1\nindex 0\n{h}\n"),
        format!(
            "c2sp.org/tlog-proof@v1\nindex 0\n\n{}",
            note.replace("100\n", "0100\n")
        ),
        format!(
            "c2sp.org/tlog-proof@v1\nindex 0\n{}\n{note}",
            format!("{h}\n").repeat(65)
        ),
    ];
    for (i, s) in bad.iter().enumerate() {
        assert!(TlogProof::parse(s.as_bytes()).is_err(), "bad case {i}");
    }
}

// ---- tlog-witness ----

#[test]
fn witness_request_spec_example() {
    let body = "old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\njrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\u{2014} example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n";
    let r = AddCheckpointRequest::parse(body.as_bytes()).unwrap();
    assert_eq!(r.old_size(), 20852014);
    assert_eq!(r.proof().len(), 4);
    assert_eq!(r.checkpoint().size, 20852163);
    assert_eq!(r.note().signatures().len(), 2);
    assert_eq!(r.to_string(), body);

    let resp = "\u{2014} witness.example/w1 CMp+6LWBU0anHGH5aNDTJkH/gj79sG+T6+iP2ThYN5krrDJbR1HDnucjL39QsZTSvVjyQLrdk3DXDqI5G2HgLatVs0pWh6Up69HVOw==\n\u{2014} witness.example/w1 I7rEps0pvK2UqkS2gSpVUDhrhVtQV9lgF6pRrWAvjJHjyWpW7VcE3SiOlVlbQNt64vWhO+DlkL0+UfzuOBMh9ChdMkP1vi/lCAsmlw==\n\u{2014} witness.example/w2 AWui8Sk55XjYLOijihBjhqEH6nS1ndDymE0a+6idX7pLcnoB+dhnz0854aLZgrrKbYKA7nC3HNJhm/kWl7oJlqU3rXXvpysAdyP3wQ==\n";
    let sigs = parse_add_checkpoint_response(resp.as_bytes()).unwrap();
    assert_eq!(sigs.len(), 3);
    assert!(sigs.iter().all(|s| s.bytes().len() == 72));
    assert_eq!(format_add_checkpoint_response(&sigs), resp);

    // Bad bodies.
    let (head, rest) = body.split_once("\n\n").unwrap();
    let bad = [
        body.replacen("old 20852014", "old 020852014", 1),
        body.replacen("old 20852014", "old", 1),
        body.replacen("old 20852014", "new 1", 1),
        body.replacen("old ", "old  ", 1),
        format!("{head}\n{rest}"),
        format!("{head}\nAAAA\n\n{rest}"),
        format!(
            "old 0\n{}\n{rest}",
            "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n".repeat(64)
        ),
        format!("{head}\n\nnot a checkpoint\n\n\u{2014} a AAAAAAA=\n"),
        head.to_owned(),
    ];
    for (i, b) in bad.iter().enumerate() {
        assert!(
            AddCheckpointRequest::parse(b.as_bytes()).is_err(),
            "bad case {i}"
        );
    }
    assert!(AddCheckpointRequest::parse(
        format!(
            "old 0\n{}\n{rest}",
            "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n".repeat(63)
        )
        .as_bytes()
    )
    .is_ok());
    for b in [
        "",
        "\n",
        "\u{2014} a AAAAAAA=",
        "\u{2014} a AAAAAAA=\n\n",
        "x\n",
    ] {
        assert!(
            parse_add_checkpoint_response(b.as_bytes()).is_err(),
            "{b:?}"
        );
    }
}

#[test]
fn witness_flow_with_real_keys() {
    let log = key("example.com/log", SignatureType::Ed25519, 1);
    let w = Cosigner::new(key("witness.example/w1", SignatureType::CosignatureV1, 2)).unwrap();
    let t = tree(20);
    let note = Checkpoint::new("example.com/log", 20, t.root())
        .sign(&log)
        .unwrap();
    let req = AddCheckpointRequest::new(8, consistency_proof(&t, 8, 20).unwrap(), note).unwrap();
    let req = AddCheckpointRequest::parse(&req.to_bytes()).unwrap();
    verify_consistency(8, 20, req.proof(), &tree(8).root(), &req.checkpoint().root).unwrap();
    let body = format_add_checkpoint_response(&[w.cosign(req.note().text(), 99).unwrap()]);
    let mut n = req.note().clone();
    for s in parse_add_checkpoint_response(body.as_bytes()).unwrap() {
        n.add_signature(s);
    }
    let o = open_checkpoint(
        &n.to_bytes(),
        &log.verifier(),
        &Verifiers::from_keys([w.verifier()]),
    )
    .unwrap();
    assert_eq!(o.cosignatures[0].timestamp(), Some(99));
}

#[test]
fn tree_size_body() {
    assert_eq!(format_tree_size(20852163), "20852163\n");
    assert_eq!(parse_tree_size(b"20852163\n").unwrap(), 20852163);
    assert_eq!(parse_tree_size(b"0\n").unwrap(), 0);
    assert_eq!(TREE_SIZE_CONTENT_TYPE, "text/x.tlog.size");
    for b in [
        &b""[..],
        b"\n",
        b"12",
        b"012\n",
        b"12\n\n",
        b" 12\n",
        b"1a\n",
        b"18446744073709551616\n",
    ] {
        assert!(parse_tree_size(b).is_err(), "{b:?}");
    }
}

// ---- tlog-policy ----

fn policy_keys() -> (String, Vec<String>) {
    let log = key("example.com/log", SignatureType::Ed25519, 1)
        .verifier()
        .to_string();
    let ws = (0..8)
        .map(|i| {
            key(
                &format!("w{i}.example"),
                SignatureType::CosignatureV1,
                20 + i,
            )
            .verifier()
            .to_string()
        })
        .collect();
    (log, ws)
}

fn names(n: &[&str]) -> BTreeSet<String> {
    n.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn policy_spec_example() {
    let (log, w) = policy_keys();
    let text = format!(
        "log {log}\n\nwitness X1 {}\nwitness X2 {}\nwitness X3 {}\ngroup X-witnesses 2 X1 X2 X3\n\nwitness Y1 {}\nwitness Y2 {}\nwitness Y3 {}\ngroup Y-witnesses any Y1 Y2 Y3\n\ngroup X-and-Y all X-witnesses Y-witnesses\nquorum X-and-Y\n",
        w[0], w[1], w[2], w[3], w[4], w[5]
    );
    let p = Policy::parse(text.as_bytes()).unwrap();
    assert_eq!(p.logs().len(), 1);
    assert_eq!(p.witnesses().len(), 6);
    assert_eq!(p.groups().len(), 3);
    assert_eq!(p.quorum(), &Quorum::Name("X-and-Y".to_owned()));
    assert!(p.check_quorum(&names(&["X1", "X3", "Y2"])));
    assert!(!p.check_quorum(&names(&["X1", "Y2"])));
    assert!(!p.check_quorum(&names(&["X1", "X2", "X3"])));
    assert!(!p.check_quorum(&names(&[])));
    assert!(p.log_for_origin("example.com/log").is_some());
    assert_eq!(Policy::parse(p.to_string().as_bytes()).unwrap(), p);
}

#[test]
fn policy_table() {
    let (log, w) = policy_keys();
    let w0 = &w[0];
    let w1 = &w[1];
    let ok = [
        "quorum none\n".to_owned(),
        "quorum none".to_owned(),
        format!("  # comment é\n\t\nlog {log} https://log.example/\nwitness A {w0} https://w.example/\nquorum A\n"),
        format!("witness A\t{w0}\t\nwitness B {w1}\ngroup G 1 A B\nquorum G\n"),
        format!("witness A {w0}\nquorum none\n"),
    ];
    for s in &ok {
        let p = Policy::parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(Policy::parse(p.to_string().as_bytes()).unwrap(), p);
    }
    let bad = [
        ("".to_owned(), "no quorum"),
        ("quorum none\nquorum none\n".to_owned(), "two quorums"),
        ("quorum X\n".to_owned(), "undefined quorum"),
        (
            format!("quorum A\nwitness A {w0}\n"),
            "quorum before definition",
        ),
        (
            format!("witness A {w0}\nwitness A {w1}\nquorum A\n"),
            "duplicate name",
        ),
        (format!("witness none {w0}\nquorum none\n"), "reserved name"),
        (
            format!("witness A {w0}\nwitness B {w0}\nquorum A\n"),
            "duplicate witness key",
        ),
        (
            format!("log {log}\nlog {log}\nquorum none\n"),
            "duplicate log key",
        ),
        (
            format!("log {w0}\nquorum none\n"),
            "log with cosignature key",
        ),
        (
            format!("witness A {log}\nquorum A\n"),
            "witness with log key",
        ),
        (format!("witness A {w0}\ngroup G 2 A\nquorum G\n"), "k > n"),
        (format!("witness A {w0}\ngroup G 0 A\nquorum G\n"), "k = 0"),
        (
            format!("witness A {w0}\ngroup G 01 A\nquorum G\n"),
            "k leading zero",
        ),
        (
            format!("witness A {w0}\ngroup G some A\nquorum G\n"),
            "k word",
        ),
        (
            format!("witness A {w0}\ngroup G any\nquorum G\n"),
            "no members",
        ),
        (
            format!("witness A {w0}\ngroup G any A A\nquorum G\n"),
            "member twice",
        ),
        (
            format!("witness A {w0}\ngroup G any A\ngroup H any A\nquorum H\n"),
            "member in two groups",
        ),
        (
            format!("witness A {w0}\ngroup G any B\nquorum G\n"),
            "undefined member",
        ),
        (
            format!("witness A {w0}\ngroup G any none\nquorum G\n"),
            "none as member",
        ),
        (
            format!("witness A {w0}\ngroup G any G\nquorum G\n"),
            "self reference",
        ),
        ("quorum none\x0b\n".to_owned(), "vertical tab"),
        ("quorum none\r\n".to_owned(), "CRLF"),
        ("quorum none\n\x7f\n".to_owned(), "DEL"),
        ("quorum none extra\n".to_owned(), "quorum arity"),
        (format!("log {log} url extra\nquorum none\n"), "log arity"),
        (
            format!("witness A {w0} url extra\nquorum none\n"),
            "witness arity",
        ),
        ("log notakey\nquorum none\n".to_owned(), "bad vkey"),
        ("publisher x\nquorum none\n".to_owned(), "unknown keyword"),
    ];
    for (s, why) in &bad {
        assert!(Policy::parse(s.as_bytes()).is_err(), "{why}");
    }
}

#[test]
fn policy_extensions_and_limits() {
    let (log, w) = policy_keys();
    let text = format!(
        "publisher {log}\nmax-age 86400\nwitness A {}\nquorum A\n",
        w[0]
    );
    let (p, ext) = Policy::parse_with_extensions(text.as_bytes()).unwrap();
    assert_eq!(ext.len(), 2);
    assert_eq!(ext[0].keyword, "publisher");
    assert_eq!(ext[0].args, vec![log.clone()]);
    assert_eq!(ext[1].line, 2);
    assert_eq!(ext[1].args, vec!["86400".to_owned()]);
    assert!(p.check_quorum(&names(&["A"])));

    // 32 logs, 32 witnesses, 32 groups.
    let mut s = String::new();
    for i in 0..32u8 {
        let l = key(&format!("log{i}.example"), SignatureType::Ed25519, 100 + i).verifier();
        let wk = key(
            &format!("w{i}.example"),
            SignatureType::CosignatureV1,
            200 - i,
        )
        .verifier();
        s += &format!("log {l}\nwitness W{i} {wk}\ngroup G{i} any W{i}\n");
    }
    s += &format!(
        "group ALL 17 {}\nquorum ALL\n",
        (0..32)
            .map(|i| format!("G{i}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let p = Policy::parse(s.as_bytes()).unwrap();
    assert_eq!(
        (p.logs().len(), p.witnesses().len(), p.groups().len()),
        (32, 32, 33)
    );
    let sixteen: BTreeSet<String> = (0..16).map(|i| format!("W{i}")).collect();
    let seventeen: BTreeSet<String> = (0..17).map(|i| format!("W{i}")).collect();
    assert!(!p.check_quorum(&sixteen));
    assert!(p.check_quorum(&seventeen));
}

#[test]
fn policy_with_verified_cosignatures() {
    let log = key("example.com/log", SignatureType::Ed25519, 1);
    let w: Vec<Cosigner> = (0..3)
        .map(|i| {
            Cosigner::new(key(
                &format!("w{i}.example"),
                SignatureType::CosignatureV1,
                50 + i,
            ))
            .unwrap()
        })
        .collect();
    let text = format!(
        "log {}\nwitness A {}\nwitness B {}\nwitness C {}\ngroup G 2 A B C\nquorum G\n",
        log.verifier(),
        w[0].verifier(),
        w[1].verifier(),
        w[2].verifier()
    );
    let p = Policy::parse(text.as_bytes()).unwrap();
    let t = tree(5);
    let mut note = Checkpoint::new("example.com/log", 5, t.root())
        .sign(&log)
        .unwrap();
    note.cosign(&w[0], 1).unwrap();
    let lk = &p.log_for_origin("example.com/log").unwrap().key;
    let o = open_checkpoint(&note.to_bytes(), lk, &p.witness_verifiers()).unwrap();
    assert!(!p.check_quorum(&p.witness_names_for(&o.cosignatures)));
    note.cosign(&w[2], 2).unwrap();
    let o = open_checkpoint(&note.to_bytes(), lk, &p.witness_verifiers()).unwrap();
    assert_eq!(p.witness_names_for(&o.cosignatures), names(&["A", "C"]));
    assert!(p.check_quorum(&p.witness_names_for(&o.cosignatures)));
}

// ---- fuzz bodies, run over seeded random and mutated inputs ----

fn mutate(rng: &mut StdRng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..rng.gen_range(0..4) {
        match rng.gen_range(0..4) {
            0 if !v.is_empty() => {
                let i = rng.gen_range(0..v.len());
                v[i] = rng.gen();
            }
            1 if !v.is_empty() => {
                let i = rng.gen_range(0..v.len());
                v.remove(i);
            }
            2 => {
                let i = rng.gen_range(0..=v.len());
                let b = *b"\n x0+/=\xe2\x80\x94.p"
                    .get(rng.gen_range(0..14))
                    .unwrap_or(&b'\n');
                v.insert(i, b);
            }
            _ => {
                let i = rng.gen_range(0..=v.len());
                v.truncate(i);
            }
        }
    }
    v
}

#[test]
fn fuzz_bodies_round_trip() {
    let (_, _, _, proof) = proof_fixture();
    let (log, w) = policy_keys();
    let t = tree(20);
    let lk = key("example.com/log", SignatureType::Ed25519, 1);
    let note = Checkpoint::new("example.com/log", 20, t.root())
        .sign(&lk)
        .unwrap();
    let req = AddCheckpointRequest::new(8, consistency_proof(&t, 8, 20).unwrap(), note.clone())
        .unwrap()
        .to_bytes();
    let policy = format!(
        "log {log}\nwitness A {}\nwitness B {}\ngroup G any A B\nquorum G\n",
        w[0], w[1]
    );
    type Body<'a> = &'a dyn Fn(&[u8]);
    let corpora: [(Body, Vec<Vec<u8>>); 6] = [
        (
            &fuzz_bodies::note,
            vec![note.to_bytes(), CP_NOTE.as_bytes().to_vec()],
        ),
        (
            &fuzz_bodies::checkpoint,
            vec![CP_TEXT.as_bytes().to_vec(), note.text().as_bytes().to_vec()],
        ),
        (
            &fuzz_bodies::tile_path,
            vec![
                b"tile/0/x001/x234/067.p/8".to_vec(),
                b"tile/entries/000".to_vec(),
            ],
        ),
        (&fuzz_bodies::tlog_proof, vec![proof.to_bytes()]),
        (&fuzz_bodies::witness_request, vec![req, b"12\n".to_vec()]),
        (
            &fuzz_bodies::policy,
            vec![policy.into_bytes(), b"quorum none\n".to_vec()],
        ),
    ];
    let mut rng = StdRng::seed_from_u64(0x5eed);
    for (body, seeds) in corpora {
        for s in &seeds {
            body(s);
        }
        for _ in 0..3000 {
            let s = &seeds[rng.gen_range(0..seeds.len())];
            body(&mutate(&mut rng, s));
        }
        for _ in 0..500 {
            let n = rng.gen_range(0..64);
            let v: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
            body(&v);
        }
    }
}
