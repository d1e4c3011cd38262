//! A whole vendor, made with the real `vitrine` binary, for the
//! transparency center's tests: a rules log with two witnesses, three
//! channels of bundles (rules added, removed and changed, one rule the
//! linter flags shipped with an acknowledgement), reviews that approve
//! and reject, a release, and a custody log with receipts, accesses and
//! deletions of two tenants in two months. [`CenterFixture::stage_fork`]
//! then makes the rules log's URL serve a fork.
//!
//! Everything lives in one temporary directory and listens on 127.0.0.1;
//! every server is killed when the fixture is dropped.

// The API is for the transparency center's tests, which use more of it
// than the test here.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{spawn_server, stdout, vitrine, Server};

/// The rules log's origin (and its key's name).
pub const RULES_ORIGIN: &str = "log.example/rules";
/// The custody log's origin (and its key's name).
pub const CUSTODY_ORIGIN: &str = "log.example/custody";
/// The channels (bundle names) published, in the order first published.
pub const CHANNELS: [&str; 3] = ["daily", "linux", "tools"];
/// The publisher's key name.
pub const PUBLISHER: &str = "publisher.example/rules-team";
/// The reviewer's key name.
pub const REVIEWER: &str = "reviewer.example/carol";
/// The release key's name.
pub const RELEASER: &str = "release.example/builder";
/// The intake's key name (signs receipts and deletions).
pub const INTAKE: &str = "intake.example/i1";
/// The analysts' key names (sign accesses).
pub const ANALYSTS: [&str; 2] = ["analyst.example/alice", "analyst.example/bob"];
/// The tenants (pseudonyms) of the custody log.
pub const TENANTS: [&str; 2] = ["t-acme", "t-globex"];
/// The rule the linter flags, its channel and version, and the finding.
pub const FLAGGED_RULE: &str = "Leak_Hunt";
/// The finding the flagged rule raises (docs/lint.md).
pub const FLAGGED_FINDING: &str = "VL101";
/// The publisher's logged reason for shipping it.
pub const FLAGGED_REASON: &str = "marking used on the leak site of the X gang, case 4711";
/// The release's version.
pub const RELEASE_VERSION: &str = "0.9.0";
/// The release's source commit.
pub const RELEASE_COMMIT: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

/// One bundle version logged in the rules log (or in the fork).
#[derive(Clone, Debug)]
pub struct FixtureBundle {
    /// The channel (bundle name).
    pub channel: &'static str,
    /// The bundle version.
    pub version: u64,
    /// Log index of its `rules` statement.
    pub index: u64,
    /// SHA-256 of the bundle (hex).
    pub sha256: String,
    /// The rules in this version, by name, in file order.
    pub rules: Vec<&'static str>,
    /// Rules new since the previous version, as the monitor names them
    /// (`FILE:RULE`, e.g. `daily.yar:Leak_Hunt`); every rule of a first
    /// version.
    pub added: Vec<String>,
    /// Rules gone since the previous version (`FILE:RULE`).
    pub removed: Vec<String>,
    /// Rules whose text changed (`FILE:RULE`).
    pub changed: Vec<String>,
    /// Acknowledged findings: (`ID:RULE`, the publisher's reason).
    pub acknowledged: Vec<(String, String)>,
}

/// A logged review.
#[derive(Clone, Debug)]
pub struct FixtureReview {
    /// Log index of the `review` statement.
    pub index: u64,
    /// What was reviewed, for people: `daily v1`, `release 0.9.0
    /// x86_64-unknown-linux-gnu`.
    pub subject: String,
    /// SHA-256 of the reviewed artifact (hex).
    pub subject_sha256: String,
    /// `approve` or `reject`.
    pub verdict: &'static str,
    /// The reviewer's key name.
    pub reviewer: &'static str,
    /// The statement's comment.
    pub comment: &'static str,
    /// The report (in the log's content store).
    pub report: String,
    /// SHA-256 of the report (hex).
    pub report_sha256: String,
}

/// One logged release artifact.
#[derive(Clone, Debug)]
pub struct FixtureArtifact {
    /// Log index of its `release` statement.
    pub index: u64,
    /// The target, e.g. `x86_64-unknown-linux-gnu` or
    /// `x86_64-unknown-linux-gnu.deb`.
    pub target: &'static str,
    /// SHA-256 of the artifact (hex).
    pub sha256: String,
}

/// One statement in the custody log.
#[derive(Clone, Debug)]
pub struct CustodyEvent {
    /// Log index.
    pub index: u64,
    /// `receipt`, `access` or `deletion`.
    pub kind: &'static str,
    /// The tenant's pseudonym.
    pub tenant: &'static str,
    /// SHA-256 of the sample (hex).
    pub sample: String,
    /// The statement's `time` (unix seconds).
    pub time: u64,
    /// `YYYY-MM` of `time` (UTC).
    pub month: String,
    /// Who opened it (accesses only).
    pub who: Option<&'static str>,
    /// The purpose (accesses) or reason (deletions).
    pub text: Option<&'static str>,
}

/// What [`CenterFixture::stage_fork`] did.
#[derive(Clone, Debug)]
pub struct Fork {
    /// Size of the honest tree served before the fork.
    pub honest_size: u64,
    /// Size of the fork's tree now served at the same URL (larger).
    pub size: u64,
    /// Entries of the honest tree the fork shares (`0..common`).
    pub common: u64,
    /// The bundles only the fork has.
    pub bundles: Vec<FixtureBundle>,
}

/// A vendor's logs, built with the real binary; see the module docs.
pub struct CenterFixture {
    // Servers first: they are dropped (killed) before the directory.
    rules_log: Option<Server>,
    witnesses: Vec<Option<Server>>,
    custody_log: Option<Server>,
    fork_servers: Vec<Server>,
    rules_port: u16,
    witness_ports: Vec<u16>,
    rules_key: String,
    custody_key: String,
    custody_url: String,
    witness_keys: Vec<String>,
    bundles: Vec<FixtureBundle>,
    reviews: Vec<FixtureReview>,
    release: Vec<FixtureArtifact>,
    custody: Vec<CustodyEvent>,
    rules_size: u64,
    fork: Option<Fork>,
    build_time: Duration,
    tmp: tempfile::TempDir,
}

