//! The system configuration: `/etc/vitrine/vitrine.toml`.
//!
//! One strict TOML file that every command reads, so that root's update,
//! the daemon and every user's scan agree on the state directory, the
//! trust policy, the scan limits and the owner's allowlist. A flag given
//! on the command line wins over the file. Unknown keys, values of the
//! wrong type and invalid values are errors that name the file, the line
//! and the key; a missing file at the default place means "all defaults",
//! a missing file named with `--config` or `VITRINE_CONFIG` is an error.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

/// Where the configuration is read from when neither `--config` nor
/// `VITRINE_CONFIG` names a file.
pub const DEFAULT_PATH: &str = "/etc/vitrine/vitrine.toml";

/// The environment variable naming the configuration file.
pub const ENV: &str = "VITRINE_CONFIG";

/// Why a configuration cannot be used. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named explicitly does not exist or cannot be read.
    #[error("cannot read the configuration {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not TOML, an unknown key, a value of the wrong type or an invalid
    /// value; `message` holds the line, the column and the key.
    #[error("invalid configuration {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The whole file. Every key is optional.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// The endpoint state directory (verified bundles, scan cache,
    /// quarantine) [default: /var/lib/vitrine for root and the `vitrine`
    /// user, else each user's own].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<AbsPath>,
    /// The trust policy `vitrine update` and the daemon's scheduled
    /// updates follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<AbsPath>,
    #[serde(default, skip_serializing_if = "Scan::is_empty")]
    pub scan: Scan,
    #[serde(default, skip_serializing_if = "Allow::is_empty")]
    pub allow: Allow,
    #[serde(default, skip_serializing_if = "Update::is_empty")]
    pub update: Update,
    #[serde(default, skip_serializing_if = "Daemon::is_empty")]
    pub daemon: Daemon,
    #[serde(default, skip_serializing_if = "OnAccess::is_empty")]
    pub on_access: OnAccess,
}

/// `[scan]`: defaults of `vitrine scan` (and of the daemon where it has
/// the same setting).
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Scan {
    /// Scanning threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<Positive>,
    /// Files larger than this are skipped: bytes, or "512K", "100M", "2G";
    /// 0 means no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_filesize: Option<Size>,
    /// Per-file time limit for rule matching, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Positive>,
    /// Globs of paths never scanned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Regular expressions of directories never entered (ClamAV's
    /// ExcludePath).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_dir: Vec<String>,
    /// Containers nested deeper than this are not opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_depth: Option<u32>,
    /// Members read from one file's containers, in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_members: Option<Positive>,
    /// Bytes decompressed from one file's containers, in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_scansize: Option<Size>,
    /// Decompressed size of one member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_member_size: Option<Size>,
    /// How many times its size a container may expand to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ratio: Option<Positive>,
}

/// `[allow]`: the owner's allowlist, for every scan and the daemon,
/// added to `STATE/allowlist` and to what a command line gives.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Allow {
    /// SHA-256 of files never reported (ClamAV's `.fp`/`.sfp`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sha256: Vec<Sha256Hex>,
    /// Detection names never reported (ClamAV's `.ign2`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Allowlist files (lines `sha256 HEX`, `name DETECTION`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<AbsPath>,
}

/// `[update]`: `vitrine update` and the daemon's schedule.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Update {
    /// The log to fetch from [default: the policy's `log` line].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<HttpUrl>,
    /// The whole update ends after this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Positive>,
    /// One request ends after this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Positive>,
    /// The daemon updates every this many seconds (give or take 10%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Positive>,
}

/// `[daemon]`: `vitrine daemon`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Daemon {
    /// The Unix socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<AbsPath>,
    /// Its mode, octal as a string: "660".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_mode: Option<Mode>,
    /// Also listen on this loopback TCP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<Loopback>,
    /// Connections served at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_threads: Option<Positive>,
    /// Connections waiting beyond those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_queue: Option<u32>,
    /// INSTREAM limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_max_length: Option<Size>,
    /// Files larger than this are not scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_filesize: Option<Size>,
    /// Seconds a client may stay silent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_timeout: Option<Positive>,
}

