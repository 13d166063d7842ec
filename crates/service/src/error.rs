//! [`ServiceError`]: why the service could not start or configure itself.
//! Messages name the input (the keys file and line, the address) and never
//! quote a key.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The keys file could not be read.
    #[error("API keys file {}: {source}", path.display())]
    KeysFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A key was refused (the key itself is not quoted).
    #[error("API key at {at}: {reason}")]
    BadKey {
        /// Where it came from (`VOXCAP_API_KEYS, entry 2`, `FILE, line 3`).
        at: String,
        /// Why.
        reason: String,
    },
    /// The callback secret was refused (it is not quoted).
    #[error("callback secret ({var}): {reason}")]
    BadCallbackSecret {
        /// The variable it came from.
        var: &'static str,
        /// Why.
        reason: String,
    },
    /// No key was configured: the API would refuse every request.
    #[error("no API key configured: the API refuses every request without one")]
    NoKeys,
    /// The listener could not bind.
    #[error("API listener {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The output directory could not be created.
    #[error("output directory {}: {source}", path.display())]
    OutDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The shared store (Redis) could not be reached.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The relay target was refused.
    #[error(transparent)]
    RelayTarget(#[from] crate::relay::RelayTargetError),
}
