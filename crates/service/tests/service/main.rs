//! voxcap-service's tests, one integration binary, against an in-process
//! emulator on loopback and a real bot: keys on every route ([`auth`]),
//! the record flow through the API with its audio, Range, idempotency,
//! deletion, the external operation, metrics and the OpenAPI document
//! ([`flow`]), signed callbacks retried through failures and their
//! latency ([`callback`]), the list's pages and bad input ([`input`]),
//! the notification relay and the webhook's notification counts
//! ([`relay`]), a request's own pads and retention ([`retention`]), the
//! keys file reloaded on change ([`keys_reload`]), abandoned recordings
//! ([`orphans`]), with
//! the set-up in [`harness`].

// Tests print their figures (`--nocapture`).
#![allow(clippy::print_stdout)]

mod auth;
mod callback;
mod fleet;
mod flow;
mod harness;
mod input;
mod keys_reload;
mod orphans;
mod relay;
mod retention;
