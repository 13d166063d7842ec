//! voxcap-capture's one integration-test binary. The Graph stand-in is
//! voxcap-emulator throughout; the Redis tests (feature `redis`) run a real
//! `redis-server` on loopback.

// Tests print their tables and figures (`--nocapture`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod flow;
mod hardening;
mod harness;
#[cfg(feature = "redis")]
mod redis_store;
mod store_contract;
mod webhook_router;
