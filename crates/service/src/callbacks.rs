//! Signed callbacks: when a recording reaches its final status, the
//! resource is POSTed to its `callbackUrl`, signed with the deployment's
//! secret. Each attempt carries the same `X-Voxcap-Delivery` id, its own
//! `X-Voxcap-Timestamp` (Unix seconds) and `X-Voxcap-Signature-256:
//! sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`, so a receiver
//! checks both the body and the time (refusing old timestamps stops a
//! replay). A failure (no 2xx, or no answer within the attempt timeout) is
//! retried with exponential backoff and jitter until the delivery's time
//! budget is spent. Alone, pending deliveries are kept in memory (at least
//! once while the process lives); in a fleet they are kept in Redis
//! ([`crate::outbox`]), so a restart or a killed instance loses none.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use voxcap_capture::Secret;

/// The environment variable holding the callback secret.
pub const CALLBACK_SECRET_ENV: &str = "VOXCAP_CALLBACK_SECRET";

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-voxcap-signature-256";
/// The delivery id header (the same on every attempt).
pub const DELIVERY_HEADER: &str = "x-voxcap-delivery";
/// The timestamp header (Unix seconds, per attempt).
pub const TIMESTAMP_HEADER: &str = "x-voxcap-timestamp";

/// How callbacks are signed and retried.
#[derive(Debug, Clone)]
pub struct CallbackConfig {
    /// The HMAC key (at least 16 bytes).
    pub secret: Secret,
    /// The wait before the first retry; doubled after each failure.
    pub first_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// How long one attempt may take.
    pub attempt_timeout: Duration,
    /// How long a delivery is retried before it is given up.
    pub give_up_after: Duration,
}

impl CallbackConfig {
    /// Defaults: 0.5 s doubling to 60 s, 10 s per attempt, 15 min in all.
    pub fn new(secret: Secret) -> Self {
        CallbackConfig {
            secret,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(10),
            give_up_after: Duration::from_secs(15 * 60),
        }
    }
}

/// `sha256=<hex>` of `"<timestamp>.<body>"` under `secret`.
pub fn signature(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Whether `header` is the signature of `body` sent at `timestamp` (for
/// receivers written in Rust, and the tests). Compared in constant time.
pub fn verify(secret: &[u8], timestamp: u64, body: &[u8], header: &str) -> bool {
    use subtle::ConstantTimeEq;
    let want = signature(secret, timestamp, body);
    want.as_bytes().ct_eq(header.as_bytes()).into()
}

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// A 2xx after this many attempts.
    Delivered(u32),
    /// Given up after this many attempts.
    GaveUp(u32),
}

/// One signed attempt to deliver `body` to `url`: `Ok` on a 2xx, else why
/// not (the URL left out).
pub async fn attempt(
    http: &reqwest::Client,
    config: &CallbackConfig,
    url: &str,
    delivery_id: &str,
    body: &[u8],
) -> Result<(), String> {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let sig = signature(config.secret.expose().as_bytes(), ts, body);
    let sent = http
        .post(url)
        .timeout(config.attempt_timeout)
        .header("content-type", "application/json")
        .header(DELIVERY_HEADER, delivery_id)
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(SIGNATURE_HEADER, sig)
        .body(body.to_vec())
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("answered {}", r.status())),
        Err(e) => Err(e.without_url().to_string()),
    }
}

/// Delivers `body` to `url` until a 2xx or the time budget runs out,
/// calling `on_attempt(ok)` after each attempt (in memory: the single
/// instance's way; a fleet's deliveries go through [`crate::outbox`]).
pub async fn deliver(
    http: &reqwest::Client,
    config: &CallbackConfig,
    url: &str,
    delivery_id: &str,
    body: Vec<u8>,
    mut on_attempt: impl FnMut(bool),
) -> DeliveryOutcome {
    let started = tokio::time::Instant::now();
    let mut backoff = config.first_backoff;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let sent = attempt(http, config, url, delivery_id, &body).await;
        on_attempt(sent.is_ok());
        let Err(why) = sent else {
            return DeliveryOutcome::Delivered(attempts);
        };
        let jitter = Duration::from_millis(rand::random_range(0..=backoff.as_millis() as u64 / 4));
        let wait = backoff + jitter;
        if started.elapsed() + wait > config.give_up_after {
            tracing::warn!(delivery = delivery_id, attempts, reason = %why, "callback given up");
            return DeliveryOutcome::GaveUp(attempts);
        }
        tracing::info!(delivery = delivery_id, attempts, reason = %why,
            retry_in_ms = wait.as_millis() as u64, "callback failed; retrying");
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(config.max_backoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_the_time_and_the_body() {
        let s = signature(b"a-secret-of-some-length", 1_796_590_800, b"{\"id\":\"x\"}");
        assert!(s.starts_with("sha256=") && s.len() == 7 + 64, "{s}");
        assert!(verify(
            b"a-secret-of-some-length",
            1_796_590_800,
            b"{\"id\":\"x\"}",
            &s
        ));
        assert!(!verify(
            b"a-secret-of-some-length",
            1_796_590_801,
            b"{\"id\":\"x\"}",
            &s
        ));
        assert!(!verify(
            b"a-secret-of-some-length",
            1_796_590_800,
            b"{\"id\":\"y\"}",
            &s
        ));
        assert!(!verify(
            b"another-secret-entirely",
            1_796_590_800,
            b"{\"id\":\"x\"}",
            &s
        ));
    }
}
