//! Integration tests for vitrine-note: spec worked examples, good/bad
//! tables, and an independent cosignature check.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _};
use sha2::{Digest as _, Sha256};
use vitrine_note::{
    cosignature_message, key_id, Cosigner, Error, Limits, Note, SignatureType, SignerKey,
    VerificationError, VerifierKey, Verifiers,
};

const EXAMPLE_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const EXAMPLE_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
const QUASIMODO: &str = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n\u{2014} quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
const CHECKPOINT_TEXT: &str =
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const LOG_SIG: &str = "\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
const WITNESS_SIG: &str = "\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";

fn signer(name: &str, kind: SignatureType, seed: u8) -> SignerKey {
    SignerKey::from_seed(name, kind, [seed; 32]).expect("valid test key")
}

#[test]
fn spec_example_vkey_verifies_example_note() {
    let vkey: VerifierKey = EXAMPLE_VKEY.parse().unwrap();
    assert_eq!(vkey.name(), "example.com/foo");
    assert_eq!(vkey.key_id(), 0x530d903a);
    assert_eq!(vkey.signature_type(), SignatureType::Ed25519);
    assert_eq!(vkey.to_string(), EXAMPLE_VKEY);
    let note = Note::parse(EXAMPLE_NOTE.as_bytes()).unwrap();
    let v = note.verify(&Verifiers::from_keys([vkey])).unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].timestamp(), None);
    assert_eq!(note.to_bytes(), EXAMPLE_NOTE.as_bytes());
}

#[test]
fn spec_quasimodo_parses_and_round_trips() {
    let note = Note::parse(QUASIMODO.as_bytes()).unwrap();
    assert_eq!(
        note.text(),
        "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
    );
    assert_eq!(note.signatures().len(), 1);
    assert_eq!(note.signatures()[0].name(), "quasimodo.example/salvatore");
    assert_eq!(note.signatures()[0].bytes().len(), 64);
    assert_eq!(note.to_string(), QUASIMODO);
}

#[test]
fn spec_checkpoint_and_cosignature_examples_parse() {
    let s = format!("{CHECKPOINT_TEXT}\n{LOG_SIG}{WITNESS_SIG}");
    let note = Note::parse(s.as_bytes()).unwrap();
    assert_eq!(note.text(), CHECKPOINT_TEXT);
    let sigs = note.signatures();
    assert_eq!(sigs.len(), 2);
    assert_eq!(sigs[0].name(), "example.com/behind-the-sofa");
    assert_eq!(sigs[0].bytes().len(), 64);
    assert_eq!(sigs[1].name(), "witness.example.com/w1");
    assert_eq!(sigs[1].key_id(), 0x8d66cf3f);
    assert_eq!(sigs[1].bytes().len(), 72);
    // The time in tlog-cosignature §Signed message.
    assert_eq!(sigs[1].cosignature_timestamp(), Some(1679315147));
    assert_eq!(sigs[0].cosignature_timestamp(), None);
    assert_eq!(note.to_string(), s);
}

#[test]
fn go_sumdb_example_signer_key() {
    // From the golang.org/x/mod/sumdb/note package documentation.
    let skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    let k = SignerKey::parse(skey).unwrap();
    assert_eq!(k.verifier().to_string(), vkey);
    assert_eq!(k.to_private_text(), skey);
    assert!(!format!("{k:?}").contains("AYEK"));
}

#[test]
fn key_text_forms_round_trip_for_both_types() {
    for kind in [SignatureType::Ed25519, SignatureType::CosignatureV1] {
        let k = SignerKey::generate("example.com/k", kind).unwrap();
        let again = SignerKey::parse(&k.to_private_text()).unwrap();
        assert_eq!(again.verifier(), k.verifier());
        let v: VerifierKey = k.verifier().to_string().parse().unwrap();
        assert_eq!(v, k.verifier());
        assert_eq!(v.signature_type(), kind);
        assert_eq!(
            v.key_id(),
            key_id("example.com/k", kind.byte(), v.public_key().as_bytes())
        );
    }
    let a = signer("n", SignatureType::Ed25519, 1).verifier();
    let b = signer("n", SignatureType::CosignatureV1, 1).verifier();
    assert_ne!(a.key_id(), b.key_id(), "type byte separates key IDs");
}

