//! The `voxcap` package's library half: the record flow that `voxcap record`,
//! `voxcap demo`, the examples and the end-to-end tests share.
//!
//! - [`record`] holds [`record::Bot`] (Graph client + tracker + verified
//!   webhook) and [`record::Bot::record`], one operation end to end.
//! - [`emulated`] wires a bot to an in-process emulator (demo and tests).
//! - [`trim_out`] is the atomic trimmed-WAV writer.
//! - [`queue`] is the distributed batch on Redis (enqueue, workers, results).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod emulated;
pub mod queue;
pub mod record;
pub mod trim_out;
