//! voxcap-bot: the record flow of a Graph calling bot, as a library.
//!
//! A [`Bot`] owns one Graph client, one operation tracker and one verified
//! notification webhook (with `/healthz` and `/readyz`). [`Bot::record`]
//! runs one operation end to end: recording-status permit, recordResponse,
//! completion, the download streamed into the analysis, the trimmed copy
//! and the JSON report, every file written atomically. In a fleet (a Redis
//! [`StoreChoice`]) [`Bot::take_over`] finishes the operations of dead
//! instances, and [`serve::serve`] is the loop of a fleet member.
//!
//! - [`config`] holds [`BotConfig`] and [`RecordPlan`];
//! - [`live`]: analysis while the caller speaks (`streamWhileRecording`)
//!   and its [`LiveEvent`]s;
//! - [`outcome`] holds [`Outcome`] and the report objects;
//! - [`settings`] turns a Graph request and its completion into the
//!   analysis's [`voxcap_dsp::verify::RecordSettings`];
//! - [`trim_out`] writes the trimmed copy;
//! - [`file_analysis`]: one input of `voxcap analyze` or of a queue job,
//!   hashed as read, decrypted in memory when encrypted;
//! - [`serve`] is the fleet member's loop;
//! - `speech_model` (feature `neural`): loads `--speech-model`'s Silero file;
//! - [`stewardship`]: encryption at rest, provenance, audit lines and the
//!   retention sweep (the rules and files are voxcap-records');
//! - `emulated` (feature `emulator`): a bot wired to an in-process emulator.
//!
//! Invariants: errors ([`BotError`]) name the call, operation or file and
//! never a command-line flag; nothing is printed (logs go through
//! `tracing`); nothing is persisted without a recording-status permit;
//! file names are built only from validated operation ids
//! (`OperationId::file_stem`), so nothing is written outside the output
//! directory; recordings are downloaded only under the
//! [`RecordingDownloads`] policy (https, allowed hosts, a size cap from the
//! operation's `maxRecordDurationInSeconds`). The limits and their
//! defaults are listed in `SECURITY.md`.

pub mod bot;
pub mod config;
#[cfg(feature = "emulator")]
pub mod emulated;
pub mod error;
pub mod file_analysis;
pub mod live;
pub mod outcome;
mod run;
pub mod serve;
pub mod settings;
#[cfg(feature = "neural")]
pub mod speech_model;
pub mod stewardship;
pub mod trim_out;

pub use bot::{Bot, Recorder};
pub use config::{
    ApiKind, BotConfig, NotificationAuthMode, RecordPlan, RecordSpec, RecordingDownloads,
    StoreChoice, TokenSource, TrimPads,
};
pub use error::{BotError, Result, Setting};
pub use live::{LiveEvent, LiveEvents};
pub use outcome::{OperationReport, Outcome, OutcomeKind, OutputFiles, ResultInfoReport};
pub use stewardship::Stewardship;
