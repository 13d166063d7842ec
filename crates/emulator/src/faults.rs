//! Injectable faults, settable for the whole server or per call.
//!
//! A call's scenario may carry a `faults` object; when it does, it replaces
//! the server-wide faults for that call (no field-by-field merge, so a test
//! reads exactly what applies).

use serde::{Deserialize, Serialize};

use crate::wire::CompletionReason;

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
    /// Make notification JWTs wrong in this way (forged, unsigned, expired,
    /// missing, for another audience, or under an unpublished `kid`).
    pub notification_jwt: Option<NotificationJwt>,
    /// Answer every `recordResponse` (and legacy `record`) POST that passed
    /// auth and throttling with this status (400..=599) and a Graph error
    /// body; no operation is started.
    pub record_error_status: Option<u16>,
    /// Issue app tokens that live this many seconds (default 3599).
    /// Server-wide only: the token endpoint belongs to no call.
    pub app_token_lifetime_s: Option<u64>,
    /// Write the token response's `expires_in` as a JSON string (`"3599"`),
    /// as some Azure AD endpoints do. Server-wide only.
    pub token_expires_in_as_string: bool,
    /// Write this id instead of the operation's own in the recordResponse
    /// (and legacy `record`) answer's body and `Location` (a broken or
    /// hostile Graph, e.g. `../x`); the operation still runs under its
    /// real id.
    pub answer_operation_id: Option<String>,
    /// Write `recordingLocation` as `{this}/recordings/{id}` instead of
    /// `{base_url}/recordings/{id}`, e.g. `http://localhost:PORT`: a
    /// location on another host (or scheme) that may still reach this
    /// emulator.
    pub recording_location_base: Option<String>,
}

/// How a notification JWT is made. The default is the genuine article.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationJwt {
    /// RS256 with the published key, addressed to the app.
    #[default]
    Valid,
    /// Signed with an unpublished key under the published `kid`.
    Forged,
    /// Signed with an unpublished key under its own `kid`, which the JWKS
    /// does not list (a client should refetch the keys, rate-limited).
    UnknownKid,
    /// `alg: none`, no signature.
    Unsigned,
    /// Validly signed, but expired an hour ago.
    Expired,
    /// Validly signed, but addressed to another app.
    WrongAudience,
    /// No `Authorization` header at all.
    Missing,
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
        if let Some(s) = self.record_error_status {
            if !(400..=599).contains(&s) {
                return Err(format!(
                    "faults.record_error_status must be 400..=599, got {s}"
                ));
            }
        }
        if self.app_token_lifetime_s == Some(0) {
            return Err("faults.app_token_lifetime_s must be positive".into());
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
