//! voxcap-capture's one integration-test binary. The Graph stand-in is
//! voxcap-emulator throughout; the Redis tests (feature `redis`) run a real
//! `redis-server` on loopback.

mod flow;
mod hardening;
mod harness;
#[cfg(feature = "redis")]
mod redis_store;
mod store_contract;
mod webhook_router;
