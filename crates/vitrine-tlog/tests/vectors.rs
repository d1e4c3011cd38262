//! RFC 6962 proof vectors from transparency-dev/merkle (see the README next
//! to them), kept in `tests/vectors/rfc6962-proofs/` with their licence.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;
use vitrine_tlog::{verify_consistency, verify_inclusion, Hash};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/rfc6962-proofs")
}

fn walk(p: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(p).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

fn bytes(v: &Value) -> Vec<u8> {
    STANDARD.decode(v.as_str().unwrap_or("")).unwrap()
}

fn hash(v: &Value) -> Option<Hash> {
    bytes(v).try_into().ok()
}

/// Proof hashes; `None` if any is not 32 bytes (unrepresentable, so rejected).
fn proof(v: &Value) -> Option<Vec<Hash>> {
    match v {
        Value::Null => Some(vec![]),
        Value::Array(a) => a.iter().map(hash).collect(),
        _ => panic!("bad proof"),
    }
}

#[test]
fn all_rfc6962_vectors() {
    let mut files = Vec::new();
    walk(&dir(), &mut files);
    files.sort();
    // `find tests/vectors/rfc6962-proofs -name '*.json' | wc -l` is 196.
    assert_eq!(files.len(), 196);
    let (mut good, mut bad) = (0, 0);
    for f in &files {
        let v: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        let want_err = v["wantErr"].as_bool().unwrap();
        let is_inclusion = f.components().any(|c| c.as_os_str() == "inclusion");
        let ok = if is_inclusion {
            let idx = v["leafIdx"].as_u64().unwrap();
            let size = v["treeSize"].as_u64().unwrap();
            match (hash(&v["leafHash"]), proof(&v["proof"])) {
                (Some(leaf), Some(p)) => {
                    verify_inclusion(idx, size, &leaf, &p, &bytes(&v["root"])).is_ok()
                }
                _ => false,
            }
        } else {
            let s1 = v["size1"].as_u64().unwrap();
            let s2 = v["size2"].as_u64().unwrap();
            match proof(&v["proof"]) {
                Some(p) => {
                    verify_consistency(s1, s2, &p, &bytes(&v["root1"]), &bytes(&v["root2"])).is_ok()
                }
                None => false,
            }
        };
        assert_eq!(ok, !want_err, "{}: {}", f.display(), v["desc"]);
        if want_err {
            bad += 1
        } else {
            good += 1
        }
    }
    assert_eq!((good, bad), (12, 184));
}
