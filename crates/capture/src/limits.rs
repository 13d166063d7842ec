//! Size limits on what Graph (or anyone posing as it) hands voxcap: the
//! fields of a `recordOperation`, and the memory the early-completion
//! buffers may hold.
//!
//! A notification's JWT is not bound to its body, so a captured valid token
//! lets a sender choose every field. Graph's own fields are small (a
//! recording URL of a few hundred bytes, a token of a few KiB, a
//! `clientContext` of at most 256 characters, as the recordOperation page
//! says), so anything far larger is refused before it is stored or acted on.

use crate::error::CaptureError;
use crate::ids::{check_key, is_guid};
use crate::wire::{NormalizedId, OperationKey, RecordOperation, MAX_CLIENT_CONTEXT_CHARS};

/// Longest `recordingLocation` accepted, in bytes (2 KiB).
pub const MAX_RECORDING_LOCATION_BYTES: usize = 2 * 1024;
/// Longest token accepted (the notification's bearer JWT and the
/// `recordingAccessToken`), in bytes (16 KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Longest `clientContext` accepted, in characters (Graph's own limit).
pub const MAX_CLIENT_CONTEXT: usize = MAX_CLIENT_CONTEXT_CHARS;

/// Fixed bytes counted per buffered completion on top of its strings (the
/// map entry, the key and the other fields), so many tiny completions are
/// bounded by the byte cap too.
pub const EARLY_ENTRY_OVERHEAD_BYTES: usize = 512;

/// Caps of an early-completion buffer: completions that arrived before the
/// POST answer named their operation, kept until it does or their TTL ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EarlyBufferLimits {
    /// Most completions buffered at once. Default 10,000.
    pub max_entries: usize,
    /// Most bytes buffered at once, counted by [`completion_size`].
    /// Default 8 MiB: with the field limits a completion is at most about
    /// 19 KiB (over 400 of the largest fit), a real one about 1-2 KiB.
    pub max_bytes: usize,
}

impl Default for EarlyBufferLimits {
    fn default() -> Self {
        EarlyBufferLimits {
            max_entries: 10_000,
            max_bytes: 8 * 1024 * 1024,
        }
    }
}

/// The bytes a buffered completion is charged: its strings plus
/// [`EARLY_ENTRY_OVERHEAD_BYTES`].
pub fn completion_size(op: &RecordOperation) -> usize {
    let s = |v: &Option<String>| v.as_ref().map_or(0, String::len);
    EARLY_ENTRY_OVERHEAD_BYTES
        + s(&op.odata_type)
        + s(&op.odata_id)
        + s(&op.id)
        + s(&op.client_context)
        + s(&op.recording_location)
        + s(&op.created_date_time)
        + s(&op.last_action_date_time)
        + op.recording_access_token
            .as_ref()
            .map_or(0, |t| t.expose().len())
        + op.result_info
            .as_ref()
            .and_then(|r| r.message.as_ref())
            .map_or(0, String::len)
}

/// Checks the fields of `op`, which arrived from `origin`: the location,
/// token and `clientContext` sizes, and the id's shape when there is one.
pub fn check_operation_fields(op: &RecordOperation, origin: &str) -> Result<(), CaptureError> {
    let refuse = |field: &str, reason: String| CaptureError::InvalidInput {
        what: format!("{field} from {origin}"),
        reason,
    };
    if let Some(loc) = &op.recording_location {
        if loc.len() > MAX_RECORDING_LOCATION_BYTES {
            return Err(refuse(
                "recordingLocation",
                format!(
                    "{} bytes, more than the {MAX_RECORDING_LOCATION_BYTES} allowed",
                    loc.len()
                ),
            ));
        }
    }
    if let Some(tok) = &op.recording_access_token {
        if tok.expose().len() > MAX_TOKEN_BYTES {
            return Err(refuse(
                "recordingAccessToken",
                format!(
                    "{} bytes, more than the {MAX_TOKEN_BYTES} allowed",
                    tok.expose().len()
                ),
            ));
        }
    }
    if let Some(ctx) = &op.client_context {
        let n = ctx.chars().count();
        if n > MAX_CLIENT_CONTEXT {
            return Err(refuse(
                "clientContext",
                format!("{n} characters, more than the {MAX_CLIENT_CONTEXT} allowed"),
            ));
        }
    }
    if let Some(id) = op.id.as_deref().filter(|s| !s.is_empty()) {
        if !is_guid(id) {
            let shown: String = id.chars().take(80).collect();
            return Err(refuse("operation id", format!("{shown:?} is not a GUID")));
        }
    }
    Ok(())
}