/// The rules of each channel version: (rule name, rule text). A rule
/// keeps its name across versions; a different text is a change.
fn channel_rules(channel: &str, version: u64) -> Vec<(&'static str, &'static str)> {
    const RANSOM_V1: &str = "rule Ransom_Demo {\n    strings:\n        $a = \"vssadmin delete shadows /all /quiet\" nocase\n    condition:\n        uint16(0) == 0x5A4D and $a\n}\n";
    const RANSOM_V2: &str = "rule Ransom_Demo {\n    strings:\n        $a = \"vssadmin delete shadows /all /quiet\" nocase\n        $b = \"wbadmin delete catalog\" nocase\n    condition:\n        uint16(0) == 0x5A4D and any of them\n}\n";
    const EMOTET: &str = "rule Emotet_Loader {\n    strings:\n        $a = \"RegisterServiceProcess\"\n        $b = { 8B 45 FC 33 D2 F7 75 F8 }\n    condition:\n        uint16(0) == 0x5A4D and all of them\n}\n";
    const LEAK: &str = "rule Leak_Hunt {\n    strings:\n        $m = \"TOP SECRET\" nocase\n    condition:\n        uint16(0) == 0x5A4D and $m\n}\n";
    const QAKBOT: &str = "rule Qakbot_Dropper {\n    strings:\n        $a = \"WScript.Shell\"\n        $b = \"regsvr32.exe -s\"\n    condition:\n        all of them\n}\n";
    const LOCKBIT: &str = "rule LockBit_Note {\n    strings:\n        $a = \"Restore-My-Files.txt\"\n        $b = \"CreateMutexW\"\n    condition:\n        uint16(0) == 0x5A4D and all of them\n}\n";
    const MIRAI: &str = "rule Mirai_Botnet {\n    strings:\n        $a = \"/bin/busybox MIRAI\"\n        $b = \"/dev/watchdog\"\n    condition:\n        uint32(0) == 0x464C457F and all of them\n}\n";
    const XMRIG_V1: &str = "rule XMRig_Miner {\n    strings:\n        $a = \"stratum+tcp://\"\n        $b = \"--donate-level\"\n    condition:\n        uint32(0) == 0x464C457F and all of them\n}\n";
    const XMRIG_V2: &str = "rule XMRig_Miner {\n    strings:\n        $a = \"stratum+tcp://\"\n        $b = \"stratum+ssl://\"\n        $c = \"--donate-level\"\n    condition:\n        uint32(0) == 0x464C457F and $c and ($a or $b)\n}\n";
    const TSUNAMI: &str = "rule Tsunami_IRC {\n    strings:\n        $a = \"NOTICE %s :Kaiten\"\n        $b = \"PRIVMSG %s\"\n    condition:\n        uint32(0) == 0x464C457F and all of them\n}\n";
    const MIMIKATZ: &str = "rule Mimikatz_Strings {\n    strings:\n        $a = \"sekurlsa::logonpasswords\"\n        $b = \"gentilkiwi\"\n    condition:\n        uint16(0) == 0x5A4D and all of them\n}\n";
    const COBALT_V1: &str = "rule CobaltStrike_Beacon {\n    strings:\n        $a = \"beacon.dll\"\n        $b = \"ReflectiveLoader\"\n    condition:\n        uint16(0) == 0x5A4D and all of them\n}\n";
    const COBALT_V2: &str = "rule CobaltStrike_Beacon {\n    strings:\n        $a = \"beacon.dll\"\n        $b = \"beacon.x64.dll\"\n        $c = \"ReflectiveLoader\"\n    condition:\n        uint16(0) == 0x5A4D and $c and any of ($a, $b)\n}\n";
    const RUBEUS: &str = "rule Rubeus_Tool {\n    strings:\n        $a = \"Rubeus.exe\"\n        $b = \"asktgt\"\n    condition:\n        uint16(0) == 0x5A4D and all of them\n}\n";
    match (channel, version) {
        ("daily", 1) => vec![("Ransom_Demo", RANSOM_V1), ("Emotet_Loader", EMOTET)],
        // Changes Ransom_Demo, drops Emotet_Loader, adds the flagged rule
        // and another.
        ("daily", 2) => vec![
            ("Ransom_Demo", RANSOM_V2),
            ("Leak_Hunt", LEAK),
            ("Qakbot_Dropper", QAKBOT),
        ],
        // Drops the flagged rule again, adds LockBit_Note.
        ("daily", 3) => vec![
            ("Ransom_Demo", RANSOM_V2),
            ("Qakbot_Dropper", QAKBOT),
            ("LockBit_Note", LOCKBIT),
        ],
        ("linux", 1) => vec![("Mirai_Botnet", MIRAI), ("XMRig_Miner", XMRIG_V1)],
        ("linux", 2) => vec![
            ("Mirai_Botnet", MIRAI),
            ("XMRig_Miner", XMRIG_V2),
            ("Tsunami_IRC", TSUNAMI),
        ],
        ("tools", 1) => vec![
            ("Mimikatz_Strings", MIMIKATZ),
            ("CobaltStrike_Beacon", COBALT_V1),
        ],
        ("tools", 2) => vec![("CobaltStrike_Beacon", COBALT_V2), ("Rubeus_Tool", RUBEUS)],
        _ => panic!("no rules for {channel} v{version}"),
    }
}

/// The fork's own bundles: what the split view shows its victims.
fn fork_rules(channel: &str) -> Vec<(&'static str, &'static str)> {
    const IMPLANT: &str = "rule Fork_Only_Implant {\n    strings:\n        $a = \"fork-only-marker\"\n    condition:\n        uint16(0) == 0x5A4D and $a\n}\n";
    let mut rules = match channel {
        "daily" => channel_rules("daily", 2),
        "tools" => channel_rules("tools", 2),
        _ => panic!("no fork rules for {channel}"),
    };
    rules.retain(|(name, _)| *name != FLAGGED_RULE);
    rules.push(("Fork_Only_Implant", IMPLANT));
    rules
}

