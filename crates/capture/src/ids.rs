//! Validation of the ids that reach voxcap from outside: operation ids from
//! Graph's answer, from notifications and from the shared store's records,
//! and call ids from the same places.
//!
//! An operation id names files (`<id>.wav`, `.trimmed.wav`, `.json`), so it
//! must never be able to name a path: `../x` or `/abs` joined to the output
//! directory would write outside it. Graph writes operation ids as GUIDs, in
//! two forms for the same operation (`0fe0623f-d628-42ed-b4bd-8ac290072cc5`
//! and `0FE0623FD62842EDB4BD8AC290072CC5`); only those two shapes (in either
//! case) are accepted, and file names are built from the normalised form
//! ([`OperationId::file_stem`]: 32 lower-case hex digits), which cannot hold
//! a separator, a dot or anything but `[0-9a-f]`.
//!
//! Call ids go into Graph URL paths and store keys, never into file names.
//! Graph's are GUIDs too, but test fixtures and emulators use readable ids
//! (`call-happy`), so a call id may hold ASCII letters, digits and dashes
//! (1 to 128 of them): no separator, dot, percent sign or space.

use crate::error::CaptureError;
use crate::wire::{NormalizedId, OperationKey};
use std::fmt;

/// Longest call id accepted.
pub const MAX_CALL_ID_CHARS: usize = 128;

/// A validated operation id: a GUID in one of Graph's two forms.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OperationId {
    raw: String,
    normalized: NormalizedId,
}

impl OperationId {
    /// Validates `raw`, an operation id that arrived from `origin` (for
    /// example "the answer to recordResponse for call 57da…"); the error
    /// names both.
    pub fn parse(raw: &str, origin: &str) -> Result<Self, CaptureError> {
        if is_guid(raw) {
            Ok(OperationId {
                raw: raw.to_string(),
                normalized: NormalizedId::new(raw),
            })
        } else {
            Err(invalid_id("operation id", raw, origin, GUID_RULE))
        }
    }

    /// The id as Graph wrote it.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The normalised id (dashes removed, lower case): equal for both forms.
    pub fn normalized(&self) -> &NormalizedId {
        &self.normalized
    }

    /// What file names are built from: 32 lower-case hex digits, e.g.
    /// `0fe0623fd62842edb4bd8ac290072cc5` for `<stem>.wav`. It holds no path
    /// separator, dot or other character a path could act on.
    pub fn file_stem(&self) -> &str {
        self.normalized.as_str()
    }
}

impl fmt::Debug for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OperationId({})", self.raw)
    }
}

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

const GUID_RULE: &str = "not a GUID (8-4-4-4-12 hex digits with dashes, or 32 hex digits without)";
const CALL_ID_RULE: &str = "expected 1-128 ASCII letters, digits or '-'";

/// True for `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` or 32 hex digits (any case).
pub fn is_guid(raw: &str) -> bool {
    let b = raw.as_bytes();
    match b.len() {
        32 => b.iter().all(u8::is_ascii_hexdigit),
        36 => b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        }),
        _ => false,
    }
}

/// True for a usable call id: 1-128 ASCII letters, digits or dashes.
pub fn is_call_id(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= MAX_CALL_ID_CHARS
        && raw.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
}

/// Validates a call id that arrived from `origin`.
pub fn check_call_id(raw: &str, origin: &str) -> Result<(), CaptureError> {
    if is_call_id(raw) {
        Ok(())
    } else {
        Err(invalid_id("call id", raw, origin, CALL_ID_RULE))
    }
}

/// Validates an already normalised key (from a notification's resource path
/// or a store record): the operation id must be 32 hex digits and the call
/// id a valid call id.
pub fn check_key(key: &OperationKey, origin: &str) -> Result<(), CaptureError> {
    let op = key.operation_id.as_str();
    if !(op.len() == 32 && op.bytes().all(|c| c.is_ascii_hexdigit())) {
        return Err(invalid_id("operation id", op, origin, GUID_RULE));
    }
    check_call_id(key.call_id.as_str(), origin)
}

/// The error for a refused id: names the kind, the origin and the rule, and
/// quotes the value escaped and shortened (it came from outside).
fn invalid_id(kind: &str, raw: &str, origin: &str, rule: &str) -> CaptureError {
    let shown: String = raw.chars().take(80).collect();
    let more = if raw.chars().count() > 80 { "…" } else { "" };
    CaptureError::InvalidInput {
        what: format!("{kind} {shown:?}{more} from {origin}"),
        reason: rule.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_in_both_graph_forms_share_one_file_stem() {
        let a = OperationId::parse("0fe0623f-d628-42ed-b4bd-8ac290072cc5", "test").unwrap();
        let b = OperationId::parse("0FE0623FD62842EDB4BD8AC290072CC5", "test").unwrap();
        assert_eq!(a.file_stem(), "0fe0623fd62842edb4bd8ac290072cc5");
        assert_eq!(a.file_stem(), b.file_stem());
    }

    /// Weakness 2: ids that name paths are refused, with the origin named.
    #[test]
    fn path_like_and_malformed_operation_ids_are_refused() {
        for bad in [
            "",
            "../x",
            "/abs/path",
            "..",
            "0fe0623f-d628-42ed-b4bd-8ac290072cc5/..",
            "0fe0623f/d628-42ed-b4bd-8ac290072cc5",
            "0fe0623fd62842edb4bd8ac290072cc",
            "0fe0623f-d62842ed-b4bd-8ac290072cc5",
            "0fe0623g-d628-42ed-b4bd-8ac290072cc5",
            "0fe0623f-d628-42ed-b4bd-8ac290072cc5 ",
            "%2e%2e%2fx",
            "C:\\x",
        ] {
            let e = OperationId::parse(bad, "the answer to recordResponse for call c1")
                .expect_err(bad)
                .to_string();
            assert!(
                e.contains("the answer to recordResponse for call c1") && e.contains("not a GUID"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn call_ids_allow_letters_digits_and_dashes_only() {
        for ok in ["57dab8b1-894c-409a-b240-bd8beae78896", "call-happy", "A1"] {
            assert!(is_call_id(ok), "{ok}");
        }
        let long = "x".repeat(129);
        for bad in ["", "..", "a/b", "a.b", "a_b", "a b", "a%2f", long.as_str()] {
            assert!(check_call_id(bad, "a notification").is_err(), "{bad}");
        }
    }

    #[test]
    fn normalised_keys_are_checked() {
        let good = OperationKey::new("call-1", "0FE0623F-D628-42ED-B4BD-8AC290072CC5");
        assert!(check_key(&good, "x").is_ok());
        for (c, o) in [
            ("call-1", ".."),
            ("a.b", "0fe0623fd62842edb4bd8ac290072cc5"),
        ] {
            assert!(check_key(&OperationKey::new(c, o), "x").is_err(), "{c} {o}");
        }
    }
}
