//! The `voxcap` binary's tests, one integration binary with a module per
//! subcommand family. Each spawns the real binary
//! (`CARGO_BIN_EXE_voxcap`); the library behind it is tested in its crate.
//!
//! - [`analyze`]: `voxcap analyze` on the clips and the malformed corpus;
//! - [`record`]: `voxcap record`, `demo` and `emulate` against the emulator;
//! - [`fleet`]: `voxcap serve` and `record` with Redis (needs redis-server);
//! - [`queue`]: `enqueue`, `worker` and `results` (needs redis-server);
//! - [`hardening`]: huge float samples and injected panics in `analyze`;
//! - [`record_hardening`]: `record`'s download policy and size-cap flags;
//! - [`report`]: `voxcap report` and `analyze --html`;
//! - [`service`]: `voxcap serve --api-keys-file`: the keys file reloaded,
//!   RSS with 200 recordings pending;
//! - [`compliance`]: provenance, `verify-provenance`, `purge`, retention,
//!   `--encrypt-to` (no plaintext on disk), `decrypt`, `analyze --identity`;
//! - [`harness`]: running the binary, NDJSON output, test data, a bot's
//!   Graph flags; [`bot_shared`]: the set-up shared with voxcap-bot's tests.

// Tests print their tables and figures (`--nocapture`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod analyze;
#[path = "../../crates/bot/tests/bot/shared.rs"]
mod bot_shared;
mod compliance;
mod fleet;
mod hardening;
mod harness;
mod queue;
mod record;
mod record_hardening;
mod report;
mod service;
