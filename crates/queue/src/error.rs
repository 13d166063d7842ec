//! [`QueueError`]: why a queue operation failed.

/// Why a queue operation failed. Every message names the (redacted) Redis URL.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The URL does not parse as a Redis URL.
    #[error("{url}: not a usable Redis URL: {cause}")]
    InvalidUrl {
        /// The URL, password redacted.
        url: String,
        /// The cause; shown in the message rather than chained, because
        /// the Redis error already repeats its own cause.
        cause: redis::RedisError,
    },
    /// The server could not be reached or did not answer.
    #[error("cannot reach Redis at {url}: {cause}")]
    Unreachable {
        /// The URL, password redacted.
        url: String,
        /// The cause; shown in the message rather than chained, because
        /// the Redis error already repeats its own cause.
        cause: redis::RedisError,
    },
    /// A command failed once connected.
    #[error("Redis at {url}: {action}: {cause}")]
    Command {
        /// The URL, password redacted.
        url: String,
        /// What was being done.
        action: &'static str,
        /// The cause; shown in the message rather than chained, because
        /// the Redis error already repeats its own cause.
        cause: redis::RedisError,
    },
    /// A queue name that would break the key layout.
    #[error("{0:?} is not a queue name (1-64 of A-Z a-z 0-9 . _ -)")]
    InvalidQueueName(String),
    /// The worker's root directory does not resolve.
    #[error("worker root {path}: {source}")]
    Root {
        /// The directory as given.
        path: String,
        /// Why it does not resolve.
        #[source]
        source: std::io::Error,
    },
    /// A path that cannot be carried as UTF-8 text in a job.
    #[error("{0}: the path is not valid UTF-8, so it cannot be queued")]
    NonUtf8Path(String),
}

impl QueueError {
    /// The Redis error code (`NOGROUP`, `BUSYGROUP`...), if Redis sent one.
    pub fn redis_code(&self) -> Option<&str> {
        match self {
            QueueError::Command { cause, .. } | QueueError::Unreachable { cause, .. } => {
                cause.code()
            }
            _ => None,
        }
    }
}
