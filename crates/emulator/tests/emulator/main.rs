//! The emulator's one integration-test binary: a plain reqwest client drives
//! every endpoint and fault, and a tiny axum webhook receiver verifies every
//! notification's JWT against the JWKS fetched from the emulator.

mod auth;
mod download;
mod faults;
mod harness;
mod notify;
mod record;
mod sdk;