/// Checks a completion before it is matched or buffered: the key's ids
/// and the operation's fields.
pub fn check_completion(
    key: &OperationKey,
    op: &RecordOperation,
    origin: &str,
) -> Result<(), CaptureError> {
    check_key(key, origin)?;
    check_operation_fields(op, origin)
}

/// Checks a record read back from a shared store (on adoption, from
/// `origin`): the key's ids, the raw ids in its settings (which must name the
/// same operation) and the stored completion's fields.
pub fn check_stored_record(
    key: &OperationKey,
    call_id: &str,
    operation_id: &str,
    completion: Option<&RecordOperation>,
    origin: &str,
) -> Result<(), CaptureError> {
    check_key(key, origin)?;
    let op = crate::ids::OperationId::parse(operation_id, origin)?;
    crate::ids::check_call_id(call_id, origin)?;
    if *op.normalized() != key.operation_id || NormalizedId::new(call_id) != key.call_id {
        return Err(CaptureError::InvalidInput {
            what: format!("ids in {origin}"),
            reason: "they name another operation than the record's key".into(),
        });
    }
    if let Some(c) = completion {
        check_operation_fields(c, origin)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    fn op() -> RecordOperation {
        RecordOperation {
            id: Some("0fe0623f-d628-42ed-b4bd-8ac290072cc5".into()),
            client_context: Some("ctx".into()),
            recording_location: Some("https://file.location/abc".into()),
            recording_access_token: Some(Secret::new("tok")),
            ..RecordOperation::default()
        }
    }

    #[test]
    fn field_limits_table() {
        let at_limits = RecordOperation {
            recording_location: Some(format!(
                "https://h/{}",
                "a".repeat(MAX_RECORDING_LOCATION_BYTES - 10)
            )),
            recording_access_token: Some(Secret::new("t".repeat(MAX_TOKEN_BYTES))),
            client_context: Some("é".repeat(MAX_CLIENT_CONTEXT)),
            ..op()
        };
        assert!(check_operation_fields(&op(), "n").is_ok());
        assert!(check_operation_fields(&at_limits, "n").is_ok());
        let cases: [(&str, RecordOperation); 4] = [
            (
                "recordingLocation",
                RecordOperation {
                    recording_location: Some("x".repeat(MAX_RECORDING_LOCATION_BYTES + 1)),
                    ..op()
                },
            ),
            (
                "recordingAccessToken",
                RecordOperation {
                    recording_access_token: Some(Secret::new("t".repeat(MAX_TOKEN_BYTES + 1))),
                    ..op()
                },
            ),
            (
                "clientContext",
                RecordOperation {
                    client_context: Some("c".repeat(MAX_CLIENT_CONTEXT + 1)),
                    ..op()
                },
            ),
            (
                "operation id",
                RecordOperation {
                    id: Some("../x".into()),
                    ..op()
                },
            ),
        ];
        for (field, bad) in cases {
            let e = check_operation_fields(&bad, "a notification").unwrap_err();
            let text = e.to_string();
            assert!(
                text.contains(field) && text.contains("a notification"),
                "{text}"
            );
            assert!(!text.contains("ttttt"), "the token leaked: {text}");
        }
    }

    #[test]
    fn completion_size_counts_the_strings() {
        let big = RecordOperation {
            recording_location: Some("x".repeat(1000)),
            ..op()
        };
        assert!(completion_size(&big) >= 1000 + EARLY_ENTRY_OVERHEAD_BYTES);
        assert!(completion_size(&op()) < 1024);
    }
}
