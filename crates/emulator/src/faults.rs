//! Injectable faults, settable for the whole server or per call.
//!
//! A call's scenario may carry a `faults` object; when it does, it replaces
//! the server-wide faults for that call (no field-by-field merge, so a test
//! reads exactly what applies).

use serde::{Deserialize, Serialize};

use crate::scenario::CompletionReason;

/// Every fault the emulator can inject. All default to off.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Answer the next `count` Graph API requests with `status` (429 or 503)
    /// and `Retry-After`.
    pub throttle: Option<Throttle>,
    /// Cut the download connection after this many bytes of the body.
    pub drop_after_bytes: Option<u64>,
    /// How many downloads `drop_after_bytes` applies to (default 1), so a
    /// retry or a `Range` resume can succeed.
    pub drop_times: Option<u32>,
    /// Serve downloads at this many bytes per (real) second.
    pub download_bytes_per_sec: Option<u64>,
    /// Deliver the completion notification twice.
    pub duplicate_completion: bool,
    /// Deliver the completion notification before answering the POST.
    pub completion_before_response: bool,
    /// Surround the completion with unrelated notifications (a playPrompt
    /// operation, call state updates), some in the same batch.
    pub interleave_unrelated: bool,
    /// Never deliver the completion notification.
    pub suppress_completion: bool,
    /// Issue recording access tokens that have already expired.
    pub expired_download_token: bool,
    /// Ignore `Range` and always answer 200 with the whole file.
    pub range_disabled: bool,
    /// Report this completion reason instead of the true one (a lying
    /// service); the recording still holds what really happened.
    pub lie_completion_reason: Option<CompletionReason>,
    /// Answer the POST with the finished operation (status `completed` or
    /// `failed`) after the recording ends; no notification follows.
    pub completed_in_response: bool,
    /// Write the completion's `status` as the schema does (`Completed`,
    /// `Failed`) instead of the payload spelling.
    pub pascal_case_status: bool,
    /// Sign completion notifications with this `iss` instead of
    /// `https://graph.microsoft.com` (e.g. `https://api.botframework.com`,
    /// or with a trailing `/`).
    pub notification_issuer: Option<String>,
    /// Discard recordings this many simulated seconds after the call ends
    /// (the end of the recording operation, or the bot's DELETE of the call).
    pub discard_after_s: Option<f64>,
}

/// A burst of throttled answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throttle {
    /// 429 or 503.
    pub status: u16,
    /// How many requests are refused.
    pub count: u32,
    /// The `Retry-After` value in seconds.
    #[serde(default = "one")]
    pub retry_after_s: u32,
}

fn one() -> u32 {
    1
}

impl Faults {
    /// Checks values that JSON cannot constrain.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(t) = &self.throttle {
            if t.status != 429 && t.status != 503 {
                return Err(format!(
                    "faults.throttle.status must be 429 or 503, got {}",
                    t.status
                ));
            }
        }
        if self.download_bytes_per_sec == Some(0) {
            return Err("faults.download_bytes_per_sec must be positive".into());
        }
        if let Some(d) = self.discard_after_s {
            if !(d.is_finite() && d >= 0.0) {
                return Err(format!(
                    "faults.discard_after_s must be a non-negative number, got {d}"
                ));
            }
        }
        Ok(())
    }
}