/// `[on-access]`: the daemon's on-access scanning.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OnAccess {
    /// Trees watched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<AbsPath>,
    /// "block" or "notify".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<OnAccessMode>,
    /// "open" or "closed": the answer when a file cannot be scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail: Option<FailMode>,
    /// Seconds an open waits for its scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Positive>,
    /// Globs never scanned on access.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// "auto", "fanotify" or "inotify" (notification only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<OnAccessBackend>,
    /// Threads answering on-access events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<Positive>,
}

/// `[on-access] backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnAccessBackend {
    Auto,
    Fanotify,
    Inotify,
}

/// `[on-access] mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnAccessMode {
    Block,
    Notify,
}

/// `[on-access] fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    Open,
    Closed,
}

macro_rules! is_empty {
    ($($t:ty),*) => {$(
        impl $t {
            fn is_empty(&self) -> bool {
                *self == Self::default()
            }
        }
    )*};
}
is_empty!(Scan, Allow, Update, Daemon, OnAccess);

/// An absolute path: a system configuration must not depend on the
/// directory a command happens to run in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AbsPath(pub PathBuf);

impl<'de> Deserialize<'de> for AbsPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = PathBuf::deserialize(d)?;
        if !p.is_absolute() {
            return Err(serde::de::Error::custom(format!(
                "`{}` is not an absolute path",
                p.display()
            )));
        }
        Ok(AbsPath(p))
    }
}

impl AbsPath {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// A whole number of at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Positive(pub u64);

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u64::deserialize(d)? {
            0 => Err(serde::de::Error::custom("must be at least 1")),
            n => Ok(Positive(n)),
        }
    }
}

/// A size: a number of bytes, or a string with a K, M or G suffix
/// (powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(u64),
            Text(String),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom("expected a number of bytes or a size such as \"100M\"")
        })? {
            Raw::Bytes(n) => Ok(Size(n)),
            Raw::Text(s) => parse_size(&s).map(Size).map_err(serde::de::Error::custom),
        }
    }
}

/// Parses a byte size such as `100M`, `2G`, `512K` or `4096` (powers of
/// 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("unknown size suffix `{c}` (use K, M, G or T)")),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (examples: 4096, 512K, 100M, 2G)"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

/// A file mode in octal, as a string: "660".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(pub u32);

impl Serialize for Mode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:o}", self.0))
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match u32::from_str_radix(&s, 8) {
            Ok(m) if m <= 0o777 && !s.is_empty() => Ok(Mode(m)),
            _ => Err(serde::de::Error::custom(format!(
                "`{s}` is not an octal file mode such as \"660\""
            ))),
        }
    }
}

/// A TCP address on the loopback interface: the clamd protocol has no
/// authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Loopback(pub SocketAddr);

impl<'de> Deserialize<'de> for Loopback {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let a: SocketAddr = s.parse().map_err(|_| {
            serde::de::Error::custom(format!(
                "`{s}` is not an address such as \"127.0.0.1:3310\""
            ))
        })?;
        if !a.ip().is_loopback() {
            return Err(serde::de::Error::custom(format!(
                "`{s}` is not a loopback address: the clamd protocol has no authentication"
            )));
        }
        Ok(Loopback(a))
    }
}

/// An `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct HttpUrl(pub String);

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let rest = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !s.chars().any(char::is_whitespace) => Ok(HttpUrl(s)),
            _ => Err(serde::de::Error::custom(format!(
                "`{s}` is not a URL starting with http:// or https://"
            ))),
        }
    }
}

/// A SHA-256 in hexadecimal (64 digits), kept in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Sha256Hex(pub String);

impl<'de> Deserialize<'de> for Sha256Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(serde::de::Error::custom(format!(
                "`{s}` is not a SHA-256 (64 hexadecimal digits)"
            )));
        }
        Ok(Sha256Hex(s.to_ascii_lowercase()))
    }
}

