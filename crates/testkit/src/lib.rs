//! voxcap-testkit: the test infrastructure every voxcap crate's tests share,
//! written once (rust-analyzer's `test-utils`).
//!
//! - [`free_port`]: a free TCP port on loopback;
//! - [`ChildGuard`]: a child process killed when the test ends, and
//!   [`ChildGuard::wait_timeout`] for one that must exit in time;
//! - [`wait_until`] / [`poll_until`]: a condition polled until a deadline,
//!   failing with a message that names what was awaited;
//! - [`speech`]: the committed speech fixtures of `testdata/speech/` and
//!   their energy-aligned truth;
//! - [`base64url`]: unpadded base64url (JWT segments, Graph ids);
//! - [`LocalRedis`]: a throwaway `redis-server` on a loopback port.
//!
//! Helpers that fail report to a test, so they panic with a message naming
//! what failed, unless they return a `Result` for callers that retry.

pub mod base64url;
mod local_redis;
mod net;
mod process;
pub mod speech;
mod wait;

pub use local_redis::{LocalRedis, LocalRedisError};
pub use net::{free_port, try_free_port};
pub use process::ChildGuard;
pub use wait::{poll_until, wait_until, TimedOut, POLL_INTERVAL};

/// The workspace's root directory (where `testdata/` and `target/` live).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
