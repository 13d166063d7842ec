//! voxcap-bot's tests, one integration binary: the record flow against an
//! in-process emulator ([`e2e`], including the voice-mail example) and a
//! fleet sharing a real `redis-server` on loopback ([`fleet`]), issue 14's
//! hostile ids and download policy ([`hardening`]), `streamWhileRecording`
//! and its live events ([`stream`]), with the set-up they
//! share with the root's tests/cli in [`shared`].

// Tests print their tables and figures (`--nocapture`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod e2e;
mod fleet;
mod hardening;
mod shared;
mod stream;

#[path = "../../../../examples/voicemail_bot.rs"]
#[allow(dead_code)] // its `main` is not run here; `app` and `take` are
mod voicemail_bot;
