//! The compliance guard: media may be persisted only after Graph accepted
//! `updateRecordingStatus(recording)`.
//!
//! [`RecordingPermit`] has private fields and exactly one constructor,
//! [`RecordingPermit::acquire`], which returns it only when that call
//! succeeded. The function that writes the final recording file
//! ([`crate::download::download_and_analyze`]) requires a `&RecordingPermit`,
//! so code that skips the status call does not compile:
//!
//! ```compile_fail,E0451
//! let permit = voxcap_capture::compliance::RecordingPermit { call_id: String::new(), client_context: String::new(), released: false };
//! ```
//!
//! When recording ends, [`RecordingPermit::release`] sets the status to
//! `notRecording`, or `failed` if persisting failed.

use crate::client::GraphClient;
use crate::error::{CaptureError, Result};
use crate::wire::{OperationStatus, RecordingStatus, UpdateRecordingStatusRequest};

/// Proof that Graph accepted `updateRecordingStatus(recording)` for a call.
#[must_use = "release the permit with RecordingPermit::release when recording ends"]
#[derive(Debug)]
pub struct RecordingPermit {
    call_id: String,
    client_context: String,
    released: bool,
}

/// How recording ended, for [`RecordingPermit::release`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingEnd {
    /// Persisting succeeded: status becomes `notRecording`.
    Finished,
    /// Persisting failed: status becomes `failed`.
    Failed,
}

impl RecordingPermit {
    /// Calls `updateRecordingStatus(recording)` and returns a permit only on
    /// success (2xx and an operation status other than `failed`).
    pub async fn acquire(
        client: &GraphClient,
        call_id: &str,
        client_context: impl Into<String>,
    ) -> Result<RecordingPermit> {
        let client_context = client_context.into();
        let req = UpdateRecordingStatusRequest {
            client_context: client_context.clone(),
            status: RecordingStatus::Recording,
        };
        let op = client.update_recording_status(call_id, &req).await?;
        if op.status == Some(OperationStatus::Failed) {
            return Err(CaptureError::Protocol {
                action: format!("updateRecordingStatus(recording) for call {call_id}"),
                reason: format!(
                    "Graph reported the status update as failed ({}); media must not be persisted",
                    op.result_info.map(|r| r.to_string()).unwrap_or_default()
                ),
            });
        }
        tracing::debug!(call_id, "recording status set to recording");
        Ok(RecordingPermit {
            call_id: call_id.to_string(),
            client_context,
            released: false,
        })
    }

    /// The permit of an operation taken over from a dead instance of the
    /// same fleet: `Some` only if that instance held one (it recorded so in
    /// the shared store when it started the operation), since Graph's
    /// recording status is per call, not per process. Releasing it ends the
    /// status as [`RecordingPermit::release`] always does.
    pub fn inherit(adopted: &crate::tracker::AdoptedOperation) -> Option<RecordingPermit> {
        if !adopted.permit_held() {
            return None;
        }
        let p = &adopted.orphan.pending;
        Some(RecordingPermit {
            call_id: p.call_id.clone(),
            client_context: p.client_context.clone().unwrap_or_default(),
            released: false,
        })
    }

    /// The call this permit covers.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Sets the status to `notRecording` (or `failed`), consuming the permit.
    pub async fn release(mut self, client: &GraphClient, end: RecordingEnd) -> Result<()> {
        self.released = true;
        let status = match end {
            RecordingEnd::Finished => RecordingStatus::NotRecording,
            RecordingEnd::Failed => RecordingStatus::Failed,
        };
        let req = UpdateRecordingStatusRequest {
            client_context: self.client_context.clone(),
            status,
        };
        client.update_recording_status(&self.call_id, &req).await?;
        tracing::debug!(call_id = %self.call_id, ?status, "recording status released");
        Ok(())
    }
}

impl Drop for RecordingPermit {
    fn drop(&mut self) {
        if !self.released {
            tracing::warn!(call_id = %self.call_id,
                "recording permit dropped without release: Graph still shows the call as recording");
        }
    }
}