#[test]
fn bad_verifier_keys() {
    let good = signer("example.com/x", SignatureType::Ed25519, 3)
        .verifier()
        .to_string();
    let (name, rest) = good.split_once('+').unwrap();
    let (id, key) = rest.split_once('+').unwrap();
    let upper = format!("{name}+{}+{key}", id.to_uppercase());
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "empty"),
        (format!("{name}+{id}"), "two parts"),
        (format!("{name}+{id}+{key}+"), "trailing plus"),
        (format!("+{id}+{key}"), "empty name"),
        (format!("a b+{id}+{key}"), "space in name"),
        (format!("{name}+{}+{key}", &id[..7]), "short id"),
        (upper, "uppercase hex"),
        (format!("{name}+00000000+{key}"), "wrong id"),
        (format!("{name}+{id}+{}", &key[1..]), "bad base64"),
        (
            format!("{name}+{id}+{}", STANDARD.encode([0x02; 33])),
            "ecdsa type",
        ),
        (
            format!("{name}+{id}+{}", STANDARD.encode([0x01; 32])),
            "short key",
        ),
        (format!("{name}+{id}+AA=="), "type only... 1 byte"),
    ];
    for (s, why) in cases {
        assert!(s.parse::<VerifierKey>().is_err(), "{why}: {s}");
    }
    assert!(matches!(
        format!("{name}+00000000+{key}").parse::<VerifierKey>(),
        Err(Error::KeyIdMismatch { .. })
    ));
}

#[test]
fn bad_signer_keys() {
    let good = signer("example.com/x", SignatureType::Ed25519, 3).to_private_text();
    let cases = [
        good.replace("PRIVATE+KEY+", ""),
        good.replace("PRIVATE+KEY+", "PRIVATE+KEY+a+"),
        good.replace("example.com/x", "example.com/y"),
        format!("{}A", &good[..good.len() - 1]),
        "PRIVATE+KEY+x+00000000+AQ==".to_owned(),
    ];
    for s in cases {
        let e = SignerKey::parse(&s).unwrap_err();
        // Errors never echo key material.
        assert!(!e.to_string().contains(&good[good.len() - 20..]), "{e}");
    }
}

fn signed(text: &str, keys: &[&SignerKey]) -> String {
    let mut n = Note::new(text).unwrap();
    for k in keys {
        n.sign(k).unwrap();
    }
    n.to_string()
}

#[test]
fn parse_table() {
    let k = signer("example.com/k", SignatureType::Ed25519, 7);
    let good = signed("hello\n", &[&k]);
    let sig_line = good.split_once("\n\n").unwrap().1.to_owned();
    let many = |n: usize| format!("hello\n\n{}", sig_line.repeat(n));
    let ok: Vec<(String, &str)> = vec![
        (good.clone(), "simple"),
        (format!("a\n\nb\n\n{sig_line}"), "blank lines in text"),
        (format!("\n\n{sig_line}"), "text is a lone newline"),
        (many(16), "16 signatures"),
        (many(100), "100 signatures"),
        (format!("héllo wörld\n\n{sig_line}"), "utf-8"),
        (
            format!("hello\n\n{sig_line}\u{2014} other AAAAAAAAAAA=\n"),
            "unknown sig",
        ),
    ];
    for (s, why) in &ok {
        let n = Note::parse(s.as_bytes()).unwrap_or_else(|e| panic!("{why}: {e}"));
        assert_eq!(n.to_string(), *s, "{why}: round trip");
    }
    let bad: Vec<(Vec<u8>, &str)> = vec![
        (b"hello\n".to_vec(), "no signatures"),
        (b"hello\n\n".to_vec(), "blank line but no sigs"),
        (
            good.trim_end().as_bytes().to_vec(),
            "sig line without newline",
        ),
        (
            good.replace("\n\n", "\n").into_bytes(),
            "missing blank line",
        ),
        (format!("hel\tlo\n\n{sig_line}").into_bytes(), "tab"),
        (
            format!("hel\rlo\n\n{sig_line}").into_bytes(),
            "carriage return",
        ),
        (
            format!("hello\n\n{sig_line}")
                .replace("\n\u{2014}", "\n\u{0}\u{2014}")
                .into_bytes(),
            "NUL",
        ),
        (
            [b"hel\xfflo\n\n".as_slice(), sig_line.as_bytes()].concat(),
            "invalid utf-8",
        ),
        (
            format!("hello\n\n{}", sig_line.replace('=', "")).into_bytes(),
            "unpadded base64",
        ),
        (
            format!(
                "hello\n\n{}",
                sig_line.replace("example.com/k ", "example.com/k  ")
            )
            .into_bytes(),
            "double space",
        ),
        (
            format!("hello\n\n{}", sig_line.replace("\u{2014} ", "- ")).into_bytes(),
            "hyphen not em dash",
        ),
        (
            format!("hello\n\n{}", sig_line.replace("\u{2014} ", "\u{2014}")).into_bytes(),
            "no space after dash",
        ),
        (
            format!("hello\n\n{}", sig_line.replace("example.com/k", "")).into_bytes(),
            "empty name",
        ),
        (
            format!("hello\n\n{}", sig_line.replace("example.com/k", "a+b")).into_bytes(),
            "name with plus",
        ),
        (
            format!("hello\n\n{}", sig_line.replace("example.com/k", "a\u{a0}b")).into_bytes(),
            "name with nbsp",
        ),
        (
            "hello\n\n\u{2014} k AAAAAA==\n".as_bytes().to_vec(),
            "sig too short (4 bytes)",
        ),
        (
            format!("hello\n\n{sig_line}\n").into_bytes(),
            "trailing blank line",
        ),
        (
            format!("hello\n\n{sig_line}trailing").into_bytes(),
            "trailing junk",
        ),
        (many(101).into_bytes(), "101 signatures"),
    ];
    for (s, why) in &bad {
        assert!(Note::parse(s).is_err(), "{why} should fail");
    }
    assert!(matches!(
        Note::parse(many(101).as_bytes()),
        Err(Error::TooManySignatures { max: 100 })
    ));
    let big = format!("{}\n\n{sig_line}", "a".repeat(1 << 20));
    assert!(matches!(
        Note::parse(big.as_bytes()),
        Err(Error::NoteTooLarge { .. })
    ));
    let limits = Limits::default().max_size(2 << 20).max_signatures(3);
    assert!(Note::parse_with_limits(big.as_bytes(), &limits).is_ok());
    // The configured minimum is clamped to the spec's 16.
    assert!(Note::parse_with_limits(many(16).as_bytes(), &limits).is_ok());
    assert!(Note::parse_with_limits(many(17).as_bytes(), &limits).is_err());
}

