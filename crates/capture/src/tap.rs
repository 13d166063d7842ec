//! What the webhook and the tracker tell an observer ([`WebhookTap`]): a
//! relay forwarding accepted notifications, metrics counting outcomes. A
//! module of its own so that both can name it without using each other.

use axum::http::HeaderValue;

/// A notification the webhook verified, parsed and queued (answered
/// `202`), as it came: what a relay forwards unchanged.
#[derive(Debug, Clone)]
pub struct AcceptedNotification {
    /// The body, byte for byte.
    pub body: bytes::Bytes,
    /// The request's `Authorization` header (Graph's JWT), for a receiver
    /// that verifies it again. `Debug` shows its length only.
    pub authorization: Option<RedactedHeader>,
    /// The request's `Content-Type`.
    pub content_type: Option<HeaderValue>,
    /// The call the (first) notification is about, from its resource path
    /// (`.../calls/{id}...`), as Graph wrote it; `None` when none names one.
    pub call_id: Option<String>,
}

/// A header value that `Debug` does not show (a bearer token).
#[derive(Clone)]
pub struct RedactedHeader(pub HeaderValue);

impl std::fmt::Debug for RedactedHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedactedHeader({} bytes)", self.0.len())
    }
}

/// Why the webhook refused a notification, as a metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// No bearer token.
    MissingToken,
    /// A token that is malformed, signed by an unknown key, expired, for
    /// another audience or issuer.
    BadToken,
    /// The signing keys could not be fetched.
    KeysUnavailable,
    /// The token's tenant is not on the allow-list.
    Tenant,
    /// Auth is disabled and the peer is not loopback, or came via a proxy.
    NotLoopback,
    /// The body could not be read (too large, cut off).
    UnreadableBody,
    /// The body is not a `commsNotifications` document.
    NotNotifications,
    /// The tracker's queue is full (`503`; Graph redelivers).
    QueueFull,
}

impl Refusal {
    /// A stable snake_case name (`bad_token`, `queue_full`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::MissingToken => "missing_token",
            Refusal::BadToken => "bad_token",
            Refusal::KeysUnavailable => "keys_unavailable",
            Refusal::Tenant => "tenant",
            Refusal::NotLoopback => "not_loopback",
            Refusal::UnreadableBody => "unreadable_body",
            Refusal::NotNotifications => "not_notifications",
            Refusal::QueueFull => "queue_full",
        }
    }
}

/// Hears of each notification the webhook answers, and (given to the
/// tracker in [`crate::TrackerConfig::tap`]) of what the tracker makes of
/// completions. Called on the request path and the dispatcher, so an
/// implementation must not block (queue, count, return).
pub trait WebhookTap: Send + Sync + std::fmt::Debug {
    /// A notification was verified, parsed and queued (`202`).
    fn accepted(&self, notification: &AcceptedNotification);
    /// A notification was refused (it is not forwarded anywhere).
    fn refused(&self, reason: Refusal);
    /// A completion was already matched (Graph redelivered it, or it came
    /// late): ignored.
    fn duplicate(&self) {}
    /// The operation store (Redis in a fleet) failed while the tracker
    /// recorded a completion.
    fn store_error(&self) {}
}
