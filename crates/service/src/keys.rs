//! API keys: the set a deployment accepts (several at once, for rotation),
//! read from `VOXCAP_API_KEYS` (comma separated) or a keys file (one per
//! line, `#` comments). Only the SHA-256 of each key is kept; a presented
//! key is hashed and compared with every kept digest in constant time, so
//! neither the comparison nor the position of a match leaks through timing.
//! A key never appears in `Debug`, logs or errors: an error names the line,
//! and a key is identified by a short fingerprint of its digest.

use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ServiceError;

/// The shortest key accepted, in characters: a key is a shared secret, and
/// a short one can be guessed.
pub const MIN_KEY_CHARS: usize = 16;

/// The longest key accepted, in characters.
pub const MAX_KEY_CHARS: usize = 512;

/// The environment variable holding comma-separated API keys.
pub const API_KEYS_ENV: &str = "VOXCAP_API_KEYS";

/// The keys a deployment accepts, kept as SHA-256 digests.
#[derive(Clone, Default)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys")
            .field("count", &self.digests.len())
            .finish_non_exhaustive()
    }
}

/// Which key a request presented: a fingerprint (the first 8 hex digits of
/// its SHA-256), for audit lines and logs; never the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyId(pub String);

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl ApiKeys {
    /// Keys from a comma-separated list (the `VOXCAP_API_KEYS` form);
    /// blanks around each key are dropped, empty entries skipped.
    pub fn from_list(list: &str) -> Result<ApiKeys, ServiceError> {
        let mut keys = ApiKeys::default();
        for (i, k) in list.split(',').enumerate() {
            keys.add(k.trim(), || format!("{API_KEYS_ENV}, entry {}", i + 1))?;
        }
        Ok(keys)
    }

    /// Keys from a file: one per line, blank lines and lines starting with
    /// `#` skipped.
    pub fn from_file(path: &Path) -> Result<ApiKeys, ServiceError> {
        let text = std::fs::read_to_string(path).map_err(|source| ServiceError::KeysFile {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_file_text(&text, &path.display().to_string())
    }

    /// Keys from the text of a keys file named `name` (for its errors).
    pub fn from_file_text(text: &str, name: &str) -> Result<ApiKeys, ServiceError> {
        let mut keys = ApiKeys::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            keys.add(line, || format!("{name}, line {}", i + 1))?;
        }
        Ok(keys)
    }

    /// Adds `key` (empty is skipped); `at` names where it came from.
    fn add(&mut self, key: &str, at: impl Fn() -> String) -> Result<(), ServiceError> {
        if key.is_empty() {
            return Ok(());
        }
        let chars = key.chars().count();
        let reason = if chars < MIN_KEY_CHARS {
            Some(format!("shorter than {MIN_KEY_CHARS} characters"))
        } else if chars > MAX_KEY_CHARS {
            Some(format!("longer than {MAX_KEY_CHARS} characters"))
        } else if !key.bytes().all(|b| b.is_ascii_graphic()) {
            Some("only visible ASCII characters are allowed (no spaces)".to_string())
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(ServiceError::BadKey { at: at(), reason });
        }
        self.digests.push(digest(key));
        Ok(())
    }

    /// Joins two key sets (the environment's and the file's).
    pub fn merged(mut self, other: ApiKeys) -> ApiKeys {
        self.digests.extend(other.digests);
        self
    }

    /// How many keys are accepted.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether no key is accepted (then every request is refused).
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// The matching key's fingerprint when `presented` is one of the keys.
    /// Every digest is compared, in constant time, whatever matches.
    pub fn verify(&self, presented: &str) -> Option<KeyId> {
        let d = digest(presented);
        let mut found = subtle::Choice::from(0);
        for k in &self.digests {
            found |= k.ct_eq(&d);
        }
        bool::from(found).then(|| KeyId(d[..4].iter().map(|b| format!("{b:02x}")).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_keys_are_active_and_others_refused() {
        let keys = ApiKeys::from_list(" key-one-0123456789 ,, key-two-0123456789").unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys.verify("key-one-0123456789").is_some());
        assert!(keys.verify("key-two-0123456789").is_some());
        assert!(keys.verify("key-three-0123456789").is_none());
        assert!(keys.verify("").is_none());
        assert!(!format!("{keys:?}").contains("key-one"));
    }

    #[test]
    fn a_keys_file_skips_comments_and_names_a_bad_line() {
        let text = "# rotation 2026-12\nkey-new-0123456789\n\n  # old\nkey-old-0123456789\n";
        assert_eq!(ApiKeys::from_file_text(text, "keys").unwrap().len(), 2);
        let err = ApiKeys::from_file_text("ok-key-0123456789\nshort\n", "keys").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("keys, line 2") && !text.contains("short\""),
            "{text}"
        );
        assert!(ApiKeys::from_list("has space 0123456789").is_err());
    }
}
