//! The Redis keys of a queue, and the check on its name.

use crate::error::QueueError;

/// Checks a queue name: it becomes part of every key, inside a hash tag.
pub fn validate_queue_name(name: &str) -> Result<(), QueueError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(QueueError::InvalidQueueName(name.to_string()))
    }
}

/// The Redis keys of one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueKeys {
    /// The job stream.
    pub jobs: String,
    /// The enqueue-order counter.
    pub seq: String,
    /// How many jobs were queued.
    pub enqueued: String,
    /// Job id → result JSON.
    pub results: String,
}

impl QueueKeys {
    /// The keys of queue `name` (not validated here).
    pub fn new(name: &str) -> Self {
        let key = |what: &str| format!("voxcap:{{{name}}}:{what}");
        QueueKeys {
            jobs: key("jobs"),
            seq: key("seq"),
            enqueued: key("enqueued"),
            results: key("results"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_one_hash_tag() {
        let k = QueueKeys::new("nightly");
        assert_eq!(k.jobs, "voxcap:{nightly}:jobs");
        assert_eq!(k.results, "voxcap:{nightly}:results");
        assert_eq!(k.seq, "voxcap:{nightly}:seq");
        assert_eq!(k.enqueued, "voxcap:{nightly}:enqueued");
    }

    #[test]
    fn queue_names_are_checked() {
        for ok in ["default", "a", "night-2026.11_23"] {
            assert!(validate_queue_name(ok).is_ok(), "{ok}");
        }
        let long = "x".repeat(65);
        for bad in ["", "a b", "a{b}", "a:b", long.as_str()] {
            assert!(validate_queue_name(bad).is_err(), "{bad:?}");
        }
    }
}
