//! The `voxcap` binary's tests, one integration binary with a module per
//! subcommand family. Each spawns the real binary
//! (`CARGO_BIN_EXE_voxcap`); the library behind it is tested in its crate.
//!
//! - [`analyze`]: `voxcap analyze` on the clips and the malformed corpus;
//! - [`record`]: `voxcap record`, `demo` and `emulate` against the emulator;
//! - [`fleet`]: `voxcap serve` and `record` with Redis (needs redis-server);
//! - [`queue`]: `enqueue`, `worker` and `results` (needs redis-server);
//! - [`hardening`]: `record`'s download policy and size-cap flags.

mod analyze;
mod fleet;
mod hardening;
mod queue;
mod record;