/// Where the configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Located {
    pub path: PathBuf,
    /// Named by `--config` or `VITRINE_CONFIG` (then it must exist).
    pub explicit: bool,
}

impl Located {
    /// `explicit` (from `--config`), else `VITRINE_CONFIG`, else
    /// [`DEFAULT_PATH`].
    pub fn find(explicit: Option<&Path>) -> Located {
        if let Some(p) = explicit {
            return Located {
                path: p.to_owned(),
                explicit: true,
            };
        }
        match std::env::var_os(ENV).filter(|v| !v.is_empty()) {
            Some(p) => Located {
                path: PathBuf::from(p),
                explicit: true,
            },
            None => Located {
                path: PathBuf::from(DEFAULT_PATH),
                explicit: false,
            },
        }
    }
}

impl Config {
    /// Parses a configuration's text; errors say the line, column and key.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            message: one_paragraph(&e),
        })
    }

    /// Reads the configuration at `at`. A missing file is all defaults
    /// unless it was named explicitly; returns whether the file exists.
    pub fn load(at: &Located) -> Result<(Config, bool), ConfigError> {
        match std::fs::read_to_string(&at.path) {
            Ok(text) => Ok((Config::parse(&at.path, &text)?, true)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !at.explicit => {
                Ok((Config::default(), false))
            }
            Err(source) => Err(ConfigError::Read {
                path: at.path.clone(),
                source,
            }),
        }
    }

    /// The file as TOML (only the keys set).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("invariant: the configuration serializes")
    }
}

/// toml's message is several lines (a snippet of the file with a caret);
/// keep it, but as `line N, column M: what` first.
fn one_paragraph(e: &toml::de::Error) -> String {
    let full = e.to_string();
    let what = e.message();
    // "TOML parse error at line 3, column 1" is the first line.
    let at = full
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("TOML parse error at "))
        .unwrap_or("");
    // The snippet of the file with a caret, without the message toml
    // repeats after it.
    let mut snippet: Vec<&str> = full.lines().skip(1).collect();
    let message_lines = what.lines().count();
    if snippet.len() >= message_lines
        && snippet[snippet.len() - message_lines..].join("\n") == what.trim_end()
    {
        snippet.truncate(snippet.len() - message_lines);
    }
    if at.is_empty() {
        what.to_owned()
    } else {
        format!("{at}: {what}\n{}", snippet.join("\n"))
            .trim_end()
            .to_owned()
    }
}

/// The configuration of this process, set once by `main`; commands that
/// run before it is set (tests of library code) see the defaults.
static CURRENT: std::sync::OnceLock<(Located, Config, bool)> = std::sync::OnceLock::new();

/// Sets this process's configuration (once; later calls are ignored).
pub fn set_current(at: Located, config: Config, exists: bool) {
    let _ = CURRENT.set((at, config, exists));
}

/// This process's configuration.
pub fn current() -> &'static Config {
    static DEFAULT: std::sync::OnceLock<Config> = std::sync::OnceLock::new();
    match CURRENT.get() {
        Some((_, c, _)) => c,
        None => DEFAULT.get_or_init(Config::default),
    }
}