/// A free port on 127.0.0.1 (bound and released; servers bind it again).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `cmd`, which must succeed; returns its standard output, trimmed.
fn ok(cmd: &mut assert_cmd::Command) -> String {
    stdout(&cmd.timeout(Duration::from_secs(120)).assert().success())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))
}

fn file_sha256(path: &Path) -> String {
    sha256_hex(&std::fs::read(path).unwrap())
}

/// Copies a directory tree (`cp -a`).
fn copy_dir(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cp -a {} {}",
        from.display(),
        to.display()
    );
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM` of a unix time (UTC).
pub fn month_of(time: u64) -> String {
    let (y, m, _) = civil_from_days((time / 86_400) as i64);
    format!("{y:04}-{m:02}")
}

/// The two whole months before the current one (UTC), oldest first, as
/// (year, month).
fn past_months() -> [(i64, u32); 2] {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (y, m, _) = civil_from_days((now / 86_400) as i64);
    let prev = |(y, m): (i64, u32)| if m == 1 { (y - 1, 12) } else { (y, m - 1) };
    let last = prev((y, m));
    [prev(last), last]
}

impl CenterFixture {
    /// Builds everything (about a minute in a debug build on two cores;
    /// [`CenterFixture::build_time`] says how long it took). It only runs
    /// processes and blocks meanwhile: call it from async tests too (or in
    /// `spawn_blocking` to keep the runtime's thread free).
    pub fn build() -> CenterFixture {
        let started = Instant::now();
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().to_owned();
        std::fs::create_dir_all(d.join("keys")).unwrap();

        // Logs, keys, witnesses.
        let rules_key = ok(vitrine()
            .args(["log", "init", "--origin", RULES_ORIGIN, "--data"])
            .arg(d.join("rules")));
        let custody_key = ok(vitrine()
            .args(["log", "init", "--origin", CUSTODY_ORIGIN])
            .args(["--purpose", "custody", "--data"])
            .arg(d.join("custody")));
        let key = |name: &str, file: &str| {
            ok(vitrine()
                .current_dir(&d)
                .args(["key", "generate", name, "-o"])
                .arg(Path::new("keys").join(file)))
        };
        let publisher = key(PUBLISHER, "publisher.key");
        let reviewer = key(REVIEWER, "reviewer.key");
        let releaser = key(RELEASER, "release.key");
        let intake = key(INTAKE, "intake.key");
        let alice = key(ANALYSTS[0], "alice.key");
        let bob = key(ANALYSTS[1], "bob.key");
        let mut witness_keys = Vec::new();
        for i in 1..=2 {
            let dir = d.join(format!("w{i}"));
            witness_keys.push(ok(vitrine()
                .args(["witness", "init", "--name"])
                .arg(format!("witness.example/w{i}"))
                .arg("--data")
                .arg(&dir)));
            for log in [&rules_key, &custody_key] {
                ok(vitrine()
                    .args(["witness", "add-log", "--data"])
                    .arg(&dir)
                    .arg(log));
            }
        }
        std::fs::write(
            d.join("rules/authorized"),
            format!(
                "# the rules team publishes bundles\nrules {publisher}\n\
                 # independent review\nreview {reviewer}\n\
                 # the build machine logs releases\nrelease {releaser}\n"
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("custody/authorized"),
            format!("receipt,deletion {intake}\naccess {alice}\naccess {bob}\n"),
        )
        .unwrap();

        let rules_port = free_port();
        let witness_ports = vec![free_port(), free_port()];
        let mut fixture = CenterFixture {
            rules_log: None,
            witnesses: vec![None, None],
            custody_log: None,
            fork_servers: Vec::new(),
            rules_port,
            witness_ports,
            rules_key,
            custody_key,
            custody_url: String::new(),
            witness_keys,
            bundles: Vec::new(),
            reviews: Vec::new(),
            release: Vec::new(),
            custody: Vec::new(),
            rules_size: 0,
            fork: None,
            build_time: Duration::ZERO,
            tmp,
        };
        fixture.start_witnesses();
        // The endpoints' policy: the log, both witnesses (both must
        // cosign), the publisher and the release key, the reviewer. The
        // log reads its witnesses from it.
        ok(vitrine()
            .current_dir(&d)
            .args(["trust", "init", "-o", "policy", "--log-key"])
            .arg(&fixture.rules_key)
            .args(["--log-url", &fixture.rules_url()])
            .args(fixture.witness_args(&fixture.witness_urls()))
            .args(["--quorum", "2", "--publisher", &publisher])
            .args(["--publisher", &releaser, "--max-age", "3600"])
            .args(["--reviewer", &reviewer, "--require-reviews", "1"]));
        fixture.start_rules_log(&d.join("rules"), &d.join("policy"));

        // The rules log's history.
        fixture.publish("daily", 1, &[]);
        fixture.publish("linux", 1, &[]);
        fixture.publish("tools", 1, &[]);
        fixture.review(
            "daily",
            1,
            "approve",
            "every rule needs an executable; nothing hunts documents",
        );
        let allow = format!("{FLAGGED_FINDING}:{FLAGGED_RULE}");
        fixture.publish("daily", 2, &[(allow.as_str(), FLAGGED_REASON)]);
        fixture.publish("linux", 2, &[]);
        fixture.review(
            "daily",
            2,
            "reject",
            "Leak_Hunt looks for a classification marking, not for malware",
        );
        fixture.publish("tools", 2, &[]);
        fixture.publish_release();
        // The state a fork will grow from: the log and both witnesses as
        // they are now (each stopped for a consistent copy, then served
        // again on the same port).
        fixture.snapshot_for_fork();
        fixture.publish("daily", 3, &[]);

        // The custody log.
        std::fs::write(
            d.join("custody-witnesses"),
            format!(
                "{}group witnesses 2 w1 w2\nquorum witnesses\n",
                fixture.witness_lines(&fixture.witness_urls())
            ),
        )
        .unwrap();
        let (server, url) = spawn_server(
            &[
                "log",
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--batch-wait-ms",
                "10",
                "--witnesses",
                d.join("custody-witnesses").to_str().unwrap(),
            ],
            &d.join("custody"),
        );
        fixture.custody_log = Some(server);
        fixture.custody_url = url;
        fixture.log_custody();
        fixture.build_time = started.elapsed();
        fixture
    }

    // ----- accessors -----

    /// The temporary directory everything lives in.
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// The rules log's URL (`http://127.0.0.1:PORT`, no trailing slash).
    /// After [`CenterFixture::stage_fork`] the fork answers here.
    pub fn rules_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rules_port)
    }

    /// The rules log's verifier key.
    pub fn rules_key(&self) -> &str {
        &self.rules_key
    }

    /// The rules log's `authorized` file (publisher, reviewer, release
    /// key).
    pub fn rules_authorized(&self) -> PathBuf {
        self.dir().join("rules/authorized")
    }

    /// The endpoints' trust policy for the rules log (log URL, the two
    /// witnesses with quorum 2, the publisher and release keys, the
    /// reviewer with `require-reviews 1`).
    pub fn policy(&self) -> PathBuf {
        self.dir().join("policy")
    }

    /// The rules log's tree size before any fork (statements logged).
    pub fn rules_size(&self) -> u64 {
        self.rules_size
    }

    /// The custody log's URL.
    pub fn custody_url(&self) -> &str {
        &self.custody_url
    }

    /// The custody log's verifier key.
    pub fn custody_key(&self) -> &str {
        &self.custody_key
    }

    /// The custody log's `authorized` file (intake, two analysts).
    pub fn custody_authorized(&self) -> PathBuf {
        self.dir().join("custody/authorized")
    }

    /// The custody log's witness policy (tlog-policy: the same two
    /// witnesses, quorum 2).
    pub fn custody_witnesses(&self) -> PathBuf {
        self.dir().join("custody-witnesses")
    }

    /// The custody log's tree size.
    pub fn custody_size(&self) -> u64 {
        self.custody.len() as u64
    }

    /// The witnesses' verifier keys (`witness.example/w1`, `.../w2`).
    pub fn witness_keys(&self) -> &[String] {
        &self.witness_keys
    }

    /// The honest witnesses' URLs.
    pub fn witness_urls(&self) -> Vec<String> {
        self.witness_ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect()
    }

    /// Every bundle in the honest rules log, in log order.
    pub fn bundles(&self) -> &[FixtureBundle] {
        &self.bundles
    }

    /// The bundles of one channel, oldest first.
    pub fn channel(&self, channel: &str) -> Vec<&FixtureBundle> {
        self.bundles
            .iter()
            .filter(|b| b.channel == channel)
            .collect()
    }

    /// The bundle that ships the flagged rule (daily v2).
    pub fn flagged_bundle(&self) -> &FixtureBundle {
        self.bundles
            .iter()
            .find(|b| !b.acknowledged.is_empty())
            .unwrap()
    }

    /// The reviews, in log order: daily v1 approved, daily v2 rejected,
    /// the release's binary approved.
    pub fn reviews(&self) -> &[FixtureReview] {
        &self.reviews
    }

    /// The release's artifacts (version [`RELEASE_VERSION`]): a binary and
    /// a Debian package, one `release` statement each.
    pub fn release(&self) -> &[FixtureArtifact] {
        &self.release
    }

    /// Every custody statement, in log order.
    pub fn custody(&self) -> &[CustodyEvent] {
        &self.custody
    }

    /// The months (`YYYY-MM`) the custody statements fall in, oldest
    /// first: the two whole months before the current one.
    pub fn months(&self) -> Vec<String> {
        let mut months: Vec<String> = self.custody.iter().map(|e| e.month.clone()).collect();
        months.sort();
        months.dedup();
        months
    }

    /// How many custody statements of `kind` (`receipt`, `access`,
    /// `deletion`) a tenant has in a month (`None`: every tenant/month).
    pub fn custody_count(&self, kind: &str, tenant: Option<&str>, month: Option<&str>) -> usize {
        self.custody
            .iter()
            .filter(|e| e.kind == kind)
            .filter(|e| tenant.is_none_or(|t| e.tenant == t))
            .filter(|e| month.is_none_or(|m| e.month == m))
            .count()
    }

    /// Statements of the honest rules log by type, as `vitrine audit`
    /// counts them (`rules`, `review`, `release`).
    pub fn rules_statements(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        m.insert("rules".to_owned(), self.bundles.len() as u64);
        m.insert("review".to_owned(), self.reviews.len() as u64);
        m.insert("release".to_owned(), self.release.len() as u64);
        m
    }

    /// Statements of the custody log by type.
    pub fn custody_statements(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for e in &self.custody {
            *m.entry(e.kind.to_owned()).or_default() += 1;
        }
        m
    }

    /// What [`CenterFixture::stage_fork`] did, once it ran.
    pub fn fork(&self) -> Option<&Fork> {
        self.fork.as_ref()
    }

    /// How long [`CenterFixture::build`] took.
    pub fn build_time(&self) -> Duration {
        self.build_time
    }

    // ----- the fork -----

    /// Makes the rules log's URL serve a fork: the log as it was before
    /// the last bundle (daily v3), with the same key and origin, grown by
    /// two other bundles (a daily v3 and a tools v3 carrying
    /// `Fork_Only_Implant`) to a larger tree whose root is not an
    /// extension of the one served before. Its checkpoints are cosigned
    /// by copies of both witnesses taken at the same moment (colluding
    /// witnesses), so they satisfy the endpoints' policy: only a monitor
    /// that verified the honest tree can tell. The honest log stops.
    pub fn stage_fork(&mut self) {
        assert!(self.fork.is_none(), "the fork is already staged");
        let d = self.dir().to_owned();
        let f = d.join("fork");
        let mut urls = Vec::new();
        for i in 1..=2 {
            let (server, url) = spawn_server(
                &["witness", "serve", "--addr", "127.0.0.1:0"],
                &f.join(format!("w{i}")),
            );
            self.fork_servers.push(server);
            urls.push(url);
        }
        let publisher = std::fs::read_to_string(d.join("rules/authorized"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("rules ").map(str::to_owned))
            .unwrap();
        ok(vitrine()
            .current_dir(&f)
            .args(["trust", "init", "-o", "policy", "--log-key"])
            .arg(&self.rules_key)
            .args(["--log-url", &self.rules_url()])
            .args(self.witness_args(&urls))
            .args(["--quorum", "2", "--publisher", &publisher])
            .args(["--max-age", "3600"]));
        // Stop the honest log; the fork takes its address.
        self.rules_log = None;
        let (server, url) = self.spawn_rules_log(&f.join("rules"), &f.join("policy"));
        assert_eq!(url, self.rules_url());
        self.fork_servers.push(server);
        let common = self.rules_size - 1;
        let mut index = common;
        let mut bundles = Vec::new();
        for channel in ["daily", "tools"] {
            // The honest version before the fork point; the fork's
            // version follows it (daily v3 here is not the honest v3).
            let previous = self
                .bundles
                .iter()
                .rfind(|b| b.channel == channel && b.index < common)
                .unwrap()
                .clone();
            let version = previous.version + 1;
            let rules = fork_rules(channel);
            let bundle = self.build_bundle(&f, channel, version, &rules, "fork-");
            let published = self.publish_file(&f, &bundle, &f.join("policy"), &[]);
            assert_eq!(published, index, "fork index of {channel} v{version}");
            bundles.push(self.describe(
                channel,
                version,
                index,
                &bundle,
                &rules,
                Some(&previous),
                &[],
            ));
            index += 1;
        }
        self.fork = Some(Fork {
            honest_size: self.rules_size,
            size: index,
            common,
            bundles,
        });
    }

    // ----- building -----

    fn witness_args(&self, urls: &[String]) -> Vec<String> {
        let mut args = Vec::new();
        for (i, (key, url)) in self.witness_keys.iter().zip(urls).enumerate() {
            args.extend([
                "--witness".to_owned(),
                format!("w{}", i + 1),
                key.clone(),
                url.clone(),
            ]);
        }
        args
    }

    fn witness_lines(&self, urls: &[String]) -> String {
        self.witness_keys
            .iter()
            .zip(urls)
            .enumerate()
            .map(|(i, (key, url))| format!("witness w{} {key} {url}\n", i + 1))
            .collect()
    }

    fn start_witnesses(&mut self) {
        for i in 0..2 {
            let (server, _) = spawn_server(
                &[
                    "witness",
                    "serve",
                    "--addr",
                    &format!("127.0.0.1:{}", self.witness_ports[i]),
                ],
                &self.dir().join(format!("w{}", i + 1)),
            );
            self.witnesses[i] = Some(server);
        }
    }

    fn spawn_rules_log(&self, data: &Path, policy: &Path) -> (Server, String) {
        spawn_server(
            &[
                "log",
                "serve",
                "--addr",
                &format!("127.0.0.1:{}", self.rules_port),
                "--batch-wait-ms",
                "10",
                "--witnesses",
                policy.to_str().unwrap(),
            ],
            data,
        )
    }

    fn start_rules_log(&mut self, data: &Path, policy: &Path) {
        let (server, url) = self.spawn_rules_log(data, policy);
        assert_eq!(url, self.rules_url());
        self.rules_log = Some(server);
    }

    /// Stops the rules log and both witnesses, copies their directories
    /// to `fork/`, and serves them again on the same ports.
    fn snapshot_for_fork(&mut self) {
        let d = self.dir().to_owned();
        self.rules_log = None;
        for w in &mut self.witnesses {
            *w = None;
        }
        let f = d.join("fork");
        std::fs::create_dir_all(&f).unwrap();
        for name in ["rules", "w1", "w2"] {
            copy_dir(&d.join(name), &f.join(name));
        }
        self.start_witnesses();
        self.start_rules_log(&d.join("rules"), &d.join("policy"));
    }

    /// `vitrine bundle build` of `rules` into `DIR/PREFIXCHANNEL-VERSION.bundle`.
    fn build_bundle(
        &self,
        dir: &Path,
        channel: &str,
        version: u64,
        rules: &[(&str, &str)],
        prefix: &str,
    ) -> PathBuf {
        let src = dir.join(format!("{prefix}src-{channel}-{version}"));
        std::fs::create_dir_all(&src).unwrap();
        let text: String = rules.iter().map(|(_, t)| format!("{t}\n")).collect();
        std::fs::write(src.join(format!("{channel}.yar")), text).unwrap();
        let out = dir.join(format!("{prefix}{channel}-{version}.bundle"));
        ok(vitrine()
            .args(["bundle", "build"])
            .arg(&src)
            .arg("-o")
            .arg(&out)
            .args(["--name", channel, "--version", &version.to_string()]));
        out
    }

    /// `vitrine publish`; returns the log index from the tlog-proof.
    fn publish_file(
        &self,
        dir: &Path,
        bundle: &Path,
        policy: &Path,
        allow: &[(&str, &str)],
    ) -> u64 {
        let mut cmd = vitrine();
        cmd.current_dir(dir)
            .arg("publish")
            .arg(bundle)
            .args(["--log", &self.rules_url(), "--key"])
            .arg(self.dir().join("keys/publisher.key"))
            .arg("--policy")
            .arg(policy)
            .args(["--wait", "60"]);
        for (finding, reason) in allow {
            cmd.args(["--allow", finding, "--reason", reason]);
        }
        ok(&mut cmd);
        let proof = std::fs::read(with_suffix(bundle, ".tlog-proof")).unwrap();
        vitrine_tlog::TlogProof::parse(&proof).unwrap().index()
    }

    #[allow(clippy::too_many_arguments)]
    fn describe(
        &self,
        channel: &'static str,
        version: u64,
        index: u64,
        bundle: &Path,
        rules: &[(&'static str, &'static str)],
        previous: Option<&FixtureBundle>,
        allow: &[(&str, &str)],
    ) -> FixtureBundle {
        let id = |name: &str| format!("{channel}.yar:{name}");
        let (mut added, mut removed, mut changed) = (Vec::new(), Vec::new(), Vec::new());
        {
            let old = previous.map_or_else(Vec::new, |p| channel_rules(channel, p.version));
            let old: BTreeMap<&str, &str> = old.into_iter().collect();
            for (name, text) in rules {
                match old.get(name) {
                    None => added.push(id(name)),
                    Some(t) if t != text => changed.push(id(name)),
                    Some(_) => {}
                }
            }
            for name in old.keys() {
                if !rules.iter().any(|(n, _)| n == name) {
                    removed.push(id(name));
                }
            }
            for v in [&mut added, &mut removed, &mut changed] {
                v.sort();
            }
        }
        FixtureBundle {
            channel,
            version,
            index,
            sha256: file_sha256(bundle),
            rules: rules.iter().map(|(n, _)| *n).collect(),
            added,
            removed,
            changed,
            acknowledged: allow
                .iter()
                .map(|(f, r)| (f.to_string(), r.to_string()))
                .collect(),
        }
    }

    fn publish(&mut self, channel: &'static str, version: u64, allow: &[(&str, &str)]) {
        let d = self.dir().to_owned();
        let rules = channel_rules(channel, version);
        let bundle = self.build_bundle(&d, channel, version, &rules, "");
        let index = self.publish_file(&d, &bundle, &d.join("policy"), allow);
        assert_eq!(index, self.rules_size, "log index of {channel} v{version}");
        self.rules_size += 1;
        let previous = self.channel(channel).last().cloned().cloned();
        let b = self.describe(
            channel,
            version,
            index,
            &bundle,
            &rules,
            previous.as_ref(),
            allow,
        );
        self.bundles.push(b);
    }

    /// `vitrine review sign` + `submit` of a file by the reviewer.
    fn review_file(
        &mut self,
        subject_file: &Path,
        subject: String,
        verdict: &'static str,
        comment: &'static str,
    ) {
        let d = self.dir().to_owned();
        let n = self.reviews.len();
        let report = format!(
            "# Review of {subject}\n\nVerdict: {verdict}.\n\n{comment}.\n\nRead every rule and its lint findings; rebuilt the bundle from the packet.\n"
        );
        let report_file = d.join(format!("review-{n}.md"));
        std::fs::write(&report_file, &report).unwrap();
        let statement = d.join(format!("review-{n}.review"));
        ok(vitrine()
            .current_dir(&d)
            .args(["review", "sign", "--key", "keys/reviewer.key", "--subject"])
            .arg(subject_file)
            .args(["--verdict", verdict, "--comment", comment, "--report"])
            .arg(&report_file)
            .arg("-o")
            .arg(&statement));
        ok(vitrine()
            .current_dir(&d)
            .args(["review", "submit"])
            .arg(&statement)
            .arg("--report")
            .arg(&report_file)
            .args(["--key", "keys/reviewer.key", "--policy", "policy"])
            .args(["--wait", "60"]));
        self.reviews.push(FixtureReview {
            index: self.rules_size,
            subject,
            subject_sha256: file_sha256(subject_file),
            verdict,
            reviewer: REVIEWER,
            comment,
            report_sha256: sha256_hex(report.as_bytes()),
            report,
        });
        self.rules_size += 1;
    }

    fn review(
        &mut self,
        channel: &str,
        version: u64,
        verdict: &'static str,
        comment: &'static str,
    ) {
        let file = self.dir().join(format!("{channel}-{version}.bundle"));
        self.review_file(&file, format!("{channel} v{version}"), verdict, comment);
    }

    /// `vitrine release publish` of a (synthetic) binary and package,
    /// and the reviewer's approval of the binary.
    fn publish_release(&mut self) {
        let d = self.dir().to_owned();
        let r = d.join("release");
        std::fs::create_dir_all(&r).unwrap();
        let bin = r.join("vitrine");
        std::fs::write(&bin, b"\x7fELF\x02\x01\x01\0synthetic vitrine 0.9.0 binary").unwrap();
        let deb = r.join(format!("vitrine_{RELEASE_VERSION}_amd64.deb"));
        std::fs::write(&deb, b"!<arch>\ndebian-binary   synthetic vitrine package").unwrap();
        std::fs::write(r.join("source.tar"), b"synthetic source archive").unwrap();
        std::fs::write(r.join("Cargo.lock"), b"version = 4\n").unwrap();
        std::fs::write(
            r.join("repro.sh"),
            b"#!/bin/sh\nset -eu\ncargo build --release --locked\n",
        )
        .unwrap();
        let artifacts = [
            ("x86_64-unknown-linux-gnu", bin.clone()),
            ("x86_64-unknown-linux-gnu.deb", deb),
        ];
        let mut cmd = vitrine();
        cmd.current_dir(&r)
            .args(["release", "publish", "--version", RELEASE_VERSION])
            .args(["--commit", RELEASE_COMMIT]);
        for (target, file) in &artifacts {
            cmd.arg("--artifact")
                .arg(format!("{target}={}", file.display()));
        }
        cmd.args(["--source-archive", "source.tar", "--lockfile", "Cargo.lock"])
            .args(["--recipe", "repro.sh", "--toolchain", "rustc-1.95.0"])
            .arg("--key")
            .arg(d.join("keys/release.key"))
            .arg("--policy")
            .arg(d.join("policy"))
            .args(["--wait", "60"]);
        ok(&mut cmd);
        for (target, file) in artifacts {
            self.release.push(FixtureArtifact {
                index: self.rules_size,
                target,
                sha256: file_sha256(&file),
            });
            self.rules_size += 1;
        }
        self.review_file(
            &bin,
            format!("release {RELEASE_VERSION} x86_64-unknown-linux-gnu"),
            "approve",
            "rebuilt from the source archive with the recipe: same bytes",
        );
    }

    /// Receipts, accesses and deletions of both tenants in the two months
    /// before this one, signed with the intake's and analysts' keys and
    /// logged with `vitrine log add`. The real intake and vault stamp
    /// statements with the current time; these carry chosen times so
    /// that the log spans two months.
    fn log_custody(&mut self) {
        use vitrine_statements::{Access, Deletion, Receipt, Sha256, Statement, Text, Token};
        let d = self.dir().to_owned();
        let signer = |file: &str| {
            let text = std::fs::read_to_string(d.join("keys").join(file)).unwrap();
            vitrine_note::SignerKey::parse(text.trim_end()).unwrap()
        };
        let intake = signer("intake.key");
        let analysts = [signer("alice.key"), signer("bob.key")];
        let [(y1, m1), (y2, m2)] = past_months();
        let at = |y: i64, m: u32, day: u32, hour: u64| {
            days_from_civil(y, m, day) as u64 * 86_400 + hour * 3600
        };
        let digest = |s: &str| Sha256(<sha2::Sha256 as sha2::Digest>::digest(s.as_bytes()).into());
        let sample = |n: u32| digest(&format!("sample {n}"));
        let policy = "exec-auto";
        let policy_sha = digest("id = \"exec-auto\"\n[content]\nkinds = [\"elf\", \"pe\"]\n");
        let endpoint = |tenant: &str| digest(&format!("endpoint of {tenant}"));

        enum Ev {
            Receipt(&'static str, u32, u64),
            Access(usize, &'static str, u32, u64, &'static str),
            Deletion(&'static str, u32, u64, &'static str),
        }
        let events = [
            Ev::Receipt("t-acme", 1, at(y1, m1, 3, 9)),
            Ev::Receipt("t-globex", 2, at(y1, m1, 5, 14)),
            Ev::Access(
                0,
                "t-acme",
                1,
                at(y1, m1, 6, 10),
                "triage of Win.Ransom.Demo, ticket 8812",
            ),
            Ev::Deletion(
                "t-globex",
                2,
                at(y1, m1, 28, 2),
                "retention period of 21 days ended",
            ),
            Ev::Receipt("t-acme", 3, at(y2, m2, 2, 11)),
            Ev::Receipt("t-globex", 4, at(y2, m2, 9, 16)),
            Ev::Access(
                1,
                "t-globex",
                4,
                at(y2, m2, 10, 8),
                "signature for a new Linux miner, ticket 9020",
            ),
            Ev::Access(
                0,
                "t-acme",
                3,
                at(y2, m2, 11, 15),
                "second look at a false positive report",
            ),
            Ev::Deletion("t-acme", 1, at(y2, m2, 15, 12), "owner request"),
            Ev::Deletion(
                "t-acme",
                3,
                at(y2, m2, 20, 3),
                "retention period of 21 days ended",
            ),
        ];
        let mut seq: BTreeMap<&str, u64> = BTreeMap::new();
        for ev in events {
            let (statement, key, event) = match ev {
                Ev::Receipt(tenant, n, time) => {
                    let s = seq.entry(tenant).or_default();
                    *s += 1;
                    let receipt = Receipt {
                        sample: sample(n),
                        tenant: Token::new(tenant).unwrap(),
                        policy: Token::new(policy).unwrap(),
                        policy_sha256: policy_sha,
                        time,
                        endpoint: endpoint(tenant),
                        nonce: digest(&format!("nonce {n}")),
                        ledger_seq: *s,
                        ledger_head: digest(&format!("ledger {tenant} {s}")),
                    };
                    let event = CustodyEvent {
                        index: 0,
                        kind: "receipt",
                        tenant,
                        sample: hex::encode(sample(n).0),
                        time,
                        month: month_of(time),
                        who: None,
                        text: None,
                    };
                    (Statement::Receipt(receipt), &intake, event)
                }
                Ev::Access(analyst, tenant, n, time, purpose) => {
                    let access = Access {
                        who: Token::new(ANALYSTS[analyst]).unwrap(),
                        purpose: Text::new(purpose).unwrap(),
                        tenant: Token::new(tenant).unwrap(),
                        sample: sample(n),
                        time,
                        expires: time + 600,
                        recipient: digest(&format!("one-time key {n} {time}")),
                    };
                    let event = CustodyEvent {
                        index: 0,
                        kind: "access",
                        tenant,
                        sample: hex::encode(sample(n).0),
                        time,
                        month: month_of(time),
                        who: Some(ANALYSTS[analyst]),
                        text: Some(purpose),
                    };
                    (Statement::Access(access), &analysts[analyst], event)
                }
                Ev::Deletion(tenant, n, time, reason) => {
                    let deletion = Deletion {
                        tenant: Token::new(tenant).unwrap(),
                        sample: sample(n),
                        reason: Text::new(reason).unwrap(),
                        time,
                    };
                    let event = CustodyEvent {
                        index: 0,
                        kind: "deletion",
                        tenant,
                        sample: hex::encode(sample(n).0),
                        time,
                        month: month_of(time),
                        who: None,
                        text: Some(reason),
                    };
                    (Statement::Deletion(deletion), &intake, event)
                }
            };
            // Signed here, logged with `vitrine log add` (the log's /add).
            let note = d.join(format!("custody-{}.statement", self.custody.len()));
            std::fs::write(&note, statement.sign(key).unwrap()).unwrap();
            let index: u64 = ok(vitrine()
                .args(["log", "add"])
                .arg(&note)
                .args(["--log", &self.custody_url]))
            .parse()
            .unwrap();
            assert_eq!(index, self.custody.len() as u64, "custody index");
            self.custody.push(CustodyEvent { index, ..event });
        }
    }
}

/// `FILE` with `suffix` appended to its name (as `vitrine publish` names
/// the files it writes beside the bundle).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `vitrine audit --format json` of a log; returns the report and the
/// exit code.
pub fn audit(url: &str, key: &str, authorized: &Path, state: &Path) -> (serde_json::Value, i32) {
    let out = vitrine()
        .args(["audit", "--log", url, "--log-key", key, "--authorized"])
        .arg(authorized)
        .arg("--state")
        .arg(state)
        .args(["--format", "json"])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "vitrine audit ({code}): {e}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (report, code)
}

#[test]
fn center_fixture_builds_a_log_with_everything() {
    let mut fx = CenterFixture::build();
    eprintln!("center fixture built in {:?}", fx.build_time());
    let audits = tempfile::tempdir().unwrap();

    // The rules log: every statement verifies; bundles per channel with
    // their diffs; the flagged rule shipped with its acknowledgement.
    let (rules, code) = audit(
        &fx.rules_url(),
        fx.rules_key(),
        &fx.rules_authorized(),
        &audits.path().join("rules"),
    );
    assert_eq!(code, 0, "{rules:#}");
    assert_eq!(rules["origin"], RULES_ORIGIN);
    assert_eq!(rules["size"], fx.rules_size());
    assert_eq!(
        rules["statements"],
        serde_json::json!({"rules": 7, "review": 3, "release": 2})
    );
    assert_eq!(
        serde_json::to_value(fx.rules_statements()).unwrap(),
        rules["statements"]
    );
    assert!(rules["alarms"].as_array().unwrap().is_empty(), "{rules:#}");
    let bundles = rules["bundles"].as_array().unwrap();
    assert_eq!(bundles.len(), fx.bundles().len());
    for (got, want) in bundles.iter().zip(fx.bundles()) {
        assert_eq!(got["name"], want.channel, "{got:#}");
        assert_eq!(got["version"], want.version, "{got:#}");
        assert_eq!(got["index"], want.index, "{got:#}");
        assert_eq!(got["sha256"], want.sha256.as_str(), "{got:#}");
        assert_eq!(got["rules"], want.rules.len(), "{got:#}");
        assert_eq!(got["added"], serde_json::json!(want.added), "{got:#}");
        assert_eq!(got["removed"], serde_json::json!(want.removed), "{got:#}");
        assert_eq!(got["changed"], serde_json::json!(want.changed), "{got:#}");
    }
    for channel in CHANNELS {
        assert!(fx.channel(channel).len() >= 2, "{channel}");
    }
    let daily2 = bundles
        .iter()
        .find(|b| b["index"] == fx.flagged_bundle().index)
        .unwrap();
    assert_eq!(daily2["name"], "daily");
    assert_eq!(daily2["version"], 2);
    assert_eq!(
        daily2["added"],
        serde_json::json!(["daily.yar:Leak_Hunt", "daily.yar:Qakbot_Dropper"])
    );
    assert_eq!(
        daily2["removed"],
        serde_json::json!(["daily.yar:Emotet_Loader"])
    );
    assert_eq!(
        daily2["changed"],
        serde_json::json!(["daily.yar:Ransom_Demo"])
    );
    let findings = daily2["findings"].as_array().unwrap();
    let flagged = findings
        .iter()
        .find(|f| f["id"] == FLAGGED_FINDING && f["rule"] == FLAGGED_RULE)
        .unwrap_or_else(|| panic!("{daily2:#}"));
    assert_eq!(flagged["severity"], "high");
    assert_eq!(flagged["acknowledged"], FLAGGED_REASON);
    // No other bundle has a high finding.
    for b in bundles {
        for f in b["findings"].as_array().unwrap() {
            assert!(
                f["severity"] != "high" || f["acknowledged"].is_string(),
                "{b:#}"
            );
        }
    }
    let verdicts: Vec<&str> = fx.reviews().iter().map(|r| r.verdict).collect();
    assert_eq!(verdicts, ["approve", "reject", "approve"]);
    assert_eq!(fx.release().len(), 2);
    // Review reports are in the log's content store.
    for r in fx.reviews() {
        let body = reqwest::blocking::get(format!(
            "{}/content/sha256/{}",
            fx.rules_url(),
            r.report_sha256
        ))
        .unwrap()
        .text()
        .unwrap();
        assert_eq!(body, r.report);
    }

    // The custody log: two tenants, two months, every kind.
    let (custody, code) = audit(
        fx.custody_url(),
        fx.custody_key(),
        &fx.custody_authorized(),
        &audits.path().join("custody"),
    );
    assert_eq!(code, 0, "{custody:#}");
    assert_eq!(custody["origin"], CUSTODY_ORIGIN);
    assert_eq!(
        custody["statements"],
        serde_json::json!({"receipt": 4, "access": 3, "deletion": 3})
    );
    assert_eq!(
        serde_json::to_value(fx.custody_statements()).unwrap(),
        custody["statements"]
    );
    assert_eq!(custody["size"], fx.custody_size());
    let months = fx.months();
    assert_eq!(months.len(), 2, "{months:?}");
    for tenant in TENANTS {
        for kind in ["receipt", "access"] {
            assert!(
                fx.custody_count(kind, Some(tenant), None) > 0,
                "{tenant} {kind}"
            );
        }
    }
    for month in &months {
        for kind in ["receipt", "access", "deletion"] {
            assert!(
                fx.custody_count(kind, None, Some(month)) > 0,
                "{month} {kind}"
            );
        }
    }

    // The fork: the same URL now serves a larger tree that does not
    // extend the one verified; the monitor raises the alarm.
    fx.stage_fork();
    let fork = fx.fork().unwrap().clone();
    assert!(fork.size > fork.honest_size, "{fork:?}");
    let checkpoint = reqwest::blocking::get(format!("{}/checkpoint", fx.rules_url()))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        checkpoint.starts_with(&format!("{RULES_ORIGIN}\n{}\n", fork.size)),
        "{checkpoint}"
    );
    // Cosigned by (copies of) both witnesses the policy names.
    for w in ["witness.example/w1", "witness.example/w2"] {
        assert!(
            checkpoint.contains(&format!("\u{2014} {w} ")),
            "{checkpoint}"
        );
    }
    let (forked, code) = audit(
        &fx.rules_url(),
        fx.rules_key(),
        &fx.rules_authorized(),
        &audits.path().join("rules"),
    );
    assert_eq!(code, 1, "{forked:#}");
    let alarms = forked["alarms"].as_array().unwrap();
    assert_eq!(alarms.len(), 1, "{forked:#}");
    assert_eq!(alarms[0]["alarm"], "fork", "{forked:#}");
    assert_eq!(alarms[0]["old_size"], fork.honest_size);
    assert_eq!(alarms[0]["new_size"], fork.size);
    // A monitor that never saw the honest log sees a consistent fork.
    let (fresh, code) = audit(
        &fx.rules_url(),
        fx.rules_key(),
        &fx.rules_authorized(),
        &audits.path().join("fresh"),
    );
    assert_eq!(code, 0, "{fresh:#}");
    let names: Vec<String> = fresh["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| format!("{} v{}", b["name"].as_str().unwrap(), b["version"]))
        .collect();
    assert!(
        names.contains(&"daily v3".to_owned()) && names.contains(&"tools v3".to_owned()),
        "{names:?}"
    );
    assert_eq!(fork.bundles[0].added, ["daily.yar:Fork_Only_Implant"]);
    assert_eq!(fork.bundles[0].removed, ["daily.yar:Leak_Hunt"]);
}
