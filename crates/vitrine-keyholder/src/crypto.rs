//! Keys, shares and the two HPKE wrappings.
//!
//! A sample's 32-byte data key is split k-of-n with Shamir's scheme over
//! GF(256) ([`split`], [`combine`]). Share *i* is sealed with HPKE (RFC
//! 9180, base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
//! ChaCha20-Poly1305) to keyholder *i*'s public key, with the tenant, the
//! sample and the keyholder's name as associated data, so a wrapped share
//! opens only at that keyholder and only for that tenant's copy of that
//! sample. A keyholder that honours an access seals the share again, to
//! the one-time key the access statement names, bound to that statement.

use base64::Engine;
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use serde::{Deserialize, Serialize};

use crate::KeyError;

type Kem = X25519HkdfSha256;
type PrivateKey = <Kem as hpke::Kem>::PrivateKey;
type PublicKey = <Kem as hpke::Kem>::PublicKey;
type EncappedKey = <Kem as hpke::Kem>::EncappedKey;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// HPKE `info` for a share wrapped for a keyholder.
const INFO_SHARE: &[u8] = b"vitrine.dev/keyholder/share/v1";
/// HPKE `info` for a share released to a vault run.
const INFO_RELEASE: &[u8] = b"vitrine.dev/keyholder/release/v1";

/// Prefix of a keyholder's private key text.
const PRIVATE_PREFIX: &str = "PRIVATE+KEYHOLDER+";

const BAD_NAME: KeyError = KeyError::Malformed {
    reason: "name must be printable ASCII without '+', quotes or backslashes",
};

/// Parses `NAME+BASE64`, where BASE64 is the 44-character encoding of 32
/// bytes (which may itself contain `+`), into the name and the bytes.
fn parse_named(s: &str) -> Result<(&str, Vec<u8>), KeyError> {
    let malformed = KeyError::Malformed {
        reason: "expected NAME+BASE64 (32 bytes)",
    };
    let cut = s.len().checked_sub(45).ok_or(malformed.clone())?;
    if !s.is_char_boundary(cut) || s.as_bytes()[cut] != b'+' {
        return Err(malformed);
    }
    let (name, b64) = (&s[..cut], &s[cut + 1..]);
    if !valid_name(name) {
        return Err(BAD_NAME);
    }
    let raw = B64.decode(b64).map_err(|_| KeyError::Malformed {
        reason: "key is not base64",
    })?;
    Ok((name, raw))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'+' && b != b'"' && b != b'\\')
}

/// A keyholder's public key: `NAME+BASE64(32-byte X25519 key)`.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyholderKey {
    name: String,
    key: PublicKey,
}

impl std::fmt::Debug for KeyholderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyholderKey({self})")
    }
}

impl std::fmt::Display for KeyholderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}+{}", self.name, B64.encode(self.key.to_bytes()))
    }
}

impl std::str::FromStr for KeyholderKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        let (name, raw) = parse_named(s)?;
        let key = PublicKey::from_bytes(&raw).map_err(|_| KeyError::Malformed {
            reason: "key is not 32 bytes",
        })?;
        Ok(KeyholderKey {
            name: name.to_owned(),
            key,
        })
    }
}

impl KeyholderKey {
    /// The keyholder's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A keyholder's private key. Its text form (`PRIVATE+KEYHOLDER+NAME+B64`)
/// lives only in the keyholder's own data directory, mode 0600.
pub struct KeyholderSecret {
    name: String,
    key: PrivateKey,
    public: PublicKey,
}

impl KeyholderSecret {
    /// A new random key for `name`.
    pub fn generate(name: &str) -> Result<Self, KeyError> {
        if !valid_name(name) {
            return Err(BAD_NAME);
        }
        let (key, public) = Kem::gen_keypair(&mut rand::rngs::OsRng);
        Ok(KeyholderSecret {
            name: name.to_owned(),
            key,
            public,
        })
    }

    /// Parses the text form.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let rest = text
            .trim()
            .strip_prefix(PRIVATE_PREFIX)
            .ok_or(KeyError::Malformed {
                reason: "expected PRIVATE+KEYHOLDER+NAME+BASE64",
            })?;
        let (name, raw) = parse_named(rest)?;
        let key = PrivateKey::from_bytes(&raw).map_err(|_| KeyError::Malformed {
            reason: "key is not 32 bytes",
        })?;
        let public = Kem::sk_to_pk(&key);
        Ok(KeyholderSecret {
            name: name.to_owned(),
            key,
            public,
        })
    }

    /// The text form (secret: write it 0600).
    pub fn to_text(&self) -> String {
        format!(
            "{PRIVATE_PREFIX}{}+{}\n",
            self.name,
            B64.encode(self.key.to_bytes())
        )
    }

