//! `vitrine egress`, `submit`, `intake` and `vault` end to end: a real log
//! and a real intake process on 127.0.0.1 port 0.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{spawn_server as spawn, stdout, vitrine, Server};

#[test]
fn egress_policy_show_check_and_default() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("egress");
    vitrine()
        .args(["egress", "policy", "show", "--state"])
        .arg(&state)
        .assert()
        .success()
        .stdout(predicates::str::contains("the default policy applies"))
        .stdout(predicates::str::contains("never (metadata only)"));
    let default = stdout(
        &vitrine()
            .args(["egress", "policy", "default"])
            .assert()
            .success(),
    );
    let good = tmp.path().join("good.toml");
    std::fs::write(&good, &default).unwrap();
    vitrine()
        .args(["egress", "policy", "check"])
        .arg(&good)
        .assert()
        .success()
        .stdout(predicates::str::contains("ok (id default-metadata-only"));
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "id = \"x\"\n[content]\nkinds = [\"docx\"]\n").unwrap();
    vitrine()
        .args(["egress", "policy", "check"])
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("content.kinds"))
        .stderr(predicates::str::contains("documents never leave"));
    std::fs::write(&bad, "id = \"x\"\nsend_everything = true\n").unwrap();
    vitrine()
        .args(["egress", "policy", "check"])
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("unknown field `send_everything`"));
}

/// A vendor (log and intake processes, an analyst key) and an endpoint's
/// egress state pointing at it, in `tmp`.
pub(crate) struct Vendor {
    pub(crate) intake_url: String,
    _log: Server,
    /// The intake process (`None` once a test stopped it).
    pub(crate) intake: Option<Server>,
    _witness: Server,
    /// Three keyholders (2 of 3 open a sample), to stop some.
    keyholders: Vec<Option<Server>>,
    pub(crate) state: std::path::PathBuf,
    /// The pin file (outside the state directory).
    pin: std::path::PathBuf,
    log_url: String,
    log_vkey: String,
    intake_vkey: String,
}

impl Vendor {
    /// `vitrine` with this endpoint's pin file.
    pub(crate) fn cmd(&self) -> assert_cmd::Command {
        let mut c = vitrine();
        c.env("VITRINE_EGRESS_PIN", &self.pin);
        c
    }
}

fn vendor(tmp: &Path) -> Vendor {
    vendor_on(tmp, &[])
}

