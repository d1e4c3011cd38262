//! Helpers shared by the CLI tests.

/// SHA-256 of the 68-byte EICAR test file.
pub const EICAR_SHA256: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";

/// The EICAR test file, assembled at run time so the repository never
/// holds it whole.
pub fn eicar() -> Vec<u8> {
    let mut v = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$".to_vec();
    v.extend_from_slice(b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*");
    v
}

/// The built binary, with its default state directory (scan cache,
/// quarantine, active bundle) in a temporary directory of this test
/// process rather than the user's home. Tests that need their own state
/// pass `--state` or set `VITRINE_STATE` again.
pub fn vitrine() -> assert_cmd::Command {
    static STATE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let state = STATE.get_or_init(|| tempfile::tempdir().expect("a temporary directory"));
    let mut cmd = assert_cmd::Command::cargo_bin("vitrine").expect("the vitrine binary is built");
    cmd.env("VITRINE_STATE", state.path().join("state"));
    cmd
}

/// A server process started by a test; killed when dropped.
pub struct Server(pub std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `vitrine ARGS --data DATA` and returns it with the URL it prints
/// on standard error (after any warnings).
pub fn spawn_server(args: &[&str], data: &std::path::Path) -> (Server, String) {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("vitrine"));
    cmd.args(args).arg("--data").arg(data);
    spawn_announcing(cmd)
}

/// Starts a server and returns it with the first URL it prints on
/// standard error (after any warnings).
pub fn spawn_announcing(mut cmd: std::process::Command) -> (Server, String) {
    use std::io::BufRead;
    let mut child = cmd.stderr(std::process::Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    let mut reader = std::io::BufReader::new(stderr);
    let mut seen = String::new();
    let url = loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("no URL in {seen:?}");
        }
        if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
            break url.to_owned();
        }
        seen.push_str(&line);
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in reader.lines() {});
    (server, url)
}

/// A command's standard output, trimmed.
pub fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout)
        .trim()
        .to_owned()
}

/// `vitrine log init` in `d/log` with `origin`, and a publisher key
/// `d/p.key` named `publisher`, authorised to log `rules` statements.
/// Returns the log's and the publisher's verifier keys.
pub fn log_with_publisher(d: &std::path::Path, origin: &str, publisher: &str) -> (String, String) {
    log_with_publisher_on(d, origin, publisher, &[])
}

/// [`log_with_publisher`] with more `log init` arguments, e.g.
/// `--postgres URL`.
pub fn log_with_publisher_on(
    d: &std::path::Path,
    origin: &str,
    publisher: &str,
    init: &[&str],
) -> (String, String) {
    let log_vkey = stdout(
        &vitrine()
            .args(["log", "init", "--origin", origin, "--data"])
            .arg(d.join("log"))
            .args(init)
            .assert()
            .success(),
    );
    let pub_vkey = stdout(
        &vitrine()
            .current_dir(d)
            .args(["key", "generate", publisher, "-o", "p.key"])
            .assert()
            .success(),
    );
    std::fs::write(d.join("log/authorized"), format!("rules {pub_vkey}\n")).unwrap();
    (log_vkey, pub_vkey)
}

pub use vitrine_log::TestDatabase;