#[test]
fn verification_rules() {
    let k = signer("example.com/k", SignatureType::Ed25519, 7);
    let other = signer("example.com/other", SignatureType::Ed25519, 8);
    // Same name, different key: shares the name but not the ID.
    let imposter = signer("example.com/k", SignatureType::Ed25519, 9);
    let vs = Verifiers::from_keys([k.verifier()]);

    // Unknown keys are ignored.
    let s = signed("hi\n", &[&other, &imposter, &k]);
    let v = Note::parse(s.as_bytes()).unwrap().verify(&vs).unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].key(), &k.verifier());

    // No known key.
    let s = signed("hi\n", &[&other, &imposter]);
    assert_eq!(
        Note::parse(s.as_bytes()).unwrap().verify(&vs),
        Err(Error::Verification(VerificationError::NoKnownSignature))
    );
    assert_eq!(
        Note::parse(s.as_bytes()).unwrap().verify_known(&vs),
        Ok(vec![])
    );

    // A known key's bad signature rejects the note even if another verifies.
    let good = signed("hi\n", &[&k]);
    let forged = signed("bye\n", &[&k]);
    let forged_line = forged.split_once("\n\n").unwrap().1;
    let s = format!("{good}{forged_line}");
    let both = Verifiers::from_keys([k.verifier(), other.verifier()]);
    assert!(matches!(
        Note::parse(s.as_bytes()).unwrap().verify(&both),
        Err(Error::Verification(VerificationError::BadSignature { key_id, .. })) if key_id == k.key_id()
    ));

    // Duplicate valid signature lines: accepted, reported once.
    let line = good.split_once("\n\n").unwrap().1;
    let s = format!("{good}{line}");
    assert_eq!(
        Note::parse(s.as_bytes())
            .unwrap()
            .verify(&vs)
            .unwrap()
            .len(),
        1
    );

    // Two known keys both reported.
    let s = signed("hi\n", &[&k, &other]);
    assert_eq!(
        Note::parse(s.as_bytes())
            .unwrap()
            .verify(&both)
            .unwrap()
            .len(),
        2
    );

    // A cosignature key does not verify an Ed25519 signature (different ID).
    let ck = signer("example.com/k", SignatureType::CosignatureV1, 7);
    let s = signed("hi\n", &[&k]);
    assert!(Note::parse(s.as_bytes())
        .unwrap()
        .verify(&Verifiers::from_keys([ck.verifier()]))
        .is_err());
}