    /// The public key.
    pub fn public(&self) -> KeyholderKey {
        KeyholderKey {
            name: self.name.clone(),
            key: self.public.clone(),
        }
    }

    /// The keyholder's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// An HPKE ciphertext: the encapsulated key and the sealed bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    /// The encapsulated X25519 key, base64.
    pub enc: String,
    /// The ciphertext, base64.
    pub ct: String,
}

impl Sealed {
    fn new(enc: &EncappedKey, ct: &[u8]) -> Self {
        Sealed {
            enc: B64.encode(enc.to_bytes()),
            ct: B64.encode(ct),
        }
    }

    fn parts(&self) -> Option<(EncappedKey, Vec<u8>)> {
        let enc = B64.decode(&self.enc).ok()?;
        let enc = EncappedKey::from_bytes(&enc).ok()?;
        let ct = B64.decode(&self.ct).ok()?;
        (ct.len() <= 4096).then_some((enc, ct))
    }
}

/// HPKE base-mode seal to `pk`.
fn seal_to(pk: &PublicKey, info: &[u8], plain: &[u8], aad: &[u8]) -> Result<Sealed, KeyError> {
    let (enc, ct) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, Kem, _>(
        &OpModeS::Base,
        pk,
        info,
        plain,
        aad,
        &mut rand::rngs::OsRng,
    )
    .map_err(|_| KeyError::Seal)?;
    Ok(Sealed::new(&enc, &ct))
}

/// HPKE base-mode open with `sk`.
fn open_with(
    sk: &PrivateKey,
    sealed: &Sealed,
    info: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, KeyError> {
    let (enc, ct) = sealed.parts().ok_or(KeyError::Open)?;
    hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeR::Base,
        sk,
        &enc,
        info,
        &ct,
        aad,
    )
    .map_err(|_| KeyError::Open)
}

fn share_aad(tenant: &str, sample: &[u8; 32], keyholder: &str) -> Vec<u8> {
    format!("{tenant}\n{}\n{keyholder}\n", hex::encode(sample)).into_bytes()
}

/// One share, wrapped for one keyholder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrappedShare {
    /// The keyholder it is wrapped for.
    pub keyholder: String,
    /// The sealed share.
    pub sealed: Sealed,
}

/// Splits `data_key` into `keyholders.len()` shares of which `threshold`
/// recover it, and wraps share *i* for keyholder *i*, bound to `tenant`
/// and `sample`. The data key itself is never stored.
pub fn split(
    data_key: &[u8; 32],
    threshold: u8,
    keyholders: &[KeyholderKey],
    tenant: &str,
    sample: &[u8; 32],
) -> Result<Vec<WrappedShare>, KeyError> {
    let n = keyholders.len();
    if threshold == 0 || usize::from(threshold) > n || n > 255 {
        return Err(KeyError::Threshold {
            threshold: usize::from(threshold),
            keyholders: n,
        });
    }
    let shares = blahaj::Sharks(threshold).dealer(data_key);
    keyholders
        .iter()
        .zip(shares)
        .map(|(kh, share)| {
            let sealed = seal_to(
                &kh.key,
                INFO_SHARE,
                &Vec::from(&share),
                &share_aad(tenant, sample, &kh.name),
            )?;
            Ok(WrappedShare {
                keyholder: kh.name.clone(),
                sealed,
            })
        })
        .collect()
}

/// Opens a share wrapped for `secret`'s keyholder, for `tenant`'s copy of
/// `sample`. Fails if it was wrapped for another keyholder, tenant or
/// sample.
pub fn open_share(
    secret: &KeyholderSecret,
    sealed: &Sealed,
    tenant: &str,
    sample: &[u8; 32],
) -> Result<Vec<u8>, KeyError> {
    open_with(
        &secret.key,
        sealed,
        INFO_SHARE,
        &share_aad(tenant, sample, &secret.name),
    )
}

fn release_aad(access_leaf: &[u8; 32], keyholder: &str) -> Vec<u8> {
    format!("{}\n{keyholder}\n", hex::encode(access_leaf)).into_bytes()
}

/// The one-time key pair a vault run names in its access statement.
pub struct Recipient {
    key: PrivateKey,
    public: PublicKey,
}

impl Default for Recipient {
    fn default() -> Self {
        Self::generate()
    }
}

impl Recipient {
    /// A fresh key pair.
    pub fn generate() -> Self {
        let (key, public) = Kem::gen_keypair(&mut rand::rngs::OsRng);
        Recipient { key, public }
    }

