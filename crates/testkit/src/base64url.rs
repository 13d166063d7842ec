//! Unpadded base64url (RFC 4648 §5), as JWT segments use it, over the
//! `base64` crate.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

pub use base64::DecodeError;

/// `bytes` as unpadded base64url.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url.
pub fn decode(text: impl AsRef<[u8]>) -> Result<Vec<u8>, DecodeError> {
    URL_SAFE_NO_PAD.decode(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc_4648_and_round_trips() {
        // RFC 4648 §10 vectors, without padding.
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
        ] {
            assert_eq!(encode(plain), coded);
            assert_eq!(decode(coded).unwrap(), plain.as_bytes());
        }
        // The URL-safe alphabet: 62 and 63 are '-' and '_'.
        assert_eq!(encode([0xfb, 0xff]), "-_8");
        assert!(decode("Zm9v=").is_err());
    }
}
