//! The `provenance` object of a report: where the recording came from, who
//! stored it and how, and the hash of every file stored, so that
//! [`crate::verify`] can tell later whether a file still is what was
//! written.

use serde::{Deserialize, Serialize};

use crate::digest::{sha256_hex, FileDigest};

/// voxcap's version, as reports carry it.
pub const VOXCAP_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `provenance` object (fields missing from a stored one read as
/// their defaults: reports of older versions and hand-written ones).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Provenance {
    /// SHA-256 (hex) of the recording exactly as served (the plaintext,
    /// also when it is stored encrypted).
    pub sha256: Option<String>,
    /// Its size as served.
    pub bytes: Option<u64>,
    /// Whether the audio is stored encrypted (age).
    pub encrypted: bool,
    /// Every audio file written for the recording, as written (for an
    /// encrypted file: the hash of the ciphertext on disk).
    pub stored: Vec<StoredFile>,
    /// The call.
    pub call_id: String,
    /// The operation.
    pub operation_id: String,
    /// The client context.
    pub client_context: Option<String>,
    /// The tenant of the notification, when its token was verified.
    pub tenant_id: Option<String>,
    /// When the completion reached this process (RFC 3339, UTC).
    pub notified_at: Option<String>,
    /// When the download started.
    pub download_started_at: Option<String>,
    /// When its last byte arrived.
    pub download_finished_at: Option<String>,
    /// The host (and port) the recording was read from.
    pub recording_host: Option<String>,
    /// The `updateRecordingStatus` calls made for the call.
    pub recording_status_calls: Vec<StatusCall>,
    /// The voxcap version that wrote the report.
    pub voxcap_version: String,
    /// SHA-256 of the canonical JSON of the analysis settings
    /// ([`settings_sha256`]).
    pub settings_sha256: Option<String>,
    /// The instance that wrote the report.
    pub instance: Option<String>,
    /// Why the audio is gone though the report stays (e.g.
    /// `after-analysis`), when it was deleted on purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_deleted: Option<String>,
}

/// One stored file and its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredFile {
    /// The file name, in the report's directory.
    pub file: String,
    /// SHA-256 (hex) of the bytes on disk.
    pub sha256: String,
    /// Its size on disk.
    pub bytes: u64,
}

impl StoredFile {
    /// `file` with the hash of what was written to it.
    pub fn new(file: impl Into<String>, digest: &FileDigest) -> Self {
        StoredFile {
            file: file.into(),
            sha256: digest.sha256.clone(),
            bytes: digest.bytes,
        }
    }
}

/// One `updateRecordingStatus` call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusCall {
    /// The status asked for: `recording`, `notRecording` or `failed`.
    pub status: String,
    /// When the answer came (RFC 3339, UTC).
    pub at: String,
    /// `ok`, or why it failed; `inherited` for a permit taken over from a
    /// dead fleet instance (that instance made the call).
    pub result: String,
}

/// The JSON text of `value` with every object's keys sorted and no
/// whitespace: the canonical form hashed for the settings.
pub fn canonical_json(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let body: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical_json(&map[k])))
                .collect();
            format!("{{{}}}", body.join(","))
        }
        Value::Array(items) => {
            let body: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", body.join(","))
        }
        other => other.to_string(),
    }
}

/// SHA-256 (hex) of the canonical JSON of `settings`.
pub fn settings_sha256(settings: &serde_json::Value) -> String {
    sha256_hex(canonical_json(settings).as_bytes())
}

/// `host[:port]` of a URL, without user info, path or query (a recording
/// location's query may hold a token).
pub fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_ignores_key_order() {
        let a = serde_json::json!({"b": 1, "a": {"d": [1, 2], "c": "x"}});
        let b = serde_json::json!({"a": {"c": "x", "d": [1, 2]}, "b": 1});
        assert_eq!(canonical_json(&a), r#"{"a":{"c":"x","d":[1,2]},"b":1}"#);
        assert_eq!(settings_sha256(&a), settings_sha256(&b));
        assert_ne!(
            settings_sha256(&a),
            settings_sha256(&serde_json::json!({"b": 2}))
        );
    }

    #[test]
    fn host_of_a_location_drops_credentials_and_query() {
        let cases = [
            (
                "https://u:p@Rec.example:8443/a/b?token=x",
                Some("rec.example:8443"),
            ),
            ("http://127.0.0.1:5000/rec", Some("127.0.0.1:5000")),
            ("no-scheme", None),
        ];
        for (url, want) in cases {
            assert_eq!(url_host(url).as_deref(), want, "{url}");
        }
    }
}
