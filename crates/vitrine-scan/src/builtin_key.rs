// Shared by build.rs (which encodes) and builtin.rs (which decodes).

/// XORs `data` with a keystream that changes with every position (a
/// 32-bit xorshift generator), in place; applying it twice restores it.
pub fn apply_key(data: &mut [u8]) {
    let mut x: u32 = 0x5669_7472; // "Vitr"
    for b in data {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b ^= (x >> 11) as u8;
    }
}