/// [`vendor`] with more `intake serve` arguments (e.g. `--postgres URL`).
/// The tenant `t-e2e`'s token is in `tmp/token`, the analyst's key in
/// `tmp/alice.key`, the intake's directory is `tmp/intake`.
pub(crate) fn vendor_on(tmp: &Path, serve: &[&str]) -> Vendor {
    let d = tmp;
    let log_vkey = stdout(
        &vitrine()
            .args([
                "log",
                "init",
                "--origin",
                "log.example/e",
                "--purpose",
                "custody",
            ])
            .arg("--data")
            .arg(d.join("log"))
            .assert()
            .success(),
    );
    let analyst_vkey = stdout(
        &vitrine()
            .current_dir(d)
            .args([
                "key",
                "generate",
                "analyst.example/alice",
                "-o",
                "alice.key",
            ])
            .assert()
            .success(),
    );
    // One witness for the custody log; its quorum is required of every
    // checkpoint an access is proven under.
    let witness_vkey = stdout(
        &vitrine()
            .args(["witness", "init", "--name", "witness.example/cw1", "--data"])
            .arg(d.join("w1"))
            .assert()
            .success(),
    );
    vitrine()
        .args(["witness", "add-log", "--data"])
        .arg(d.join("w1"))
        .arg(&log_vkey)
        .assert()
        .success();
    let (witness, witness_url) = spawn(
        &["witness", "serve", "--addr", "127.0.0.1:0"],
        &d.join("w1"),
    );
    std::fs::write(
        d.join("custody-witnesses"),
        format!("witness cw1 {witness_vkey} {witness_url}\nquorum cw1\n"),
    )
    .unwrap();
    let intake_vkey = stdout(
        &vitrine()
            .args([
                "intake",
                "init",
                "--name",
                "intake.example/i1",
                "--log",
                "http://127.0.0.1:1",
            ])
            .args(["--log-key", &log_vkey, "--witnesses"])
            .arg(d.join("custody-witnesses"))
            .arg("--data")
            .arg(d.join("intake"))
            .assert()
            .success(),
    );
    std::fs::write(
        d.join("log/authorized"),
        format!("receipt,deletion {intake_vkey}\naccess {analyst_vkey}\n"),
    )
    .unwrap();
    let witnesses = d.join("custody-witnesses");
    let (log, log_url) = spawn(
        &[
            "log",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--batch-wait-ms",
            "10",
            "--witnesses",
            witnesses.to_str().unwrap(),
        ],
        &d.join("log"),
    );
    // Point the intake at the running log.
    let conf = d.join("intake/intake.toml");
    let text = std::fs::read_to_string(&conf)
        .unwrap()
        .replace("http://127.0.0.1:1", &log_url);
    std::fs::write(&conf, text).unwrap();
    let token = stdout(
        &vitrine()
            .args(["intake", "tenant", "add", "t-e2e", "--data"])
            .arg(d.join("intake"))
            .assert()
            .success(),
    );
    std::fs::write(d.join("token"), &token).unwrap();
    vitrine()
        .args(["intake", "analyst", "add", &analyst_vkey, "--data"])
        .arg(d.join("intake"))
        .assert()
        .success();
    // Three independent keyholders, each honouring the analyst.
    let mut keyholders = Vec::new();
    for i in 1..=3 {
        let kdir = d.join(format!("kh{i}"));
        let public = stdout(
            &vitrine()
                .args(["keyholder", "init", "--name", &format!("kh{i}.example")])
                .arg("--custody-policy")
                .arg(d.join("intake/custody.policy"))
                .args(["--analyst", &analyst_vkey, "--data"])
                .arg(&kdir)
                .assert()
                .success(),
        );
        let (server, url) = spawn(&["keyholder", "serve", "--addr", "127.0.0.1:0"], &kdir);
        vitrine()
            .args(["intake", "keyholder", "add", &public, &url, "--data"])
            .arg(d.join("intake"))
            .assert()
            .success();
        keyholders.push(Some(server));
    }
    let mut args = vec!["intake", "serve", "--addr", "127.0.0.1:0"];
    args.extend_from_slice(serve);
    let (intake, intake_url) = spawn(&args, &d.join("intake"));

    let state = d.join("egress");
    let pin = d.join("etc/egress-endpoint.vkey");
    vitrine()
        .env("VITRINE_EGRESS_PIN", &pin)
        .args(["egress", "init", "--state"])
        .arg(&state)
        .args(["--intake", &intake_url, "--tenant", "t-e2e", "--token-file"])
        .arg(d.join("token"))
        .args([
            "--intake-key",
            &intake_vkey,
            "--log",
            &log_url,
            "--log-key",
            &log_vkey,
            "--witnesses",
        ])
        .arg(&witnesses)
        .assert()
        .success();
    Vendor {
        intake_url,
        _log: log,
        intake: Some(intake),
        _witness: witness,
        keyholders,
        state,
        pin,
        log_url,
        log_vkey,
        intake_vkey,
    }
}

