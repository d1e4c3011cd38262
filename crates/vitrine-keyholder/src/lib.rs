//! Vitrine's independent keyholders (docs/egress.md, "Keyholders").
//!
//! The intake stores samples encrypted under a per-sample data key that
//! it never keeps: the key is split k-of-n (Shamir over GF(256)) and each
//! share sealed (HPKE) to one keyholder, a party other than the vendor.
//! A keyholder releases its share only for an `access` statement proven
//! included in the custody log under a checkpoint its witness quorum
//! cosigned, fresh, naming this tenant and sample and an analyst it
//! honours, and never honoured before; it seals the share to the one-time
//! key the access names, so only the vault run that logged it can combine
//! k of them.
//!
//! # What's in scope / out of scope
//!
//! In scope: keys ([`KeyholderSecret`], [`KeyholderKey`]), splitting and
//! wrapping ([`split`], [`combine`], [`Recipient`]), the keyholder's checks
//! ([`Keyholder::release`]) and record of honoured accesses, its HTTP API
//! ([`server`]) and the vault's client ([`client::ask`]).
//! Out of scope: the intake's store and vault (`vitrine-intake`), the CLI.
//!
//! # Example
//!
//! ```
//! use vitrine_keyholder::{combine, open_share, split, KeyholderSecret};
//! let holders: Vec<_> = ["a", "b", "c"]
//!     .iter()
//!     .map(|n| KeyholderSecret::generate(n))
//!     .collect::<Result<_, _>>()?;
//! let public: Vec<_> = holders.iter().map(|h| h.public()).collect();
//! let (key, sample) = ([42u8; 32], [1u8; 32]);
//! let wrapped = split(&key, 2, &public, "t-1", &sample)?;
//! let a = open_share(&holders[0], &wrapped[0].sealed, "t-1", &sample)?;
//! let c = open_share(&holders[2], &wrapped[2].sealed, "t-1", &sample)?;
//! assert_eq!(combine(2, &[a, c])?, key);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
mod crypto;
mod error;
mod keyholder;
pub mod server;

pub use crypto::{
    combine, open_share, seal_release, split, KeyholderKey, KeyholderSecret, Recipient, Sealed,
    WrappedShare,
};
pub use error::{KeyError, OpenError, Refusal};
pub use keyholder::{
    init, Analyst, Config, Keyholder, ShareRelease, ShareRequest, CONFIG_FILE, DB_FILE,
    DEFAULT_CLOCK_SKEW, DEFAULT_MAX_LIFETIME, KEY_FILE,
};

/// Fuzzing entry points (used by `fuzz/`).
#[doc(hidden)]
pub mod fuzz {
    use std::sync::OnceLock;

    use crate::{Analyst, Config, Keyholder, KeyholderKey, KeyholderSecret, ShareRequest};

    /// A share request from the network, parsed and checked by a keyholder
    /// whose custody log key the fuzzer does not hold: no panic, and
    /// nothing is ever released.
    pub fn share_request(data: &[u8]) {
        if let Ok(s) = std::str::from_utf8(data) {
            let _ = s.parse::<KeyholderKey>();
            let _ = KeyholderSecret::parse(s);
        }
        let Ok(req) = serde_json::from_slice::<ShareRequest>(data) else {
            return;
        };
        static K: OnceLock<Keyholder> = OnceLock::new();
        let k = K.get_or_init(|| {
            let seed = |n: u8, name: &str, t| {
                vitrine_note::SignerKey::from_seed(name, t, [n; 32]).expect("fixed key")
            };
            let log = seed(1, "log.example/fuzz", vitrine_note::SignatureType::Ed25519);
            let analyst = seed(
                2,
                "analyst.example/fuzz",
                vitrine_note::SignatureType::Ed25519,
            );
            let policy = vitrine_tlog::Policy::parse(
                format!("log {}\nquorum none\n", log.verifier()).as_bytes(),
            )
            .expect("fixed policy");
            let config = Config {
                log_key: log.verifier(),
                policy,
                max_access_lifetime: 3600,
                clock_skew: 60,
                analysts: vec![Analyst {
                    key: analyst.verifier(),
                    tenants: None,
                }],
            };
            let secret = KeyholderSecret::generate("kh.example/fuzz").expect("fixed name");
            Keyholder::new(secret, config, std::path::Path::new(":memory:")).expect("in memory")
        });
        assert!(
            k.release(&req, 1_800_000_000).is_err(),
            "released a share for an access nobody logged"
        );
    }
}

#[cfg(test)]
mod fuzz_tests {
    /// The fuzz target's body on stable Rust: a well-formed request and
    /// thousands of seeded mutations of it, none of which releases a share.
    #[test]
    fn fuzz_body_never_releases() {
        let seed = br#"{"tenant":"t-1","sample":"0000000000000000000000000000000000000000000000000000000000000000","access":"vitrine.dev/statement/access/v2\nwho analyst.example/fuzz\n\n\u2014 analyst.example/fuzz AAAA\n","proof":"c2sp.org/tlog-proof@v1\nindex 0\n\nlog.example/fuzz\n1\nAAAA\n","share":{"enc":"AAAA","ct":"AAAA"}}"#;
        crate::fuzz::share_request(seed);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..3000 {
            let mut data = seed.to_vec();
            for _ in 0..(next() % 8 + 1) {
                let i = (next() as usize) % data.len();
                match next() % 3 {
                    0 => data[i] = next() as u8,
                    1 => {
                        data.remove(i);
                    }
                    _ => data.insert(i, next() as u8),
                }
            }
            crate::fuzz::share_request(&data);
        }
    }
}
