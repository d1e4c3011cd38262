//! Encodes the built-in rules so that the binary never holds their text:
//! a scanner whose rule strings sit in its own file detects itself (and
//! other scanners detect it). Each byte is XORed with a position-dependent
//! keystream, so no single-byte XOR of the binary shows them either.
//! `src/builtin.rs` decodes them at run time with the same function.

use std::path::Path;

include!("src/builtin_key.rs");

fn main() {
    let out = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR");
    for name in ["eicar.yar", "families.yar", "eicar.hdb"] {
        let src = Path::new("rules").join(name);
        println!("cargo::rerun-if-changed={}", src.display());
        let mut bytes = std::fs::read(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        apply_key(&mut bytes);
        let dst = Path::new(&out).join(format!("{name}.enc"));
        std::fs::write(&dst, bytes).unwrap_or_else(|e| panic!("{}: {e}", dst.display()));
    }
    println!("cargo::rerun-if-changed=src/builtin_key.rs");
}