/// The whole loop: an endpoint submits an executable it may send; an
/// analyst opens it through the vault (access logged first); the owner's
/// audit shows the access; the ledger verifies, and tampering is caught.
#[test]
fn submit_vault_audit_and_tamper() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let v = vendor(d);
    let state = v.state.clone();
    std::fs::write(
        state.join("policy.toml"),
        "id = \"exec-auto\"\n[content]\nkinds = [\"elf\"]\nconsent = \"auto\"\n",
    )
    .unwrap();
    let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    elf.extend_from_slice(b"MARKER-CLI-SAMPLE");
    std::fs::write(d.join("a.out"), &elf).unwrap();
    let text = b"meeting notes, do not share\n";
    std::fs::write(d.join("notes.bin"), text).unwrap();
    v.cmd()
        .args(["submit", "--state"])
        .arg(&state)
        .arg(d.join("a.out"))
        .args(["--detection", "Test.Rule"])
        .assert()
        .success()
        .stdout(predicates::str::contains("metadata and content sent"));
    // A text file never leaves, whatever its name.
    v.cmd()
        .args(["submit", "--state"])
        .arg(&state)
        .arg(d.join("notes.bin"))
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "metadata only (the file is a document (text)",
        ));

    v.cmd()
        .args(["egress", "verify", "--state"])
        .arg(&state)
        .assert()
        .success()
        .stdout(predicates::str::contains("ledger ok: 4 entries"))
        .stdout(predicates::str::contains("receipts ok: 2"));

    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&elf));
    // A crash between logging the access and releasing: nothing released.
    let status = Command::new(assert_cmd::cargo::cargo_bin("vitrine"))
        .args([
            "vault",
            "open",
            &sha,
            "--purpose",
            "triage before crash",
            "--key",
        ])
        .arg(d.join("alice.key"))
        .arg("--data")
        .arg(d.join("intake"))
        .arg("--out")
        .arg(d.join("crashed.bin"))
        .env("VITRINE_VAULT_FAILPOINT", "after-access-logged")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
    assert!(!d.join("crashed.bin").exists());

    v.cmd()
        .args([
            "vault",
            "open",
            &sha,
            "--purpose",
            "triage of Test.Rule, ticket 8812",
            "--key",
        ])
        .arg(d.join("alice.key"))
        .arg("--data")
        .arg(d.join("intake"))
        .arg("--out")
        .arg(d.join("released.bin"))
        .assert()
        .success();
    assert_eq!(std::fs::read(d.join("released.bin")).unwrap(), elf);

    // One keyholder down: 2 of 3 still open it (after a new logged access).
    let mut v = v;
    v.keyholders[0] = None;
    vitrine()
        .args(["vault", "open", &sha, "--purpose", "second look", "--key"])
        .arg(d.join("alice.key"))
        .arg("--data")
        .arg(d.join("intake"))
        .arg("--out")
        .arg(d.join("again.bin"))
        .assert()
        .success();
    assert_eq!(std::fs::read(d.join("again.bin")).unwrap(), elf);
    // Two down: refused, each keyholder named, nothing written.
    v.keyholders[1] = None;
    vitrine()
        .args(["vault", "open", &sha, "--purpose", "third look", "--key"])
        .arg(d.join("alice.key"))
        .arg("--data")
        .arg(d.join("intake"))
        .arg("--out")
        .arg(d.join("refused.bin"))
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "1 of 2 keyholder shares released",
        ))
        .stderr(predicates::str::contains("kh1.example"))
        .stderr(predicates::str::contains("kh2.example"));
    assert!(!d.join("refused.bin").exists());

    let audit = stdout(
        &v.cmd()
            .args(["egress", "audit", "--format", "json", "--state"])
            .arg(&state)
            .assert()
            .success(),
    );
    let audit: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let accesses = audit["accesses"].as_array().unwrap();
    assert_eq!(accesses.len(), 4, "{audit}");
    assert_eq!(accesses[0]["purpose"], "triage before crash");
    assert_eq!(accesses[1]["who"], "analyst.example/alice");
    assert_eq!(audit["sent"].as_array().unwrap().len(), 2);

    v.cmd()
        .args([
            "vault",
            "delete",
            &sha,
            "--tenant",
            "t-e2e",
            "--reason",
            "owner request",
            "--data",
        ])
        .arg(d.join("intake"))
        .assert()
        .success();
    v.cmd()
        .args(["egress", "audit", "--state"])
        .arg(&state)
        .assert()
        .success()
        .stdout(predicates::str::contains("deletions (1)"))
        .stdout(predicates::str::contains("owner request"));

    // Tamper with the ledger: flip a recorded fact.
    let ledger = state.join("ledger/ledger.jsonl");
    let text = std::fs::read_to_string(&ledger).unwrap();
    std::fs::write(
        &ledger,
        text.replacen("\"content\":true", "\"content\":false", 1),
    )
    .unwrap();
    v.cmd()
        .args(["egress", "verify", "--state"])
        .arg(&state)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("ledger NOT intact"))
        .stderr(predicates::str::contains("changed?"));
}

