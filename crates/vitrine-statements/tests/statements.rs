//! Round trips and a good/bad table for the statement text format.

use vitrine_statements::*;

const H1: &str = "a3f1c2d4e5b60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00";
const H2: &str = "0000000000000000000000000000000000000000000000000000000000000001";

fn sha(s: &str) -> Sha256 {
    Sha256::parse(s).unwrap()
}

fn examples() -> Vec<Statement> {
    vec![
        Statement::Rules(Rules {
            sha256: sha(H1),
            size: 48213,
            version: 42,
            created: 1_767_225_600,
            expires: 1_769_904_000,
            bundle: None,
            allow: Vec::new(),
        }),
        Statement::Rules(Rules {
            sha256: sha(H2),
            size: 7,
            version: 1,
            created: 1_767_225_600,
            expires: 1_769_904_000,
            bundle: Some(Token::new("daily").unwrap()),
            allow: vec![Allow {
                finding: Token::new("VL101:a").unwrap(),
                reason: Text::new("reviewed").unwrap(),
            }],
        }),
        Statement::Release(Release {
            version: Token::new("0.4.0").unwrap(),
            target: Token::new("x86_64-unknown-linux-gnu").unwrap(),
            sha256: sha(H1),
            commit: CommitId::parse("4b825dc642cb6eb9a060e54bf8d69288fbee4904").unwrap(),
            source_sha256: sha(H2),
            lockfile_sha256: sha(H2),
            recipe_sha256: sha(H1),
            toolchain: Token::new("rustc-1.95.0").unwrap(),
        }),
        Statement::Review(Review {
            subject: sha(H1),
            verdict: Verdict::Approve,
            comment: Some(Text::new("no document-targeting rules; strings reviewed").unwrap()),
            report: Some(sha(H2)),
        }),
        Statement::Review(Review {
            subject: sha(H2),
            verdict: Verdict::Reject,
            comment: None,
            report: None,
        }),
        Statement::Receipt(Receipt {
            sample: sha(H1),
            tenant: Token::new("t-5f2a9c").unwrap(),
            policy: Token::new("default-exec-only").unwrap(),
            policy_sha256: sha(H2),
            time: 1_767_225_601,
            endpoint: sha(H2),
            nonce: sha(H1),
            ledger_seq: 6,
            ledger_head: sha(H2),
        }),
        Statement::Access(Access {
            who: Token::new("analyst@vendor.example").unwrap(),
            purpose: Text::new("triage of detection Win.Trojan.Agent-123, ticket 8812").unwrap(),
            tenant: Token::new("t-5f2a9c").unwrap(),
            sample: sha(H1),
            time: 1_767_225_700,
            expires: 1_767_226_300,
            recipient: sha(H2),
        }),
        Statement::Deletion(Deletion {
            tenant: vitrine_statements::Token::new("t-1").unwrap(),
            sample: sha(H1),
            reason: Text::new("retention period of 90 days expired").unwrap(),
            time: 1_775_001_700,
        }),
    ]
}

#[test]
fn every_type_round_trips() {
    let mut kinds = std::collections::BTreeSet::new();
    for st in examples() {
        let text = st.to_text();
        assert_eq!(Statement::parse(text.as_bytes()).unwrap(), st, "{text}");
        // Canonical: formatting the parse result gives the same bytes.
        assert_eq!(Statement::parse(text.as_bytes()).unwrap().to_text(), text);
        kinds.insert(st.kind());
    }
    assert_eq!(kinds.len(), StatementType::ALL.len());
}

#[test]
fn header_form() {
    for t in StatementType::ALL {
        // Receipts bind nonce, endpoint and ledger position since v2;
        // accesses and deletions name the tenant since v2; releases name
        // version, source archive and build recipe since v2.
        let version = match t {
            StatementType::Receipt
            | StatementType::Access
            | StatementType::Deletion
            | StatementType::Release => 2,
            _ => 1,
        };
        assert_eq!(
            t.header(),
            format!("{HEADER_PREFIX}{}/v{version}", t.name())
        );
        assert_eq!(t.name().parse::<StatementType>().unwrap(), t);
    }
}

