//! [`RecordsError`]: what went wrong, naming the file and the cause.

use std::path::PathBuf;

/// Errors of voxcap-records.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordsError {
    /// A file operation failed.
    #[error("{path}: {action}: {source}")]
    Io {
        /// What was being done (`"reading"`, `"deleting"`...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A recipient given for encryption is not an age X25519 public key.
    #[error("recipient {recipient:?} is not an age X25519 public key (age1...): {reason}")]
    BadRecipient {
        /// The text given (a public key, not a secret).
        recipient: String,
        /// Why it was refused.
        reason: String,
    },
    /// An identity file could not be read or holds no usable identity.
    #[error("identity file {path}: {reason}")]
    BadIdentity {
        /// The identity file.
        path: PathBuf,
        /// Why (never the key itself).
        reason: String,
    },
    /// An encrypted file could not be decrypted.
    #[error("{path}: cannot decrypt: {reason}")]
    Decrypt {
        /// The encrypted file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A text setting (an age such as `30d`) is malformed.
    #[error("{what} {text:?}: {reason}")]
    BadSetting {
        /// What it is (`"age"`).
        what: &'static str,
        /// The text given.
        text: String,
        /// Why it was refused.
        reason: String,
    },
}

/// voxcap-records' result type.
pub type Result<T, E = RecordsError> = std::result::Result<T, E>;

impl RecordsError {
    /// An [`RecordsError::Io`] builder for `map_err`.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| RecordsError::Io {
            action,
            path,
            source,
        }
    }
}