/// 2014 as a scan: a rule matches source code inside a zip that also holds
/// a TOP SECRET .docx; automatic submission is on and the owner even
/// allows archives to leave. Only metadata leaves, and the ledger says so.
#[test]
fn scan_submit_classified_archive_leaves_metadata_only() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let v = vendor(d);
    std::fs::write(
        v.state.join("policy.toml"),
        "id = \"permissive\"\n[content]\nkinds = [\"elf\", \"zip\", \"7z\"]\nconsent = \"auto\"\n",
    )
    .unwrap();
    let zip = |members: &[(&str, &[u8])]| {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, data) in members {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    };
    let docx = zip(&[
        ("[Content_Types].xml", b"<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"></Types>"),
        ("word/document.xml", b"<w:t>TOP SECRET//NOFORN</w:t>"),
    ]);
    let archive = zip(&[
        (
            "src/implant.c",
            b"static const char *b = \"implant_beacon_v2\";\n",
        ),
        ("docs/plan.docx", &docx),
    ]);
    std::fs::create_dir(d.join("scan")).unwrap();
    std::fs::write(d.join("scan/project.zip"), &archive).unwrap();
    std::fs::write(
        d.join("r.yar"),
        "rule Implant_Beacon { strings: $a = \"implant_beacon\" condition: $a }\n",
    )
    .unwrap();
    v.cmd()
        .args(["scan", "--submit", "--egress-state"])
        .arg(&v.state)
        .arg("--state")
        .arg(d.join("st"))
        .arg("--rules")
        .arg(d.join("r.yar"))
        .arg(d.join("scan"))
        .assert()
        .code(1);
    let ledger = std::fs::read_to_string(v.state.join("ledger/ledger.jsonl")).unwrap();
    assert!(ledger.contains("\"content\":false"), "{ledger}");
    assert!(ledger.contains("the archive holds a document"), "{ledger}");
    assert!(ledger.contains("Implant_Beacon"));
    assert!(!ledger.contains("TOP SECRET"));
    // What reached the vendor: no document text, no member names.
    for f in std::fs::read_dir(d.join("intake")).unwrap().flatten() {
        if f.path().is_file() {
            let data = std::fs::read(f.path()).unwrap();
            let has = |n: &[u8]| data.windows(n.len()).any(|w| w == n);
            assert!(
                !has(b"TOP SECRET") && !has(b"plan.docx"),
                "{}",
                f.path().display()
            );
        }
    }
    let samples = d.join("intake/samples");
    let held: Vec<_> = std::fs::read_dir(&samples)
        .map(|r| r.flatten().collect())
        .unwrap_or_default();
    assert!(held.is_empty(), "the intake holds content: {held:?}");
    v.cmd()
        .args(["egress", "verify", "--state"])
        .arg(&v.state)
        .assert()
        .success()
        .stdout(predicates::str::contains("receipts ok: 1"));
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Copies a directory tree (files and directories only).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn ledger_entries(state: &Path) -> Vec<vitrine_egress::Entry> {
    vitrine_egress::read_unverified(&state.join("ledger")).unwrap()
}

/// Opens the ledger in `state` for appending with the key in `key_file`.
fn open_ledger(state: &Path, key_file: &Path) -> vitrine_egress::Ledger {
    let key =
        vitrine_note::SignerKey::parse(std::fs::read_to_string(key_file).unwrap().trim()).unwrap();
    vitrine_egress::Ledger::open(&state.join("ledger"), key).unwrap()
}

impl Vendor {
    /// The pinned endpoint key.
    fn pin_key(&self) -> vitrine_note::VerifierKey {
        std::fs::read_to_string(&self.pin)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Signs `receipt` with the intake's key (from its data directory, as a
    /// lying intake could), logs it in the custody log and proves it.
    fn log_receipt(
        &self,
        d: &Path,
        receipt: vitrine_statements::Receipt,
    ) -> vitrine_egress::ReceiptBundle {
        let key = vitrine_note::SignerKey::parse(
            std::fs::read_to_string(d.join("intake/intake.key"))
                .unwrap()
                .trim(),
        )
        .unwrap();
        assert_eq!(key.verifier().to_string(), self.intake_vkey.trim());
        let note = vitrine_statements::Statement::Receipt(receipt)
            .sign(&key)
            .unwrap();
        let log =
            vitrine_intake::LogClient::new(&self.log_url, self.log_vkey.trim().parse().unwrap())
                .unwrap();
        let index = log.add(&note).unwrap();
        let proof = log.prove(&note, index).unwrap();
        vitrine_egress::ReceiptBundle {
            note: String::from_utf8(note).unwrap(),
            index,
            tlog_proof: proof.to_string(),
        }
    }
}

/// A fake intake on 127.0.0.1: the first submission goes to the real
/// intake and its answer is kept; every later one is answered with that
/// same old answer (a replayed receipt).
fn replaying_intake(real: String) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut kept: Option<(u16, Vec<u8>)> = None;
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let (mut len, mut auth) = (0usize, String::new());
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
                let (name, value) = h.split_once(':').unwrap_or((&h, ""));
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => len = value.trim().parse().unwrap(),
                    "authorization" => auth = value.trim().to_owned(),
                    _ => {}
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let (status, answer) = kept.get_or_insert_with(|| {
                let resp = reqwest::blocking::Client::new()
                    .post(format!("{real}/v1/submissions"))
                    .header("authorization", &auth)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .unwrap();
                (resp.status().as_u16(), resp.bytes().unwrap().to_vec())
            });
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
                answer.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(answer);
        }
    });
    url
}

