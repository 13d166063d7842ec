//! Redacting `Debug` for the types that hold a recording location, a token
//! or a URL that may carry credentials. They live in one file so that every
//! redaction can be reviewed in one place; each prints URLs through
//! [`redact_url`] and tokens as [`crate::Secret`] does. This module only
//! implements traits: nothing imports it, so it adds no module cycle.

use crate::secret::redact_url;
use crate::tracker::CompletedRecording;
use crate::wire::{CommsNotification, MediaInfo, RecordOperation};
use std::fmt;

fn url(v: &Option<String>) -> Option<String> {
    v.as_deref().map(redact_url)
}

impl fmt::Debug for RecordOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordOperation")
            .field("odata_type", &self.odata_type)
            .field("odata_id", &self.odata_id)
            .field("id", &self.id)
            .field("client_context", &self.client_context)
            .field("status", &self.status)
            .field("result_info", &self.result_info)
            .field("recording_location", &url(&self.recording_location))
            .field("recording_access_token", &self.recording_access_token)
            .field("completion_reason", &self.completion_reason)
            .field("created_date_time", &self.created_date_time)
            .field("last_action_date_time", &self.last_action_date_time)
            .finish()
    }
}

impl fmt::Debug for CommsNotification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommsNotification")
            .field("change_type", &self.change_type)
            .field("resource_url", &url(&self.resource_url))
            .field("resource", &url(&self.resource))
            .field(
                "resource_data",
                &self.resource_data.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

impl fmt::Debug for MediaInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaInfo")
            .field("uri", &redact_url(&self.uri))
            .field("resource_id", &self.resource_id)
            .finish()
    }
}

impl fmt::Debug for CompletedRecording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompletedRecording")
            .field("call_id", &self.call_id)
            .field("operation_id", &self.operation_id)
            .field("client_context", &self.client_context)
            .field("reason", &self.reason)
            .field("result_info", &self.result_info)
            .field("location", &redact_url(&self.location))
            .field("token", &self.token)
            .field("tenant_id", &self.tenant_id)
            .finish()
    }
}
