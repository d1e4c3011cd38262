//! The clamd protocol, as ClamAV's clients speak it (`clamd(8)`,
//! "COMMANDS"): commands prefixed with `z` (ended by a NUL byte) or `n`
//! (ended by a newline), or unprefixed and ended by a newline; `INSTREAM`
//! chunks (`<u32 big-endian length><data>`, ended by a zero length); and
//! the reply formats (`PATH: OK`, `PATH: NAME FOUND`, `PATH: MESSAGE
//! ERROR`, `ID: REPLY` inside `IDSESSION`).
//!
//! Everything here reads untrusted bytes from a socket: lengths are
//! bounded, nothing is allocated beyond a limit, and an unknown or
//! malformed command is an error that names what was wrong (with the
//! client's bytes escaped).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::ffi::OsString;
use std::io::{BufRead, Read};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// How a command (and so its reply) is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delim {
    /// `z` prefix: ended by a NUL byte.
    Nul,
    /// `n` prefix, or no prefix: ended by a newline.
    Newline,
}

impl Delim {
    /// The delimiter byte.
    pub fn byte(self) -> u8 {
        match self {
            Delim::Nul => 0,
            Delim::Newline => b'\n',
        }
    }
}

/// A clamd command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `PING`: replies `PONG`.
    Ping,
    /// `VERSION`.
    Version,
    /// `VERSIONCOMMANDS`: the version and the commands understood.
    VersionCommands,
    /// `RELOAD`: reload the rules; replies `RELOADING`.
    Reload,
    /// `SHUTDOWN`: a clean exit, no reply.
    Shutdown,
    /// `SCAN PATH`: stop at the first detection.
    Scan(PathBuf),
    /// `CONTSCAN PATH`: report every infected file.
    ContScan(PathBuf),
    /// `MULTISCAN PATH`: like `CONTSCAN`, with several threads.
    MultiScan(PathBuf),
    /// `ALLMATCHSCAN PATH`: every match of every file.
    AllMatchScan(PathBuf),
    /// `INSTREAM`: chunks follow.
    InStream,
    /// `FILDES`: a file descriptor follows as ancillary data.
    Fildes,
    /// `STATS`.
    Stats,
    /// `IDSESSION`: commands until `END` on one connection.
    IdSession,
    /// `END`.
    End,
}

impl Command {
    /// The command's name as clamd spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Ping => "PING",
            Command::Version => "VERSION",
            Command::VersionCommands => "VERSIONCOMMANDS",
            Command::Reload => "RELOAD",
            Command::Shutdown => "SHUTDOWN",
            Command::Scan(_) => "SCAN",
            Command::ContScan(_) => "CONTSCAN",
            Command::MultiScan(_) => "MULTISCAN",
            Command::AllMatchScan(_) => "ALLMATCHSCAN",
            Command::InStream => "INSTREAM",
            Command::Fildes => "FILDES",
            Command::Stats => "STATS",
            Command::IdSession => "IDSESSION",
            Command::End => "END",
        }
    }

    /// Whether clamd accepts the command inside an `IDSESSION`.
    pub fn allowed_in_session(&self) -> bool {
        !matches!(
            self,
            Command::ContScan(_)
                | Command::MultiScan(_)
                | Command::AllMatchScan(_)
                | Command::Reload
                | Command::Shutdown
                | Command::IdSession
        )
    }
}

/// Every command this implementation understands, for `VERSIONCOMMANDS`.
pub const COMMANDS: &str = "SCAN QUIT RELOAD PING CONTSCAN VERSIONCOMMANDS VERSION END SHUTDOWN MULTISCAN FILDES STATS IDSESSION INSTREAM ALLMATCHSCAN";

/// One command with its delimiter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// How it was delimited (replies use the same).
    pub delim: Delim,
    /// Whether it had a `z` or `n` prefix.
    pub prefixed: bool,
    /// The command.
    pub command: Command,
}

/// Why a command was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// Longer than the limit before its delimiter.
    #[error("command longer than {limit} bytes")]
    TooLong {
        /// The limit.
        limit: usize,
    },
    /// The connection ended in the middle of a command.
    #[error("connection closed in the middle of a command")]
    Truncated,
    /// Not a command clamd knows.
    #[error("UNKNOWN COMMAND")]
    Unknown {
        /// The command, escaped.
        shown: String,
    },
    /// A scan command without an absolute path.
    #[error("{command}: an absolute path is required")]
    NeedsPath {
        /// The command.
        command: &'static str,
    },
    /// An argument given to a command that takes none.
    #[error("{command} takes no argument")]
    UnexpectedArgument {
        /// The command.
        command: &'static str,
    },
    /// A command that must be prefixed with `z` or `n`.
    #[error("{command} must be prefixed with z or n")]
    NeedsPrefix {
        /// The command.
        command: &'static str,
    },
}

