//! Small helpers shared by subcommands.

use clap::builder::TypedValueParser as _;

/// Whether an error is a broken pipe (`vitrine scan | head`): not a failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

pub use vitrine_endpoint::config::parse_size;
pub use vitrine_endpoint::count;

/// Formats bytes for people: `1.50 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

/// Runs a server until it returns: starts the async runtime, binds `addr`,
/// prints `announce(bound address)` on standard error (tests and scripts
/// read the URL from that first line; port 0 picks a free port), then
/// awaits `serve(listener)`.
pub fn serve_http<F, Fut>(
    addr: std::net::SocketAddr,
    announce: impl FnOnce(std::net::SocketAddr) -> String,
    serve: F,
) -> anyhow::Result<()>
where
    F: FnOnce(tokio::net::TcpListener) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    use anyhow::Context;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr}"))?;
        eprintln!("{}", announce(listener.local_addr()?));
        serve(listener).await
    })
}

/// The timeouts and connection cap of a server (`vitrine_server::harden`),
/// the same flags for every `serve` command.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerLimitArgs {
    /// Seconds a client has to send a request's headers (also the longest
    /// an idle kept-alive connection waits for its next request).
    #[arg(long, value_name = "SECS", default_value_t = vitrine_server::harden::DEFAULT_HEADER_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout: u64,
    /// Seconds a request may take after its headers: its body and the answer.
    #[arg(long, value_name = "SECS", default_value_t = vitrine_server::harden::DEFAULT_BODY_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout: u64,
    /// Seconds without a byte moving either way before a connection is closed.
    #[arg(long, value_name = "SECS", default_value_t = vitrine_server::harden::DEFAULT_IDLE_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
    /// Most connections open at once; one more is answered 503 and closed.
    #[arg(long, value_name = "N", default_value_t = vitrine_server::harden::DEFAULT_MAX_CONNECTIONS, value_parser = clap::value_parser!(u64).range(1..).map(|n| n as usize))]
    pub max_connections: usize,
}

impl ServerLimitArgs {
    /// As the server's limits, with a connection cap the process's
    /// file-descriptor limit can hold (see [`connections_within_fd_limit`]).
    pub fn limits(&self) -> vitrine_server::harden::Limits {
        use std::time::Duration;
        vitrine_server::harden::Limits {
            header_timeout: Duration::from_secs(self.header_timeout),
            body_timeout: Duration::from_secs(self.body_timeout),
            idle_timeout: Duration::from_secs(self.idle_timeout),
            max_connections: connections_within_fd_limit(self.max_connections),
        }
    }
}

/// File descriptors a server keeps besides its connections (database,
/// tiles, keys, its own connections to a log or witnesses).
const FD_RESERVE: u64 = 64;

/// `wanted` connections, or fewer if the file-descriptor limit cannot
/// hold them and [`FD_RESERVE`] more even once raised to its hard limit
/// (with a warning): a server out of descriptors stops accepting and
/// cannot open its own files, while one at its cap answers 503 and keeps
/// serving.
pub fn connections_within_fd_limit(wanted: usize) -> usize {
    let need = wanted as u64 + FD_RESERVE;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we pass and nothing else.
    #[allow(unsafe_code)]
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return wanted;
    }
    if lim.rlim_cur >= need {
        return wanted;
    }
    let raised = libc::rlimit {
        rlim_cur: need.min(lim.rlim_max),
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit reads the struct we pass.
    #[allow(unsafe_code)]
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        lim.rlim_cur = raised.rlim_cur;
    }
    if lim.rlim_cur >= need {
        return wanted;
    }
    let fit = lim.rlim_cur.saturating_sub(FD_RESERVE).max(1) as usize;
    eprintln!(
        "vitrine: warning: the file-descriptor limit ({}) cannot hold --max-connections {wanted}; serving at most {fit} connections (raise the limit, e.g. LimitNOFILE=, to allow more)",
        lim.rlim_cur
    );
    fit
}

/// Resolves on Ctrl-C: the graceful-shutdown signal of the servers.
pub async fn ctrl_c() {
    let _ = tokio::signal::ctrl_c().await;
}

