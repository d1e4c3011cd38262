//! Our cosignatures against the spec, checked independently of
//! vitrine-note: key ID with 0x04, `cosignature/v1\ntime <t>\n` + body,
//! verified with ed25519-dalek directly.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{SigningKey, Verifier as _};
use sha2::{Digest as _, Sha256};
use vitrine_note::{Cosigner, Note, SignatureType, SignerKey};
use vitrine_tlog::{
    format_add_checkpoint_response, parse_add_checkpoint_response, AddCheckpointRequest, Checkpoint,
};
use vitrine_witness::{MemoryStore, Witness};

/// The checkpoint of tlog-cosignature's example.
const SPEC_TEXT: &str =
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
/// The signed message of tlog-cosignature §Signed message.
const SPEC_MESSAGE: &str = "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
/// The cosignature line of the spec's example (its key is not published;
/// vitrine-note's tests check its bytes: key ID 8d66cf3f, time 1679315147).
const SPEC_COSIG: &str = "\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";

#[test]
fn witness_cosignature_verifies_from_the_spec_alone() {
    let name = "witness.example.com/w1";
    let seed = [77u8; 32];
    let log = SignerKey::from_seed(
        "example.com/behind-the-sofa",
        SignatureType::Ed25519,
        [8; 32],
    )
    .unwrap();
    let cosigner =
        Cosigner::new(SignerKey::from_seed(name, SignatureType::CosignatureV1, seed).unwrap())
            .unwrap();
    let w = Witness::builder(cosigner)
        .log(log.verifier())
        .store(Arc::new(MemoryStore::new()))
        .clock(|| 1679315147)
        .build()
        .unwrap();
    let cp = Checkpoint::parse(SPEC_TEXT).unwrap();
    let note = cp.sign(&log).unwrap();
    assert_eq!(note.text(), SPEC_TEXT);
    let sigs = w
        .add_checkpoint(
            &AddCheckpointRequest::new(0, vec![], note)
                .unwrap()
                .to_bytes(),
        )
        .unwrap();

    // The 200 body, as the HTTP layer would send it.
    let body = format_add_checkpoint_response(&sigs);
    assert_eq!(
        parse_add_checkpoint_response(body.as_bytes()).unwrap(),
        sigs
    );
    let b64 = body
        .strip_prefix(&format!("\u{2014} {name} "))
        .and_then(|s| s.strip_suffix('\n'))
        .expect("one signature line named after the witness");
    let raw = STANDARD.decode(b64).unwrap();
    assert_eq!(raw.len(), 4 + 8 + 64);

    let pk = SigningKey::from_bytes(&seed).verifying_key();
    let mut id_input = name.as_bytes().to_vec();
    id_input.push(b'\n');
    id_input.push(0x04);
    id_input.extend_from_slice(pk.as_bytes());
    assert_eq!(&raw[..4], &Sha256::digest(&id_input)[..4], "key ID");
    assert_eq!(&raw[4..12], &1679315147u64.to_be_bytes(), "timestamp");
    let sig = ed25519_dalek::Signature::from_slice(&raw[12..]).unwrap();
    pk.verify(SPEC_MESSAGE.as_bytes(), &sig).unwrap();

    // Same layout as the spec's own example line.
    let spec = Note::parse(format!("{SPEC_TEXT}\n{SPEC_COSIG}").as_bytes()).unwrap();
    let spec_sig = &spec.signatures()[0];
    assert_eq!(spec_sig.bytes().len(), sigs[0].bytes().len());
    assert_eq!(
        spec_sig.cosignature_timestamp(),
        sigs[0].cosignature_timestamp()
    );
}