/// Observation 5: an intake that replays an old receipt for a new
/// submission that included content is caught when the endpoint submits,
/// and a ledger that holds such receipts (a stale one, one for another
/// submission, one reused for a second entry, one for another tenant) does
/// not verify, each with its own error.
#[test]
fn replayed_and_stale_receipts_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let v = vendor(d);
    let state = v.state.clone();
    std::fs::write(
        state.join("policy.toml"),
        "id = \"exec-auto\"\n[content]\nkinds = [\"elf\"]\nconsent = \"auto\"\n",
    )
    .unwrap();
    let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    elf.extend_from_slice(b"MARKER-REPLAYED");
    std::fs::write(d.join("a.out"), &elf).unwrap();

    // The endpoint talks to a fake intake that replays its first answer.
    let dest_file = state.join("destination.toml");
    let dest = std::fs::read_to_string(&dest_file).unwrap();
    let real = dest
        .lines()
        .find_map(|l| l.strip_prefix("intake = "))
        .unwrap()
        .trim_matches('"')
        .to_owned();
    let fake = replaying_intake(real.clone());
    std::fs::write(&dest_file, dest.replace(&real, &fake)).unwrap();
    v.cmd()
        .args(["submit", "--state"])
        .arg(&state)
        .arg(d.join("a.out"))
        .assert()
        .success()
        .stdout(predicates::str::contains("metadata and content sent"));
    // The same file again, content included: the fake intake answers with
    // the first receipt. The endpoint refuses it and records the failure.
    v.cmd()
        .args(["submit", "--state"])
        .arg(&state)
        .arg(d.join("a.out"))
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "a receipt for another submission",
        ));
    let entries = ledger_entries(&state);
    assert_eq!(entries.len(), 4);
    assert!(
        matches!(&entries[3].event, vitrine_egress::LedgerEvent::Failed { of: 2, error } if error.contains("nonce")),
        "{:?}",
        entries[3]
    );
    std::fs::write(&dest_file, &dest).unwrap();
    v.cmd()
        .args(["egress", "verify", "--state"])
        .arg(&state)
        .assert()
        .success()
        .stdout(predicates::str::contains("receipts ok: 1"))
        .stdout(predicates::str::contains("without receipt: entries #2"));

    // Ledgers that hold receipts the endpoint should never have accepted
    // (as an older endpoint did): each case in its own copy of the state,
    // a new `sent` entry answered by a receipt wrong in one way.
    let first_receipt = match &entries[1].event {
        vitrine_egress::LedgerEvent::Receipt { receipt, .. } => receipt.clone(),
        e => panic!("{e:?}"),
    };
    let vitrine_egress::LedgerEvent::Sent { metadata, .. } = &entries[2].event else {
        panic!()
    };
    let endpoint_key: vitrine_note::VerifierKey = std::fs::read_to_string(&v.pin)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let policy_sha: [u8; 32] =
        <sha2::Sha256 as sha2::Digest>::digest(std::fs::read(state.join("policy.toml")).unwrap())
            .into();
    let sample: [u8; 32] = hex::decode(&metadata.sha256).unwrap().try_into().unwrap();
    type Mutate = fn(&mut vitrine_statements::Receipt);
    let cases: [(&str, Option<Mutate>, &str); 7] = [
        (
            "stale",
            Some(|r| r.time -= 3600),
            "more than 300 s apart (stale or replayed)",
        ),
        (
            "nonce",
            Some(|r| r.nonce = vitrine_statements::Sha256([0xee; 32])),
            "a receipt for another submission",
        ),
        (
            "tenant",
            Some(|r| r.tenant = vitrine_statements::Token::new("t-other").unwrap()),
            r#"the receipt is for tenant "t-other", not "t-e2e""#,
        ),
        (
            "endpoint",
            Some(|r| r.endpoint = vitrine_statements::Sha256([0xdd; 32])),
            "names endpoint key dddd",
        ),
        (
            "position",
            Some(|r| r.ledger_seq += 1),
            "names ledger entry 5 with head",
        ),
        (
            "reused",
            None,
            "already answered ledger entry 1 (one receipt answers one submission)",
        ),
        // A correct receipt, recorded a second time for entry 0.
        (
            "twice",
            Some(|_| ()),
            "entry 0 already has a receipt (entry 1)",
        ),
    ];
    for (name, mutate, error) in cases {
        let copy = d.join(format!("egress-{name}"));
        copy_tree(&state, &copy);
        let mut ledger = open_ledger(&copy, &copy.join("endpoint.key"));
        let nonce = [name.len() as u8; 32];
        let now = unix_now();
        let sent = ledger
            .append(
                now,
                vitrine_egress::LedgerEvent::Sent {
                    destination: real.clone(),
                    via: "submit".into(),
                    policy_id: "exec-auto".into(),
                    policy_sha256: hex::encode(policy_sha),
                    metadata: metadata.clone(),
                    content: true,
                    nonce: hex::encode(nonce),
                    content_denied: None,
                },
            )
            .unwrap();
        let receipt = match mutate {
            None => first_receipt.clone(),
            Some(mutate) => {
                let mut r = vitrine_statements::Receipt {
                    sample: vitrine_statements::Sha256(sample),
                    tenant: vitrine_statements::Token::new("t-e2e").unwrap(),
                    policy: vitrine_statements::Token::new("exec-auto").unwrap(),
                    policy_sha256: vitrine_statements::Sha256(policy_sha),
                    time: now,
                    endpoint: vitrine_statements::Sha256(vitrine_egress::endpoint_id(
                        &endpoint_key,
                    )),
                    nonce: vitrine_statements::Sha256(nonce),
                    ledger_seq: sent.seq,
                    ledger_head: vitrine_statements::Sha256(
                        hex::decode(sent.hash()).unwrap().try_into().unwrap(),
                    ),
                };
                mutate(&mut r);
                v.log_receipt(d, r)
            }
        };
        let of = if name == "twice" { 0 } else { sent.seq };
        ledger
            .append(now, vitrine_egress::LedgerEvent::Receipt { of, receipt })
            .unwrap();
        v.cmd()
            .args(["egress", "verify", "--state"])
            .arg(&copy)
            .assert()
            .code(1)
            .stderr(predicates::str::contains("ledger NOT intact"))
            .stderr(predicates::str::contains(format!(
                "ledger entry {}",
                sent.seq + 1
            )))
            .stderr(predicates::str::contains(error));
    }
}