fn rules_text(lines: &[&str]) -> Vec<u8> {
    let mut s = String::from("vitrine.dev/statement/rules/v1\n");
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    s.into_bytes()
}

const SHA: &str = "sha256 a3f1c2d4e5b60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00";

#[test]
fn good_and_bad_table() {
    use ParseError as P;
    use ValueError as V;
    let good = rules_text(&[SHA, "size 1", "version 0", "created 10", "expires 20"]);
    let cases: Vec<(&str, Vec<u8>, Result<(), ParseError>)> = vec![
        ("good", good.clone(), Ok(())),
        (
            "unknown type",
            b"vitrine.dev/statement/rules/v2\nsize 1\n".to_vec(),
            Err(P::UnknownType { header: "vitrine.dev/statement/rules/v2".into() }),
        ),
        (
            "empty text",
            Vec::new(),
            Err(P::UnknownType { header: String::new() }),
        ),
        (
            "missing field",
            rules_text(&[SHA, "size 1", "version 0", "created 10"]),
            Err(P::MissingField { field: "expires" }),
        ),
        (
            "repeated field",
            rules_text(&[SHA, "size 1", "size 1", "version 0", "created 10", "expires 20"]),
            Err(P::RepeatedField { field: "size" }),
        ),
        (
            "out of order",
            rules_text(&[SHA, "version 0", "size 1", "created 10", "expires 20"]),
            Err(P::OutOfOrderField { field: "size", after: "version" }),
        ),
        (
            "unknown field",
            rules_text(&[SHA, "size 1", "version 0", "created 10", "expires 20", "ack lint-1"]),
            Err(P::UnknownField { field: "ack".into() }),
        ),
        (
            "uppercase hex",
            rules_text(&[&SHA.to_uppercase().replace("SHA256", "sha256"), "size 1", "version 0", "created 10", "expires 20"]),
            Err(P::MalformedValue { field: "sha256", err: V::NotLowercaseHex }),
        ),
        (
            "short hex",
            rules_text(&["sha256 abcd", "size 1", "version 0", "created 10", "expires 20"]),
            Err(P::MalformedValue { field: "sha256", err: V::WrongLength { expected: vec![64], found: 4 } }),
        ),
        (
            "leading zero",
            rules_text(&[SHA, "size 01", "version 0", "created 10", "expires 20"]),
            Err(P::MalformedValue { field: "size", err: V::LeadingZero }),
        ),
        (
            "negative",
            rules_text(&[SHA, "size -1", "version 0", "created 10", "expires 20"]),
            Err(P::MalformedValue { field: "size", err: V::NotDecimal }),
        ),
        (
            "overflow",
            rules_text(&[SHA, "size 18446744073709551616", "version 0", "created 10", "expires 20"]),
            Err(P::MalformedValue { field: "size", err: V::Overflow }),
        ),
        (
            "double space",
            rules_text(&[SHA, "size  1", "version 0", "created 10", "expires 20"]),
            Err(P::MalformedValue { field: "size", err: V::Space }),
        ),
        (
            "trailing space",
            rules_text(&[SHA, "size 1 ", "version 0", "created 10", "expires 20"]),
            Err(P::MalformedValue { field: "size", err: V::Space }),
        ),
        (
            "empty value",
            rules_text(&[SHA, "size ", "version 0", "created 10", "expires 20"]),
            Err(P::MalformedValue { field: "size", err: V::Empty }),
        ),
        (
            "carriage return",
            rules_text(&[SHA, "size 1\r", "version 0", "created 10", "expires 20"]),
            Err(P::MalformedValue { field: "size", err: V::ForbiddenChar }),
        ),
        (
            "no value",
            rules_text(&[SHA, "size", "version 0", "created 10", "expires 20"]),
            Err(P::MalformedLine { line: 3 }),
        ),
        (
            "blank line",
            rules_text(&[SHA, "", "size 1", "version 0", "created 10", "expires 20"]),
            Err(P::MalformedLine { line: 3 }),
        ),
        (
            "trailing bytes",
            [good.as_slice(), b"x"].concat(),
            Err(P::TrailingBytes),
        ),
        (
            "no final newline",
            good[..good.len() - 1].to_vec(),
            Err(P::TrailingBytes),
        ),
        (
            "trailing blank line",
            [good.as_slice(), b"\n"].concat(),
            Err(P::MalformedLine { line: 7 }),
        ),
        (
            "too large",
            vec![b'a'; MAX_TEXT_BYTES + 1],
            Err(P::TooLarge { len: MAX_TEXT_BYTES + 1, max: MAX_TEXT_BYTES }),
        ),
        (
            "non-UTF-8 value",
            b"vitrine.dev/statement/deletion/v2\ntenant t-1\nsample a3f1c2d4e5b60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00\nreason \xff\xfe\ntime 1\n".to_vec(),
            Err(P::MalformedValue { field: "reason", err: V::NotUtf8 }),
        ),
        (
            "text with tab",
            b"vitrine.dev/statement/deletion/v2\ntenant t-1\nsample a3f1c2d4e5b60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00\nreason a\tb\ntime 1\n".to_vec(),
            Err(P::MalformedValue { field: "reason", err: V::ForbiddenChar }),
        ),
        (
            "text with inner spaces",
            b"vitrine.dev/statement/deletion/v2\ntenant t-1\nsample a3f1c2d4e5b60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00\nreason owner asked, ticket 7\ntime 1\n".to_vec(),
            Ok(()),
        ),
        (
            "token with space",
            b"vitrine.dev/statement/access/v2\nwho a b\npurpose x\ntenant t-1\nsample a3f1c2d4e5b60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00\ntime 1\nexpires 2\nrecipient a3f1c2d4e5b60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00\n".to_vec(),
            Err(P::MalformedValue { field: "who", err: V::Space }),
        ),
        (
            "bad verdict",
            b"vitrine.dev/statement/review/v1\nsubject a3f1c2d4e5b60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00\nverdict Approve\n".to_vec(),
            Err(P::MalformedValue { field: "verdict", err: V::NotInSet { allowed: &["approve", "reject"] } }),
        ),
        (
            "review without comment",
            b"vitrine.dev/statement/review/v1\nsubject a3f1c2d4e5b60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00\nverdict reject\n".to_vec(),
            Ok(()),
        ),
        (
            "acknowledged findings",
            rules_text(&[SHA, "size 1", "version 0", "created 10", "expires 20", "allow VL101:a reason one", "allow VL302:b a second reason"]),
            Ok(()),
        ),
        (
            "bundle name (channel)",
            rules_text(&[SHA, "size 1", "version 0", "created 10", "expires 20", "bundle daily", "allow VL101:a x"]),
            Ok(()),
        ),
        (
            "bundle name after allow",
            rules_text(&[SHA, "size 1", "version 0", "created 10", "expires 20", "allow VL101:a x", "bundle daily"]),
            Err(P::OutOfOrderField { field: "bundle", after: "allow" }),
        ),
        (
            "bundle name with a space",
            rules_text(&[SHA, "size 1", "version 0", "created 10", "expires 20", "bundle daily x"]),
            Err(P::MalformedValue { field: "bundle", err: V::Space }),
        ),
        (
            "empty bundle name",
            rules_text(&[SHA, "size 1", "version 0", "created 10", "expires 20", "bundle "]),
            Err(P::MalformedValue { field: "bundle", err: V::Empty }),
        ),
        (
            "bundle name twice",
            rules_text(&[SHA, "size 1", "version 0", "created 10", "expires 20", "bundle a", "bundle b"]),
            Err(P::RepeatedField { field: "bundle" }),
        ),
        (
            "allow lines out of order",
            rules_text(&[SHA, "size 1", "version 0", "created 10", "expires 20", "allow VL302:b x", "allow VL101:a y"]),
            Err(P::UnsortedField { field: "allow" }),
        ),
        (
            "allow line repeated",
            rules_text(&[SHA, "size 1", "version 0", "created 10", "expires 20", "allow VL101:a x", "allow VL101:a x"]),
            Err(P::UnsortedField { field: "allow" }),
        ),
        (
            "one finding acknowledged twice",
            rules_text(&[SHA, "size 1", "version 0", "created 10", "expires 20", "allow VL101:a x", "allow VL101:a y"]),
            Err(P::UnsortedField { field: "allow" }),
        ),
        (
            "allow without reason",
            rules_text(&[SHA, "size 1", "version 0", "created 10", "expires 20", "allow VL101:a"]),
            Err(P::MalformedValue { field: "allow", err: V::Empty }),
        ),
        (
            "allow with blank reason",
            rules_text(&[SHA, "size 1", "version 0", "created 10", "expires 20", "allow VL101:a  x"]),
            Err(P::MalformedValue { field: "allow", err: V::Space }),
        ),
        (
            "allow before expires",
            rules_text(&[SHA, "size 1", "version 0", "created 10", "allow VL101:a x", "expires 20"]),
            Err(P::OutOfOrderField { field: "expires", after: "allow" }),
        ),
        (
            "review empty comment",
            b"vitrine.dev/statement/review/v1\nsubject a3f1c2d4e5b60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00\nverdict reject\ncomment \n".to_vec(),
            Err(P::MalformedValue { field: "comment", err: V::Empty }),
        ),
    ];
    for (name, text, want) in cases {
        let got = Statement::parse(&text);
        match (&got, &want) {
            (Ok(st), Ok(())) => assert_eq!(st.to_text().as_bytes(), text, "{name}"),
            (Err(e), Err(w)) => assert_eq!(e, w, "{name}"),
            _ => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn sign_and_open() {
    use vitrine_note::{SignatureType, SignerKey, VerificationError, Verifiers};
    let key =
        SignerKey::from_seed("publisher.example/p1", SignatureType::Ed25519, [7; 32]).unwrap();
    let other =
        SignerKey::from_seed("publisher.example/p2", SignatureType::Ed25519, [8; 32]).unwrap();
    for st in examples() {
        let note = st.sign(&key).unwrap();
        // Deterministic: one byte form per (statement, key).
        assert_eq!(note, st.sign(&key).unwrap());
        let (got, signer) =
            Statement::open(&note, &Verifiers::from_keys([key.verifier()])).unwrap();
        assert_eq!(got, st);
        assert_eq!(signer, key.verifier());
        let err = Statement::open(&note, &Verifiers::from_keys([other.verifier()])).unwrap_err();
        assert_eq!(
            err,
            OpenError::Note(VerificationError::NoKnownSignature.into())
        );
    }
    // A signed note whose text is not a statement.
    let mut junk = vitrine_note::Note::new("hello\n").unwrap();
    junk.sign(&key).unwrap();
    assert!(matches!(
        Statement::open(&junk.to_bytes(), &Verifiers::from_keys([key.verifier()])),
        Err(OpenError::Statement(ParseError::UnknownType { .. }))
    ));
}

/// A receipt must name the endpoint, the submission's nonce and the ledger
/// position: one without them (the v1 form) does not parse, nor one
/// missing any of them.
#[test]
fn receipts_without_binding_fields_are_refused() {
    let base = [
        format!("sample {H1}"),
        "tenant t-5f2a9c".into(),
        "policy p".into(),
        format!("policy-sha256 {H2}"),
        "time 1767225601".into(),
    ];
    let v1 = format!("vitrine.dev/statement/receipt/v1\n{}\n", base.join("\n"));
    assert!(Statement::parse(v1.as_bytes()).is_err());
    let binding = [
        format!("endpoint {H2}"),
        format!("nonce {H1}"),
        "ledger-seq 4".into(),
        format!("ledger-head {H2}"),
    ];
    let text = |skip: Option<usize>| {
        let mut t = String::from("vitrine.dev/statement/receipt/v2\n");
        for l in base.iter().chain(
            binding
                .iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != skip)
                .map(|(_, l)| l),
        ) {
            t.push_str(l);
            t.push('\n');
        }
        t
    };
    let Statement::Receipt(r) = Statement::parse(text(None).as_bytes()).unwrap() else {
        panic!("not a receipt")
    };
    assert_eq!(r.ledger_seq, 4);
    for (i, field) in ["endpoint", "nonce", "ledger-seq", "ledger-head"]
        .into_iter()
        .enumerate()
    {
        let err = Statement::parse(text(Some(i)).as_bytes()).unwrap_err();
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
}