/// Where this process's configuration came from, and whether the file
/// exists.
pub fn current_source() -> Option<(&'static Located, bool)> {
    CURRENT.get().map(|(l, _, e)| (l, *e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/vitrine/vitrine.toml"), text)
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn a_full_file_parses_and_round_trips() {
        let text = r#"
state = "/var/lib/vitrine"
policy = "/etc/vitrine/policy"

[scan]
threads = 4
max-filesize = "50M"
timeout = 30
exclude = ["*.iso"]
exclude-dir = ["^/srv/cache"]
max-depth = 8
max-members = 1000
max-scansize = "200M"
max-member-size = 1048576
max-ratio = 100

[allow]
sha256 = ["275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F"]
names = ["Eicar_Test_File"]
files = ["/etc/vitrine/allowlist"]

[update]
log = "https://log.example/rules"
deadline = 120
timeout = 20
every = 3600

[daemon]
socket = "/run/vitrine/clamd.sock"
socket-mode = "660"
tcp = "127.0.0.1:3310"
max-threads = 8
max-queue = 50
stream-max-length = "25M"
max-filesize = "100M"
read-timeout = 30

[on-access]
paths = ["/home", "/srv"]
mode = "notify"
fail = "closed"
timeout = 5
exclude = ["**/.cache/**"]
backend = "inotify"
threads = 2
"#;
        let c = parse(text).unwrap();
        assert_eq!(
            c.state.as_ref().unwrap().path(),
            Path::new("/var/lib/vitrine")
        );
        assert_eq!(c.scan.max_filesize, Some(Size(50 << 20)));
        assert_eq!(c.scan.max_member_size, Some(Size(1 << 20)));
        assert_eq!(c.daemon.socket_mode, Some(Mode(0o660)));
        assert_eq!(c.on_access.mode, Some(OnAccessMode::Notify));
        assert_eq!(c.on_access.fail, Some(FailMode::Closed));
        assert_eq!(c.on_access.backend, Some(OnAccessBackend::Inotify));
        // Hashes are kept in lower case.
        assert_eq!(
            c.allow.sha256[0].0,
            "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
        );
        // What `config show` prints parses back to the same configuration.
        assert_eq!(parse(&c.to_toml()).unwrap(), c);
        // An empty file is all defaults, and shows as nothing.
        assert_eq!(parse("").unwrap(), Config::default());
        assert_eq!(Config::default().to_toml(), "");
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_line_and_key() {
        let e = error("state = \"/var/lib/vitrine\"\n\n[scan]\nthreds = 4\n");
        assert!(e.contains("/etc/vitrine/vitrine.toml"), "{e}");
        assert!(e.contains("line 4"), "{e}");
        assert!(e.contains("threds"), "{e}");
        let e = error("[scanner]\n");
        assert!(e.contains("line 1") && e.contains("scanner"), "{e}");
    }

    #[test]
    fn bad_values_are_errors_naming_the_line() {
        for (text, line, says) in [
            (
                "state = \"var/lib/vitrine\"",
                "line 1",
                "not an absolute path",
            ),
            ("[scan]\nthreads = 0", "line 2", "at least 1"),
            ("[scan]\nthreads = \"four\"", "line 2", "invalid type"),
            (
                "[scan]\nmax-filesize = \"10Q\"",
                "line 2",
                "unknown size suffix",
            ),
            ("[daemon]\nsocket-mode = \"999\"", "line 2", "octal"),
            (
                "[daemon]\ntcp = \"0.0.0.0:3310\"",
                "line 2",
                "not a loopback",
            ),
            ("[update]\nlog = \"log.example\"", "line 2", "http://"),
            ("[allow]\nsha256 = [\"abc\"]", "line 2", "SHA-256"),
            ("[on-access]\nmode = \"deny\"", "line 2", "block"),
            ("state = ", "line 1", ""),
        ] {
            let e = error(text);
            assert!(e.contains(line) && e.contains(says), "{text:?}: {e}");
        }
    }

    #[test]
    fn a_missing_file_is_defaults_only_when_not_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("vitrine.toml");
        let implicit = Located {
            path: missing.clone(),
            explicit: false,
        };
        assert_eq!(Config::load(&implicit).unwrap(), (Config::default(), false));
        let named = Located {
            path: missing,
            explicit: true,
        };
        let e = Config::load(&named).unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }), "{e}");
        assert!(e.to_string().contains("vitrine.toml"), "{e}");
    }

    #[test]
    fn the_packaged_example_parses_and_sets_nothing() {
        // Every line of it is a comment: installing it changes no default.
        let text = include_str!("../../../packaging/vitrine.toml");
        assert_eq!(parse(text).unwrap(), Config::default());
        // Each commented setting, uncommented, is checked against the real
        // command line in the CLI's `every_setting_becomes_a_flag_default`.
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }
}
