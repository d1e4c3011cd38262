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

/// The built binary.
pub fn vitrine() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("vitrine").expect("the vitrine binary is built")
}