/// Observation 6: the custody log anchors the ledger. Restoring an older
/// copy of the ledger directory, removing the ledger and its head, or
/// re-signing a shorter ledger with the endpoint's own key is caught by
/// `egress verify` against the log; a ledger signed by a key that is not
/// the pinned one is refused, and so is verifying with no pin.
#[test]
fn ledger_rollback_removal_and_key_swap_are_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let v = vendor(d);
    let state = v.state.clone();
    for (name, data) in [("a.bin", &b"first sample"[..]), ("b.bin", b"second")] {
        std::fs::write(d.join(name), data).unwrap();
    }
    let submit = |name: &str| {
        v.cmd()
            .args(["submit", "--state"])
            .arg(&state)
            .arg(d.join(name))
            .assert()
            .success();
    };
    let verify = || {
        let mut c = v.cmd();
        c.args(["egress", "verify", "--state"]).arg(&state);
        c
    };
    submit("a.bin");
    let older = d.join("ledger-backup");
    copy_tree(&state.join("ledger"), &older);
    submit("b.bin");
    verify()
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "anchored: the log holds 2 receipts for this endpoint, the latest for entry #2",
        ));

    // An older copy of the whole ledger directory, restored.
    let ledger = state.join("ledger");
    std::fs::remove_dir_all(&ledger).unwrap();
    copy_tree(&older, &ledger);
    vitrine_egress::verify(&ledger, &v.pin_key()).unwrap();
    verify()
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "for ledger entry 2 of this endpoint, but the ledger has only 2 entries: it was rolled back or removed",
        ));

    // Ledger and head deleted.
    std::fs::remove_dir_all(&ledger).unwrap();
    verify().assert().code(1).stderr(predicates::str::contains(
        "but the ledger has only 0 entries: it was rolled back or removed",
    ));

    // A new ledger of three entries re-signed with the endpoint's own key
    // (copied from the state directory): the log names other heads.
    let mut l = open_ledger(&state, &state.join("endpoint.key"));
    for i in 0..3u8 {
        l.append(
            unix_now(),
            vitrine_egress::LedgerEvent::Failed {
                of: 0,
                error: format!("invented {i}"),
            },
        )
        .unwrap();
    }
    verify()
        .assert()
        .code(1)
        .stderr(predicates::str::contains("the ledger was replaced"));

    // Another key in the state directory, and a ledger signed by it.
    std::fs::remove_dir_all(&ledger).unwrap();
    let other = d.join("other.key");
    vitrine()
        .args(["key", "generate", "localhost/vitrine-egress", "-o"])
        .arg(&other)
        .assert()
        .success();
    std::fs::copy(&other, state.join("endpoint.key")).unwrap();
    let mut l = open_ledger(&state, &other);
    l.append(
        unix_now(),
        vitrine_egress::LedgerEvent::Failed {
            of: 0,
            error: "invented".into(),
        },
    )
    .unwrap();
    verify()
        .assert()
        .code(1)
        .stderr(predicates::str::contains("is not the pinned endpoint key"));
    v.cmd()
        .args(["submit", "--state"])
        .arg(&state)
        .arg(d.join("a.bin"))
        .assert()
        .failure()
        .stderr(predicates::str::contains("is not the pinned endpoint key"));
    // An endpoint whose witnesses never cosign the custody log's
    // checkpoints accepts no receipt.
    let other_witness = stdout(
        &vitrine()
            .args(["witness", "init", "--name", "witness.example/w9", "--data"])
            .arg(d.join("w9"))
            .assert()
            .success(),
    );
    std::fs::write(
        d.join("w9.policy"),
        format!("witness w9 {}\nquorum w9\n", other_witness.trim()),
    )
    .unwrap();
    let q = d.join("egress-q");
    vitrine()
        .args(["egress", "init", "--state"])
        .arg(&q)
        .arg("--pin")
        .arg(d.join("pin-q"))
        .args([
            "--intake",
            &v.intake_url,
            "--tenant",
            "t-e2e",
            "--token-file",
        ])
        .arg(d.join("token"))
        .args(["--intake-key", &v.intake_vkey, "--log", &v.log_url])
        .args(["--log-key", &v.log_vkey, "--witnesses"])
        .arg(d.join("w9.policy"))
        .assert()
        .success();
    vitrine()
        .env("VITRINE_EGRESS_PIN", d.join("pin-q"))
        .args(["submit", "--state"])
        .arg(&q)
        .arg(d.join("a.bin"))
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "is not cosigned by a quorum of the configured witnesses (cosigned by: none)",
        ));
    // Nor does it take the custody log's entries as the anchor.
    vitrine()
        .args(["egress", "verify", "--state"])
        .arg(&q)
        .arg("--pin")
        .arg(d.join("pin-q"))
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "the custody log's current checkpoint (size",
        ))
        .stderr(predicates::str::contains("it cannot anchor the ledger"));
    // With no pin at all, nothing verifies.
    vitrine()
        .env("VITRINE_EGRESS_PIN", d.join("no-such-pin"))
        .args(["egress", "verify", "--state"])
        .arg(&state)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("no pinned endpoint key"));
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    p.symlink_metadata()
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .mode()
        & 0o777
}