#[test]
fn cosignatures_sign_and_verify() {
    let ck = Cosigner::new(signer(
        "witness.example/w1",
        SignatureType::CosignatureV1,
        5,
    ))
    .unwrap();
    assert!(Cosigner::new(signer("w", SignatureType::Ed25519, 5)).is_err());
    assert!(
        ck.key().sign("x\n").is_err(),
        "cosigner keys need a timestamp"
    );
    let log = signer("example.com/behind-the-sofa", SignatureType::Ed25519, 6);
    let mut note = Note::new(CHECKPOINT_TEXT).unwrap();
    note.sign(&log).unwrap();
    note.cosign(&ck, 1679315147).unwrap();
    let parsed = Note::parse(note.to_string().as_bytes()).unwrap();
    assert_eq!(parsed, note);
    let v = parsed
        .verify(&Verifiers::from_keys([ck.verifier()]))
        .unwrap();
    assert_eq!(v[0].timestamp(), Some(1679315147));
    assert_eq!(parsed.signatures()[1].bytes().len(), 72);

    // Max timestamp allowed, one more refused.
    assert!(ck.cosign(CHECKPOINT_TEXT, (1 << 63) - 1).is_ok());
    assert_eq!(
        ck.cosign(CHECKPOINT_TEXT, 1 << 63),
        Err(Error::TimestampOutOfRange { timestamp: 1 << 63 })
    );

    // Altering the timestamp breaks the signature.
    let sig = &parsed.signatures()[1];
    let mut bytes = sig.bytes().to_vec();
    bytes[7] ^= 1;
    let mut tampered = Note::new(CHECKPOINT_TEXT).unwrap();
    tampered.add_signature(vitrine_note::Signature::new(sig.name(), sig.key_id(), bytes).unwrap());
    assert!(tampered
        .verify(&Verifiers::from_keys([ck.verifier()]))
        .is_err());

    // A timestamp >= 2^63 is rejected even with a valid-looking layout.
    let mut bytes = sig.bytes().to_vec();
    bytes[0] = 0x80;
    let mut high = Note::new(CHECKPOINT_TEXT).unwrap();
    high.add_signature(vitrine_note::Signature::new(sig.name(), sig.key_id(), bytes).unwrap());
    assert!(high.verify(&Verifiers::from_keys([ck.verifier()])).is_err());
}

/// Builds the cosigned message and key ID straight from the
/// tlog-cosignature text, without the library's helpers, and checks the
/// library's output with ed25519-dalek directly.
#[test]
fn independent_cosignature_check() {
    let seed = [42u8; 32];
    let sk = SigningKey::from_bytes(&seed);
    let pk = sk.verifying_key();
    let name = "witness.example/independent";

    // Key ID: SHA-256(<name> || "\n" || 0x04 || 32-byte public key)[:4]
    let mut pre = Vec::new();
    pre.extend_from_slice(name.as_bytes());
    pre.push(0x0a);
    pre.push(0x04);
    pre.extend_from_slice(pk.as_bytes());
    let digest = Sha256::digest(&pre);
    let expected_id = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);

    let cosigner =
        Cosigner::new(SignerKey::from_seed(name, SignatureType::CosignatureV1, seed).unwrap())
            .unwrap();
    assert_eq!(cosigner.key().key_id(), expected_id);

    let t: u64 = 1679315147;
    let sig = cosigner.cosign(CHECKPOINT_TEXT, t).unwrap();
    let line = sig.to_line();
    let b64 = line
        .strip_prefix("\u{2014} witness.example/independent ")
        .unwrap()
        .strip_suffix('\n')
        .unwrap();
    let raw = STANDARD.decode(b64).unwrap();
    assert_eq!(raw.len(), 4 + 8 + 64);
    assert_eq!(&raw[..4], &expected_id.to_be_bytes());
    assert_eq!(&raw[4..12], &t.to_be_bytes());

    let msg = "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let edsig = ed25519_dalek::Signature::from_slice(&raw[12..]).unwrap();
    pk.verify(msg.as_bytes(), &edsig).unwrap();
    assert_eq!(cosignature_message(CHECKPOINT_TEXT, t), msg);

    // And the reverse: a signature made by hand verifies through the library.
    let t2: u64 = 1700000000;
    let msg2 = format!("cosignature/v1\ntime {t2}\n{CHECKPOINT_TEXT}");
    let mut raw2 = expected_id.to_be_bytes().to_vec();
    raw2.extend_from_slice(&t2.to_be_bytes());
    raw2.extend_from_slice(&sk.sign(msg2.as_bytes()).to_bytes());
    let note = format!(
        "{CHECKPOINT_TEXT}\n\u{2014} {name} {}\n",
        STANDARD.encode(raw2)
    );
    let v = Note::parse(note.as_bytes())
        .unwrap()
        .verify(&Verifiers::from_keys([cosigner.verifier()]))
        .unwrap();
    assert_eq!(v[0].timestamp(), Some(t2));
}

#[test]
fn key_names() {
    use vitrine_note::validate_key_name;
    for ok in ["a", "example.com/x", "ünïcode", "a/b-c_d"] {
        validate_key_name(ok).unwrap();
    }
    for bad in ["", "a b", "a+b", "a\tb", "a\u{2003}b", "a\u{3000}b", "+"] {
        assert!(validate_key_name(bad).is_err(), "{bad:?}");
    }
}