/// Installs the log subscriber: events at `warn` and above by default,
/// `RUST_LOG` (e.g. `RUST_LOG=debug`, `RUST_LOG=vitrine_server=debug`)
/// chooses otherwise. Logs go to standard error. Under systemd (which sets
/// `JOURNAL_STREAM`) lines carry no time stamp and no colour: the journal
/// adds its own time.
pub fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(!journald && std::io::stderr().is_terminal());
    // A second call (tests, or a library that set one) keeps the first.
    let _ = if journald {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
}

/// Runs a command and returns its standard output, or an error naming the
/// command and carrying its standard error (escaped).
pub fn command_output(program: &str, args: &[&std::ffi::OsStr]) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context as _;
    let shown = || {
        std::iter::once(program.to_owned())
            .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {}", shown()))?;
    if !out.status.success() {
        anyhow::bail!(
            "{} failed: {}",
            shown(),
            vitrine_client::escape(String::from_utf8_lossy(&out.stderr).trim())
        );
    }
    Ok(out.stdout)
}

/// `path` with `suffix` appended to its file name (`a.bundle` +
/// `.statement` = `a.bundle.statement`): the files written beside another.
pub fn with_suffix(path: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    p.into()
}

/// SHA-256 of a file, read in pieces (release binaries, bundles).
pub fn file_sha256(path: &std::path::Path) -> anyhow::Result<[u8; 32]> {
    use anyhow::Context as _;
    use sha2::Digest as _;
    let mut f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h).with_context(|| format!("reading {}", path.display()))?;
    Ok(h.finalize().into())
}

/// Writes a new file (never replacing one), durably.
pub fn write_new(path: &std::path::Path, data: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::io::Write as _;
    let mut f = vitrine_fs::create_new(path, 0o644)
        .with_context(|| format!("creating {} (it must not exist)", path.display()))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// An error and its causes on one line, `what: why: deeper why`, each
/// cause said once: many errors already include their source's text in
/// their own, and `{:#}` would repeat it (`create x: File exists: File
/// exists`).
pub fn error_text(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// A log's `authorized` file (who may log which statement types), read
/// and parsed, errors naming the file.
pub fn read_authorization(path: &std::path::Path) -> anyhow::Result<vitrine_log::Authorization> {
    use anyhow::Context;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    vitrine_log::Authorization::parse(&text).with_context(|| format!("parsing {}", path.display()))
}

/// A URL flag: `http://` or `https://` and a host, so that
/// `--log 127.0.0.1:8080` is refused with a sentence rather than the HTTP
/// client's "relative URL without a base".
pub fn http_url(s: &str) -> Result<String, String> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !s.chars().any(char::is_whitespace) => {
            Ok(s.to_owned())
        }
        _ => Err(format!(
            "`{}` is not a URL: give http:// or https:// and a host, e.g. http://127.0.0.1:8080",
            vitrine_client::escape(s)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_said_once() {
        /// An error that, like many, includes its source's text in its own.
        #[derive(Debug)]
        struct Create(std::io::Error);
        impl std::fmt::Display for Create {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "create k.key: {}", self.0)
            }
        }
        impl std::error::Error for Create {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let err = anyhow::Error::new(Create(std::io::Error::from_raw_os_error(libc::EEXIST)))
            .context("writing the key");
        // What `{:#}` printed before: the cause twice.
        assert_eq!(format!("{err:#}").matches("File exists").count(), 2);
        assert_eq!(
            error_text(&err),
            "writing the key: create k.key: File exists (os error 17)"
        );
    }

    #[test]
    fn urls_need_a_scheme_and_a_host() {
        assert!(http_url("http://127.0.0.1:8080").is_ok());
        assert!(http_url("https://log.example/rules").is_ok());
        for bad in [
            "127.0.0.1:8080",
            "http://",
            "ftp://x",
            "http:///x",
            "http://a b",
        ] {
            let e = http_url(bad).unwrap_err();
            assert!(e.contains("http://"), "{bad}: {e}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("1k"), Ok(1024));
        assert_eq!(parse_size("100M"), Ok(100 << 20));
        assert!(parse_size("1X").is_err());
        assert!(parse_size("").is_err());
        assert_eq!(human_bytes(1536), "1.50 KiB");
    }
}
