//! voxcap-capture: everything voxcap says to and hears from Microsoft Graph.
//!
//! - [`wire`]: Graph wire types (recordOperation, commsNotifications,
//!   resultInfo, the subcode table), lenient on input, validated on output.
//! - [`client`]: [`GraphClient`] with token providers and safe retries.
//! - [`webhook`]: the JWT-verified notification endpoint, as an axum router.
//! - [`tracker`]: [`OperationTracker`], whose handles resolve exactly once to
//!   completed, failed or lost; [`store`] holds its state: in memory by
//!   default, or in Redis for a fleet of instances (`redis` feature,
//!   `redis_store`).
//! - [`compliance`]: [`RecordingPermit`], required to persist media.
//! - [`download`]: streaming download into a file and an analysis closure;
//!   [`started`]: the location of a recording still being made
//!   (`streamWhileRecording`), so the download can start at once.
//! - [`secret`]: redaction of tokens in logs and errors.
//! - [`ids`] and [`limits`]: validation of ids and sizes that arrive from
//!   outside (Graph answers, notifications, the shared store); see
//!   `SECURITY.md` for every limit and its default.
//! - [`instance_id`]: the `host-pid-random` id of a fleet instance or worker;
//!   `redis_conn` (feature `redis`): the one Redis connection helper (TLS,
//!   bounded handshake) the store, the bot and the batch queue share.
//! - [`atomic_file`]: JSON files written atomically (temp, fsync, rename).
//!
//! Invariants: no token is ever formatted (see [`secret::Secret`]); the Graph
//! app token never goes to the recording host; a POST is repeated only when
//! Graph provably did not act on it.

pub mod atomic_file;
pub mod client;
pub mod compliance;
pub mod download;
pub mod download_policy;
pub mod error;
mod http_server;
pub mod ids;
pub mod instance_id;
pub mod limits;
mod recording_sink;
mod redacted_debug;
#[cfg(feature = "redis")]
pub mod redis_conn;
#[cfg(feature = "redis")]
pub mod redis_store;
pub mod secret;
pub mod started;
pub mod store;
pub mod tap;
pub mod tracker;
pub mod webhook;
pub mod wire;

pub use client::{ClientCredentialsConfig, GraphClient, GraphVersion, RetryPolicy};
pub use compliance::{RecordingEnd, RecordingPermit};
pub use download::{
    download_and_analyze, DownloadInfo, DownloadOptions, RecordingReader, StoredRecording,
};
pub use download_policy::DownloadPolicy;
pub use error::{CaptureError, Result};
pub use ids::OperationId;
pub use limits::EarlyBufferLimits;
pub use secret::{Secret, SecretEnvError};
pub use started::{RecordingStarted, StartedRecording};
pub use tracker::{
    AdoptedOperation, OperationHandle, OperationTracker, RecordApi, RecordOptions, RecordOutcome,
    TrackerConfig,
};
pub use webhook::{JwtConfig, NotificationAuth, WebhookState};
