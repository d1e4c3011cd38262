//! The endpoint's state directory: where it is, what it says needs the
//! owner, and the record of the last update.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use vitrine_client::{escape, EndpointState};

/// The system's endpoint state: where the service (`vitrine daemon`, or
/// root's `vitrine update`) keeps the verified bundle every user's scan
/// falls back to. `VITRINE_SYSTEM_STATE` overrides it.
pub fn system_state_dir() -> PathBuf {
    std::env::var_os("VITRINE_SYSTEM_STATE")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("/var/lib/vitrine"), PathBuf::from)
}

/// The name of the service user: like root, it uses the system state.
pub const SERVICE_USER: &str = "vitrine";

/// Whether this process runs as root or as the service user.
pub fn is_system_user() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    // The user database is read once per process: every command asks for
    // the state directory several times.
    static SERVICE_UID: std::sync::OnceLock<Option<libc::uid_t>> = std::sync::OnceLock::new();
    euid == 0 || *SERVICE_UID.get_or_init(service_uid) == Some(euid)
}

/// The uid of the service user, if the system has one.
fn service_uid() -> Option<libc::uid_t> {
    let name = std::ffi::CString::new(SERVICE_USER).expect("invariant: no NUL");
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; buf outlives it and
    // getpwnam_r writes no more than buf.len() bytes into it.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some(pwd.pw_uid)
}

/// The default endpoint state directory and why it is that one:
/// `VITRINE_STATE`, else the configuration's `state`, else the system's
/// for root and the service user, else `$XDG_DATA_HOME/vitrine`, else
/// `~/.local/share/vitrine`.
pub fn default_state_dir_why() -> Result<(PathBuf, &'static str)> {
    if let Some(d) = std::env::var_os("VITRINE_STATE").filter(|d| !d.is_empty()) {
        return Ok((PathBuf::from(d), "VITRINE_STATE"));
    }
    if let Some(d) = &crate::config::current().state {
        return Ok((d.0.clone(), "the configuration's `state`"));
    }
    if is_system_user() {
        return Ok((
            system_state_dir(),
            "the system's: this runs as root or as the service user",
        ));
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok((PathBuf::from(d).join("vitrine"), "$XDG_DATA_HOME/vitrine"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(h) => Ok((
            PathBuf::from(h).join(".local/share/vitrine"),
            "~/.local/share/vitrine",
        )),
        None => bail!(
            "no --state given and neither VITRINE_STATE, the configuration's `state`, \
             XDG_DATA_HOME nor HOME is set"
        ),
    }
}

/// The default endpoint state directory (see [`default_state_dir_why`]).
pub fn default_state_dir() -> Result<PathBuf> {
    default_state_dir_why().map(|(d, _)| d)
}

/// `given`, else the default state directory.
pub fn state_dir(given: Option<&Path>) -> Result<PathBuf> {
    given.map_or_else(default_state_dir, |d| Ok(d.to_owned()))
}

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A date people and programs can read, in ISO 8601 (UTC):
/// `2026-11-30T15:42:08Z`.
pub fn human_time(t: u64) -> String {
    let days = (t / 86_400) as i64;
    let secs = t % 86_400;
    // Civil from days (H. Hinnant), proleptic Gregorian.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Where the outcome of the last update (`vitrine update` or the
/// daemon's schedule) is recorded in the state directory.
const UPDATE_RECORD: &str = "last-update.json";

#[derive(serde::Serialize, serde::Deserialize)]
struct UpdateRecord {
    /// Unix seconds.
    at: u64,
    /// Who ran it.
    by: String,
    ok: bool,
    message: String,
}

/// Records how an update ended, so `vitrine status` and `scan` can say
/// why the last one failed until one succeeds. A failure to record is
/// logged, not fatal: the update's own outcome stands.
pub fn record_outcome(state: &Path, by: &str, ok: bool, message: &str) {
    let record = UpdateRecord {
        at: now(),
        by: by.to_owned(),
        ok,
        message: message.to_owned(),
    };
    let path = state.join(UPDATE_RECORD);
    let written = serde_json::to_vec_pretty(&record)
        .map_err(std::io::Error::other)
        .and_then(|b| vitrine_fs::write_atomic(&path, &b, 0o644).map_err(std::io::Error::other));
    if let Err(e) = written {
        tracing::error!(error = %e, path = %path.display(), "recording the update outcome");
    }
}

/// The warning `vitrine status` and `scan` show while the last update
/// failed or was refused.
pub fn last_update_warning(state: &Path) -> Option<String> {
    let bytes = std::fs::read(state.join(UPDATE_RECORD)).ok()?;
    let r: UpdateRecord = serde_json::from_slice(&bytes).ok()?;
    (!r.ok).then(|| {
        format!(
            "{} failed at {}: {}; the active rules stay in use",
            escape(&r.by),
            human_time(r.at),
            escape(&r.message)
        )
    })
}

/// What needs the owner's attention in a state directory: the last
/// update's failure, standing fork evidence and an expired active bundle.
/// For `status` and `scan`.
pub fn state_warnings(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if let Some(w) = last_update_warning(dir) {
        out.push(w);
    }
    // Not an endpoint state (yet): nothing to say, and nothing created.
    if !dir.join("forks").is_dir() && !dir.join("active").exists() && !dir.join("channels").is_dir()
    {
        return Ok(out);
    }
    let state = EndpointState::open(dir)?;
    for r in state.fork_records()? {
        if r.cleared_at.is_none() {
            out.push(format!(
                "fork evidence for log {} ({}): updates from it are frozen; see `vitrine trust forks show {}`",
                escape(&r.evidence.origin),
                r.evidence.kind,
                r.id
            ));
        }
    }
    for a in state.actives()? {
        let m = a.metadata;
        if m.expires <= now() {
            out.push(format!(
                "the active bundle {} v{} expired at {}; {}; run `vitrine update`",
                escape(&m.name),
                m.version,
                human_time(m.expires),
                match m.on_expiry {
                    vitrine_client::OnExpiry::Keep => "scans still use it (policy on-expiry keep)",
                    vitrine_client::OnExpiry::Builtin =>
                        "scans use the unverified built-in set instead (policy on-expiry builtin)",
                }
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::human_time;

    #[test]
    fn dates_are_iso_8601_utc() {
        assert_eq!(human_time(0), "1970-01-01T00:00:00Z");
        // A leap day, and the end of a day.
        assert_eq!(human_time(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(human_time(1_796_077_378), "2026-11-30T22:22:58Z");
    }
}