/// Issue 14, observation 8: secrets and private state are 0600 in 0700
/// directories after setup and a submission; a link planted at the
/// ledger head's old fixed temporary name is not followed; a state
/// directory other users can write is refused, by name.
#[test]
fn private_files_stay_private_and_planted_links_are_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let v = vendor(d);
    let state = v.state.clone();
    let ledger = state.join("ledger");
    std::fs::create_dir_all(&ledger).unwrap();
    let victim = d.join("root-owned-file");
    std::fs::write(&victim, "not the ledger's\n").unwrap();
    std::os::unix::fs::symlink(&victim, ledger.join(".head.tmp")).unwrap();
    let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    elf.extend_from_slice(b"MARKER-PRIVATE-FILES");
    std::fs::write(d.join("a.out"), &elf).unwrap();
    std::fs::write(
        state.join("policy.toml"),
        "id = \"exec-auto\"\n[content]\nkinds = [\"elf\"]\nconsent = \"auto\"\n",
    )
    .unwrap();
    v.cmd()
        .args(["submit", "--state"])
        .arg(&state)
        .arg(d.join("a.out"))
        .assert()
        .success()
        .stdout(predicates::str::contains("metadata and content sent"));
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "not the ledger's\n"
    );

    for dir in [
        state.clone(),
        ledger.clone(),
        d.join("intake"),
        d.join("intake/samples"),
        d.join("kh1"),
    ] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    for file in [
        state.join("destination.toml"),
        state.join("endpoint.key"),
        ledger.join("ledger.jsonl"),
        ledger.join("head"),
        d.join("intake/intake.db"),
        d.join("intake/intake.key"),
        d.join("intake/intake.toml"),
        d.join("intake/custody.policy"),
        d.join("kh1/keyholder.key"),
        d.join("kh1/keyholder.toml"),
        d.join("kh1/keyholder.db"),
    ] {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }

    // Another user could write the egress state: refused, by name.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    v.cmd()
        .args(["egress", "verify", "--state"])
        .arg(&state)
        .assert()
        .failure()
        .stderr(predicates::str::contains(format!(
            "refusing {}: it can be written by others (mode 777)",
            state.display()
        )));
    // And the intake's data directory.
    drop(v);
    std::fs::set_permissions(d.join("intake"), std::fs::Permissions::from_mode(0o775)).unwrap();
    vitrine()
        .args(["intake", "serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(d.join("intake"))
        .assert()
        .failure()
        .stderr(predicates::str::contains(format!(
            "refusing {}: it can be written by others (mode 775)",
            d.join("intake").display()
        )));
}
