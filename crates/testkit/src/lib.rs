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
//! - [`talkoff`]: the DTMF talk-off corpus's files (speech and music);
//! - [`base64url`]: unpadded base64url (JWT segments, Graph ids);
//! - [`LocalRedis`]: a throwaway `redis-server` on a loopback port;
//! - with feature `tokio`: `wait_until_async` and `two_worker_runtime`;
//! - with feature `emulator`: `emulated`, an in-process Graph emulator
//!   and its token fetch;
//! - with feature `redis`: `redis_conn`, async connections to a
//!   [`LocalRedis`] and the operation store's unfinished count;
//! - with feature `json`: `graph::record_completion`, a completion
//!   notification body;
//! - with feature `trace`: `trace::trace_capture`, a test's `tracing`
//!   output captured in memory.
//!
//! Helpers that fail report to a test, so they panic with a message naming
//! what failed, unless they return a `Result` for callers that retry.

pub mod base64url;
#[cfg(feature = "emulator")]
pub mod emulated;
#[cfg(feature = "json")]
pub mod graph;
mod local_redis;
mod net;
mod process;
#[cfg(feature = "redis")]
pub mod redis_conn;
pub mod speech;
pub mod talkoff;
#[cfg(feature = "trace")]
pub mod trace;
mod wait;

pub use local_redis::{LocalRedis, LocalRedisError};
pub use net::{free_port, try_free_port};
pub use process::ChildGuard;
#[cfg(feature = "tokio")]
pub use wait::wait_until_async;
pub use wait::{poll_until, wait_until, TimedOut, POLL_INTERVAL};

/// A two-worker multi-thread tokio runtime, like the CI machine's two cores
/// (feature `tokio`).
#[cfg(feature = "tokio")]
pub fn two_worker_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"))
}

/// The workspace's root directory (where `testdata/` and `target/` live).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