/// Escapes bytes a client sent for logs and replies: printable ASCII is
/// kept, everything else (control characters, escape sequences, invalid
/// UTF-8) becomes `\xNN`.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

/// Reads one command from `r`, at most `limit` bytes long. `Ok(None)` at a
/// clean end of the connection (before any byte of a command).
pub fn read_request<R: BufRead>(
    r: &mut R,
    limit: usize,
) -> std::io::Result<Option<Result<Request, ParseError>>> {
    let first = match r.fill_buf()?.first() {
        None => return Ok(None),
        Some(&b) => b,
    };
    let (delim, prefixed) = match first {
        b'z' => (Delim::Nul, true),
        b'n' => (Delim::Newline, true),
        _ => (Delim::Newline, false),
    };
    if prefixed {
        r.consume(1);
    }
    let mut line = Vec::new();
    let n = r
        .take(limit as u64 + 1)
        .read_until(delim.byte(), &mut line)?;
    if line.last() == Some(&delim.byte()) {
        line.pop();
    } else if n > limit {
        return Ok(Some(Err(ParseError::TooLong { limit })));
    } else {
        return Ok(Some(Err(ParseError::Truncated)));
    }
    Ok(Some(parse(&line, delim, prefixed)))
}

/// Parses one command (without its prefix and delimiter).
pub fn parse(line: &[u8], delim: Delim, prefixed: bool) -> Result<Request, ParseError> {
    // An unprefixed command may end in CR LF (telnet, netcat).
    let line = if !prefixed {
        line.strip_suffix(b"\r").unwrap_or(line)
    } else {
        line
    };
    let (word, arg) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], Some(&line[i + 1..])),
        None => (line, None),
    };
    let path = |command: &'static str| -> Result<PathBuf, ParseError> {
        match arg {
            Some(a) if a.first() == Some(&b'/') && !a.contains(&0) => {
                Ok(PathBuf::from(OsString::from_vec(a.to_vec())))
            }
            _ => Err(ParseError::NeedsPath { command }),
        }
    };
    let command = match word {
        b"SCAN" => Command::Scan(path("SCAN")?),
        b"CONTSCAN" => Command::ContScan(path("CONTSCAN")?),
        b"MULTISCAN" => Command::MultiScan(path("MULTISCAN")?),
        b"ALLMATCHSCAN" => Command::AllMatchScan(path("ALLMATCHSCAN")?),
        b"PING" => Command::Ping,
        b"VERSION" => Command::Version,
        b"VERSIONCOMMANDS" => Command::VersionCommands,
        b"RELOAD" => Command::Reload,
        b"SHUTDOWN" => Command::Shutdown,
        b"INSTREAM" => Command::InStream,
        b"FILDES" => Command::Fildes,
        b"STATS" => Command::Stats,
        b"IDSESSION" => Command::IdSession,
        b"END" => Command::End,
        _ => {
            return Err(ParseError::Unknown {
                shown: escape(line),
            })
        }
    };
    let takes_arg = matches!(
        command,
        Command::Scan(_) | Command::ContScan(_) | Command::MultiScan(_) | Command::AllMatchScan(_)
    );
    if !takes_arg && arg.is_some() {
        return Err(ParseError::UnexpectedArgument {
            command: command.name(),
        });
    }
    let needs_prefix = matches!(
        command,
        Command::AllMatchScan(_)
            | Command::InStream
            | Command::IdSession
            | Command::VersionCommands
    );
    if needs_prefix && !prefixed {
        return Err(ParseError::NeedsPrefix {
            command: command.name(),
        });
    }
    Ok(Request {
        delim,
        prefixed,
        command,
    })
}

/// Why an `INSTREAM` stream was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The stream is longer than the limit (clamd's `StreamMaxLength`).
    #[error("INSTREAM size limit exceeded.")]
    TooLarge,
    /// Reading failed (or the connection ended before the last chunk).
    #[error("reading the stream: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads `INSTREAM` chunks until the zero-length one; refuses more than
