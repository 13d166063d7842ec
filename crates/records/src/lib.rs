//! voxcap-records: what voxcap keeps about the recordings it stores, and
//! the rules it keeps them by.
//!
//! - [`atomic`]: files written through a temp file, fsync and rename;
//! - [`digest`]: SHA-256 over bytes as they pass ([`digest::HashingReader`],
//!   [`digest::Sha256Hasher`]), hex form;
//! - [`crypt`]: encryption at rest with age X25519 recipients, and reading
//!   encrypted files back with an identity file;
//! - [`provenance`]: the `provenance` object of every report, the settings
//!   hash, RFC 3339 UTC times;
//! - [`audit`]: `DIR/audit.ndjson`, an append-only, fsynced, hash-chained
//!   log of what happened to each recording;
//! - [`layout`]: which files in an output directory belong to which
//!   recording;
//! - [`retention`]: the retention sweep and erasure on request (`purge`);
//! - [`verify`]: recomputes stored hashes and checks the audit chain.
//!
//! Invariants: no async, no network, no DSP; nothing is deleted outside the
//! files [`layout`] attributes to a recording (a 32-hex-digit stem); the
//! audit trail never holds a token or audio, only ids, hashes, times and
//! reasons; errors ([`RecordsError`]) name the file and the cause.

pub mod atomic;
pub mod audit;
pub mod crypt;
pub mod digest;
mod error;
pub mod layout;
pub mod provenance;
pub mod retention;
pub mod time;
pub mod verify;

pub use error::{RecordsError, Result};
