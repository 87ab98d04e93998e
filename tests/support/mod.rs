#![allow(dead_code)]

pub mod host;
pub mod realserver;
pub mod server;

/// Deterministic pseudo-random bytes (xorshift64), so tests can verify content byte-for-byte
/// without fixtures. Different seeds give unrelated streams.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    // Pre-mix the seed: xorshift has a fixed point at 0 and nearby seeds start out correlated.
    let mut x = (seed ^ 0x9E37_79B9_7F4A_7C15).wrapping_mul(0xBF58_476D_1CE4_E5B9) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}