/// `limit` bytes in all, before reading them.
pub fn read_stream<R: Read>(r: &mut R, limit: u64) -> Result<Vec<u8>, StreamError> {
    let mut data = Vec::new();
    loop {
        let mut len = [0u8; 4];
        r.read_exact(&mut len)?;
        let len = u32::from_be_bytes(len) as u64;
        if len == 0 {
            return Ok(data);
        }
        if data.len() as u64 + len > limit {
            return Err(StreamError::TooLarge);
        }
        let start = data.len();
        data.resize(start + len as usize, 0);
        r.read_exact(&mut data[start..])?;
    }
}

/// One reply line, with the session id prefix and the command's delimiter.
pub fn reply(delim: Delim, session_id: Option<u64>, text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 8);
    if let Some(id) = session_id {
        out.extend_from_slice(format!("{id}: ").as_bytes());
    }
    out.extend_from_slice(text.as_bytes());
    out.push(delim.byte());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(bytes: &[u8]) -> Result<Request, ParseError> {
        read_request(&mut &bytes[..], 1024).unwrap().unwrap()
    }

    #[test]
    fn prefixes_choose_the_delimiter() {
        let r = req(b"zPING\0").unwrap();
        assert_eq!((r.delim, r.command), (Delim::Nul, Command::Ping));
        let r = req(b"nVERSION\n").unwrap();
        assert_eq!((r.delim, r.command), (Delim::Newline, Command::Version));
        let r = req(b"PING\r\n").unwrap();
        assert_eq!((r.delim, r.prefixed), (Delim::Newline, false));
        // A NUL-delimited argument may hold a newline.
        let r = req(b"zSCAN /tmp/a\nb\0").unwrap();
        assert_eq!(r.command, Command::Scan(PathBuf::from("/tmp/a\nb")));
    }

    #[test]
    fn refusals_are_typed() {
        assert!(matches!(req(b"zFOO\0"), Err(ParseError::Unknown { .. })));
        assert_eq!(
            req(b"zSCAN relative\0"),
            Err(ParseError::NeedsPath { command: "SCAN" })
        );
        assert_eq!(
            req(b"zSCAN\0"),
            Err(ParseError::NeedsPath { command: "SCAN" })
        );
        assert_eq!(
            req(b"INSTREAM\n"),
            Err(ParseError::NeedsPrefix {
                command: "INSTREAM"
            })
        );
        assert_eq!(
            req(b"zPING now\0"),
            Err(ParseError::UnexpectedArgument { command: "PING" })
        );
        assert_eq!(req(b"zPING"), Err(ParseError::Truncated));
        let long = [b"zSCAN /".as_slice(), &[b'a'; 2000], b"\0"].concat();
        assert_eq!(req(&long), Err(ParseError::TooLong { limit: 1024 }));
        assert!(read_request(&mut &b""[..], 10).unwrap().is_none());
    }

    #[test]
    fn unknown_commands_are_shown_escaped() {
        match req(b"n\x1b[2JFAKE\n") {
            Err(ParseError::Unknown { shown }) => assert_eq!(shown, "\\x1b[2JFAKE"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn streams_are_bounded_before_they_are_read() {
        let mut s = Vec::new();
        for chunk in [&b"abc"[..], b"de"] {
            s.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
            s.extend_from_slice(chunk);
        }
        s.extend_from_slice(&0u32.to_be_bytes());
        assert_eq!(read_stream(&mut &s[..], 5).unwrap(), b"abcde");
        assert!(matches!(
            read_stream(&mut &s[..], 4),
            Err(StreamError::TooLarge)
        ));
        // A huge announced length is refused without allocating it.
        let huge = u32::MAX.to_be_bytes();
        assert!(matches!(
            read_stream(&mut &huge[..], 1 << 20),
            Err(StreamError::TooLarge)
        ));
        // A stream cut before its last chunk is an error.
        assert!(matches!(
            read_stream(&mut &s[..9], 100),
            Err(StreamError::Io(_))
        ));
    }

    #[test]
    fn replies_carry_session_ids_and_the_delimiter() {
        assert_eq!(reply(Delim::Nul, None, "PONG"), b"PONG\0");
        assert_eq!(
            reply(Delim::Newline, Some(3), "stream: OK"),
            b"3: stream: OK\n"
        );
    }
}
