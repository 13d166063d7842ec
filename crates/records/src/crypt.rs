//! Encryption at rest: age (X25519 recipients) for the stored recordings,
//! and reading them back with an identity file.
//!
//! Stored encrypted files end in [`ENCRYPTED_SUFFIX`] (`x.wav.age`). The
//! public keys ([`Recipients`]) are all a recording process needs; the
//! identities (secret keys) stay with whoever reads the audio back
//! (`docs/compliance.md`, key management). An identity never appears in an
//! error, a log line or `Debug` output.

use std::io::{self, Read, Write};
use std::path::Path;
use std::str::FromStr;

use age::x25519;

use crate::error::{RecordsError, Result};

/// The suffix of an encrypted file.
pub const ENCRYPTED_SUFFIX: &str = ".age";

/// The writer [`Recipients::encrypt`] returns; `finish` it when done.
pub type EncryptingWriter<W> = age::stream::StreamWriter<W>;

/// The age X25519 public keys a recording is encrypted to (any one of their
/// identities decrypts it).
#[derive(Clone, PartialEq, Eq)]
pub struct Recipients(Vec<x25519::Recipient>);

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Public keys: safe to show.
        f.debug_list()
            .entries(self.0.iter().map(|r| r.to_string()))
            .finish()
    }
}

impl Recipients {
    /// Parses `age1...` public keys; at least one.
    pub fn parse<S: AsRef<str>>(keys: &[S]) -> Result<Recipients> {
        if keys.is_empty() {
            return Err(RecordsError::BadRecipient {
                recipient: String::new(),
                reason: "no recipient given".into(),
            });
        }
        keys.iter()
            .map(|k| {
                let k = k.as_ref().trim();
                x25519::Recipient::from_str(k).map_err(|reason| RecordsError::BadRecipient {
                    recipient: k.to_string(),
                    reason: reason.to_string(),
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Recipients)
    }

    /// Wraps `out` in an age writer; call `finish` on it when done, or the
    /// file does not decrypt.
    pub fn encrypt<W: Write>(&self, out: W) -> io::Result<EncryptingWriter<W>> {
        let recipients = self.0.iter().map(|r| r as &dyn age::Recipient);
        age::Encryptor::with_recipients(recipients)
            .map_err(io::Error::other)?
            .wrap_output(out)
    }

    /// `data` encrypted, in memory.
    pub fn encrypt_bytes(&self, data: &[u8]) -> io::Result<Vec<u8>> {
        let mut w = self.encrypt(Vec::with_capacity(data.len() + 512))?;
        w.write_all(data)?;
        w.finish()
    }
}

/// The secret keys read from an age identity file.
pub struct Identities(Vec<Box<dyn age::Identity + Send + Sync>>);

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identities({} key(s), redacted)", self.0.len())
    }
}

impl Identities {
    /// Reads an age identity file (`AGE-SECRET-KEY-1...` lines, `#`
    /// comments), as `age-keygen` writes it.
    pub fn from_file(path: &Path) -> Result<Identities> {
        let bad = |reason: String| RecordsError::BadIdentity {
            path: path.to_path_buf(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot open: {e}")))?;
        // The parser's messages could quote a malformed line (a key):
        // only the kind of error is passed on.
        let identities = age::IdentityFile::from_buffer(io::BufReader::new(file))
            .map_err(|e| bad(format!("not an age identity file ({:?})", e.kind())))?
            .into_identities()
            .map_err(|_| bad("holds an identity this build cannot use".into()))?;
        if identities.is_empty() {
            return Err(bad("holds no identity".into()));
        }
        Ok(Identities(identities))
    }

    /// A reader of the plaintext of the age stream `input` (named `path`
    /// in errors).
    pub fn decrypt<R: Read>(&self, input: R, path: &Path) -> Result<impl Read> {
        let fail = |reason: String| RecordsError::Decrypt {
            path: path.to_path_buf(),
            reason,
        };
        let decryptor = age::Decryptor::new(input).map_err(|e| fail(e.to_string()))?;
        decryptor
            .decrypt(self.0.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .map_err(|e| fail(e.to_string()))
    }

    /// The plaintext of the encrypted file at `path`, streamed.
    pub fn open(&self, path: &Path) -> Result<impl Read> {
        let file = std::fs::File::open(path).map_err(RecordsError::io("opening", path))?;
        self.decrypt(io::BufReader::new(file), path)
    }
}

/// Whether `path` names an encrypted file.
pub fn is_encrypted(path: &Path) -> bool {
    path.to_str().is_some_and(|p| p.ends_with(ENCRYPTED_SUFFIX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn round_trip_through_an_identity_file_and_bad_keys_are_named() {
        let id = x25519::Identity::generate();
        let recipients = Recipients::parse(&[id.to_public().to_string()]).unwrap();
        let sealed = recipients.encrypt_bytes(b"RIFF....WAVE").unwrap();
        assert!(!sealed.windows(4).any(|w| w == b"RIFF"));
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.txt");
        std::fs::write(
            &key,
            format!("# test\n{}\n", id.to_string().expose_secret()),
        )
        .unwrap();
        let ids = Identities::from_file(&key).unwrap();
        assert!(!format!("{ids:?}").contains("AGE-SECRET"));
        let mut plain = Vec::new();
        ids.decrypt(&sealed[..], &key)
            .unwrap()
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, b"RIFF....WAVE");
        let e = Recipients::parse(&["age1nope"]).unwrap_err();
        assert!(e.to_string().contains("age1nope"), "{e}");
        std::fs::write(&key, "AGE-SECRET-KEY-1BROKEN\n").unwrap();
        let e = Identities::from_file(&key).unwrap_err().to_string();
        assert!(!e.contains("BROKEN"), "{e}");
    }
}