    /// The public key, as the access statement's `recipient`.
    pub fn public_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.public.to_bytes());
        out
    }

    /// Opens a share a keyholder released for the access whose leaf hash
    /// is `access_leaf`.
    pub fn open(
        &self,
        sealed: &Sealed,
        access_leaf: &[u8; 32],
        keyholder: &str,
    ) -> Result<Vec<u8>, KeyError> {
        open_with(
            &self.key,
            sealed,
            INFO_RELEASE,
            &release_aad(access_leaf, keyholder),
        )
    }
}

/// Seals a share to the vault run's one-time key `recipient`, bound to the
/// access statement (its leaf hash) and the keyholder.
pub fn seal_release(
    share: &[u8],
    recipient: &[u8; 32],
    access_leaf: &[u8; 32],
    keyholder: &str,
) -> Result<Sealed, KeyError> {
    let pk = PublicKey::from_bytes(recipient).map_err(|_| KeyError::Seal)?;
    seal_to(
        &pk,
        INFO_RELEASE,
        share,
        &release_aad(access_leaf, keyholder),
    )
}

/// Recovers the data key from at least `threshold` shares.
pub fn combine(threshold: u8, shares: &[Vec<u8>]) -> Result<[u8; 32], KeyError> {
    if shares.len() < usize::from(threshold) {
        return Err(KeyError::TooFewShares {
            have: shares.len(),
            need: usize::from(threshold),
        });
    }
    let parsed = shares
        .iter()
        .map(|s| blahaj::Share::try_from(s.as_slice()).map_err(|_| KeyError::Open))
        .collect::<Result<Vec<_>, _>>()?;
    let key = blahaj::Sharks(threshold)
        .recover(parsed.iter())
        .map_err(|_| KeyError::Open)?;
    <[u8; 32]>::try_from(key.as_slice()).map_err(|_| KeyError::Open)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holders(n: usize) -> (Vec<KeyholderSecret>, Vec<KeyholderKey>) {
        let secrets: Vec<_> = (0..n)
            .map(|i| KeyholderSecret::generate(&format!("kh{i}.example")).unwrap())
            .collect();
        let public = secrets.iter().map(|s| s.public()).collect();
        (secrets, public)
    }

    #[test]
    fn two_of_three_round_trip_and_binding() {
        let (secrets, public) = holders(3);
        let dk = [7u8; 32];
        let sample = [1u8; 32];
        let wrapped = split(&dk, 2, &public, "t-1", &sample).unwrap();
        let open = |i: usize| open_share(&secrets[i], &wrapped[i].sealed, "t-1", &sample).unwrap();
        let (a, c) = (open(0), open(2));
        assert_eq!(combine(2, &[a.clone(), c]).unwrap(), dk);
        // One share is not enough.
        assert!(matches!(
            combine(2, std::slice::from_ref(&a)),
            Err(KeyError::TooFewShares { have: 1, need: 2 })
        ));
        // A share opens only at its keyholder, for its tenant and sample.
        assert!(open_share(&secrets[1], &wrapped[0].sealed, "t-1", &sample).is_err());
        assert!(open_share(&secrets[0], &wrapped[0].sealed, "t-2", &sample).is_err());
        assert!(open_share(&secrets[0], &wrapped[0].sealed, "t-1", &[2u8; 32]).is_err());
    }

    #[test]
    fn release_binds_the_access() {
        let r = Recipient::generate();
        let leaf = [9u8; 32];
        let sealed = seal_release(b"share", &r.public_bytes(), &leaf, "kh0").unwrap();
        assert_eq!(r.open(&sealed, &leaf, "kh0").unwrap(), b"share");
        assert!(r.open(&sealed, &[8u8; 32], "kh0").is_err());
        assert!(r.open(&sealed, &leaf, "kh1").is_err());
        assert!(Recipient::generate().open(&sealed, &leaf, "kh0").is_err());
    }

    #[test]
    fn key_text_round_trips_and_rejects() {
        // Base64 may hold '+': many keys, so some do.
        for _ in 0..64 {
            let s = KeyholderSecret::generate("auditor.example/kh").unwrap();
            let back = KeyholderSecret::parse(&s.to_text()).unwrap();
            assert_eq!(back.public(), s.public());
            let p: KeyholderKey = s.public().to_string().parse().unwrap();
            assert_eq!(p, s.public());
        }
        for bad in ["nokey", "a b+AAAA", "x+!!!", "x+AAAA"] {
            assert!(bad.parse::<KeyholderKey>().is_err(), "{bad}");
        }
        assert!(KeyholderSecret::generate("a+b").is_err());
        assert!(KeyholderSecret::parse("PRIVATE+KEY+x+AAAA").is_err());
    }
}
