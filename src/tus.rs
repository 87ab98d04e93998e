//! The tus 1.0 resumable upload protocol, the parts that are text: the headers every
//! request carries, what a server says it supports (`OPTIONS`), the metadata encoding,
//! reading an offset a server claims, and the digests of the checksum extension. The
//! requests themselves are in `upload.rs`.

use ureq::http::Response;
use ureq::Body;

use crate::answer::header;
use crate::error::Error;

/// The protocol version every request but `OPTIONS` names (`Tus-Resumable`).
pub(crate) const VERSION: &str = "1.0.0";
/// The only content type a `PATCH` (and a creation with upload) may carry.
pub(crate) const OFFSET_STREAM: &str = "application/offset+octet-stream";
/// The status of a failed checksum (tus's own code): the chunk was not stored.
pub(crate) const CHECKSUM_MISMATCH: u16 = 460;

/// What a server says it supports, from its `OPTIONS` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Capabilities {
    /// `Tus-Extension`, lowercased.
    pub extensions: Vec<String>,
    /// `Tus-Checksum-Algorithm`, lowercased.
    pub checksums: Vec<String>,
    /// `Tus-Max-Size`.
    pub max_size: Option<u64>,
}

impl Capabilities {
    pub(crate) fn from_answer(resp: &Response<Body>) -> Capabilities {
        let list = |name: &str| -> Vec<String> {
            header(resp, name)
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_ascii_lowercase())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        Capabilities {
            extensions: list("tus-extension"),
            checksums: list("tus-checksum-algorithm"),
            max_size: header(resp, "tus-max-size").and_then(number),
        }
    }

    pub(crate) fn has(&self, extension: &str) -> bool {
        self.extensions.iter().any(|e| e == extension)
    }

    /// The checksum to send with each chunk: SHA-256 where offered, else SHA-1 (which
    /// every server of the checksum extension must offer), else none.
    pub(crate) fn checksum(&self) -> Option<Checksum> {
        if !self.has("checksum") {
            return None;
        }
        let offered = |name: &str| self.checksums.iter().any(|c| c == name);
        if offered("sha256") {
            Some(Checksum::Sha256)
        } else if offered("sha1") {
            Some(Checksum::Sha1)
        } else {
            None
        }
    }
}

/// A digest of the checksum extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checksum {
    Sha1,
    Sha256,
}

impl Checksum {
    /// The `Upload-Checksum` value for `data`: the algorithm and the base64 digest.
    pub(crate) fn header(self, data: &[u8]) -> String {
        match self {
            Checksum::Sha256 => {
                use sha2::Digest;
                format!("sha256 {}", base64(&sha2::Sha256::digest(data)))
            }
            Checksum::Sha1 => format!("sha1 {}", base64(&sha1(data))),
        }
    }
}

/// `Upload-Metadata`: `key base64(value)` pairs joined by commas. Keys must be non-empty
/// without spaces or commas; an empty list gives `None` (an empty header is refused by
/// servers).
pub(crate) fn metadata(pairs: &[(String, String)]) -> Result<Option<String>, Error> {
    let mut parts = Vec::new();
    for (i, (key, value)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(k, _)| k == key) {
            return Err(Error::InvalidOption {
                option: "metadata",
                reason: format!("{key:?} is given twice (a key is sent once)"),
            });
        }
        if key.is_empty()
            || key.contains([' ', ','])
            || !key.is_ascii()
            || key.chars().any(|c| c.is_ascii_control())
        {
            return Err(Error::InvalidOption {
                option: "metadata",
                reason: format!(
                    "{key:?} is not a metadata key (ASCII, no space, comma or control)"
                ),
            });
        }
        parts.push(match value.is_empty() {
            true => key.clone(),
            false => format!("{key} {}", base64(value.as_bytes())),
        });
    }
    Ok((!parts.is_empty()).then(|| parts.join(",")))
}

/// The offset a server states in `Upload-Offset`, checked against what can be true: a
/// number, within the upload's length. `None` when the answer carries none.
pub(crate) fn offset(
    resp: &Response<Body>,
    length: Option<u64>,
    url: &str,
) -> Result<Option<u64>, Error> {
    let Some(text) = header(resp, "upload-offset") else {
        return Ok(None);
    };
    let n = number(text).ok_or_else(|| {
        Error::protocol(format!(
            "{url} answered an Upload-Offset that is not a number: {text:?}"
        ))
    })?;
    if let Some(len) = length.filter(|&l| n > l) {
        return Err(Error::protocol(format!(
            "{url} says it holds {n} bytes of a {len}-byte upload"
        )));
    }
    Ok(Some(n))
}

/// A non-negative decimal number as tus writes them (`Upload-Offset`, `Upload-Length`,
/// `Tus-Max-Size`): digits only, no sign.
pub(crate) fn number(text: &str) -> Option<u64> {
    let t = text.trim();
    match !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        true => t.parse().ok(),
        false => None,
    }
}

/// Standard base64 with padding (RFC 4648), for metadata values and digests.
pub(crate) fn base64(data: &[u8]) -> String {
    use base64::prelude::{Engine, BASE64_STANDARD};
    BASE64_STANDARD.encode(data)
}

/// SHA-1 (FIPS 180-4), only as the checksum extension's required algorithm: not for
/// anything that must resist an attacker (the digest guards a chunk against corruption
/// on the way, as TCP's checksum would if it were stronger).
pub(crate) fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut message = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bits.to_be_bytes());
    for block in message.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, &wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(wi);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
        }
        for (hi, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *hi = hi.wrapping_add(v);
        }
    }
    let mut out = [0u8; 20];
    for (i, v) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn sha1_matches_the_standard_vectors() {
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&sha1(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(
            hex(&sha1(&vec![b'a'; 1_000_000])),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
    }

    #[test]
    fn metadata_is_tus_encoded() {
        let m = metadata(&[
            ("filename".into(), "world_domination plan.pdf".into()),
            ("is_confidential".into(), String::new()),
        ])
        .unwrap();
        assert_eq!(
            m.as_deref(),
            Some("filename d29ybGRfZG9taW5hdGlvbiBwbGFuLnBkZg==,is_confidential")
        );
        assert_eq!(metadata(&[]).unwrap(), None);
        for bad in ["", "a b", "a,b", "é"] {
            assert!(metadata(&[(bad.into(), "v".into())]).is_err(), "{bad:?}");
        }
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
    }
}
