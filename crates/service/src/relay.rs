//! The notification relay (`voxcap serve --relay-to URL`): every
//! notification the webhook verified and accepted is forwarded unchanged
//! (the body byte for byte, the original `Authorization` and
//! `Content-Type`) to a bot's own webhook, which goes on validating
//! Graph's JWT as before. voxcap's own processing of the notification is
//! untouched: the relay hears of it through the webhook's [`WebhookTap`]
//! after the `202`, and only queues it.
//!
//! Order is kept per call: one queue and one sending task per call id (a
//! notification naming no call shares one queue), so a slow call holds up
//! only its own notifications. A forward is retried briefly
//! ([`RelayConfig::attempts`], backoff from [`RelayConfig::first_backoff`],
//! doubling), then given up and counted; the next one of the call follows.
//! Refused notifications are never forwarded. [`NotificationTap`] also
//! counts every notification by outcome for `/metrics`.
//!
//! Invariants: the tap never waits (a full queue drops and counts); the
//! relay follows no redirect (the JWT goes only to the configured URL); a
//! token never appears in a log or `Debug`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;
use tokio::sync::mpsc;
use voxcap_capture::webhook::{AcceptedNotification, Refusal, WebhookTap};

use crate::metrics::{Metrics, RelayOutcome};

/// Why a relay target was refused.
#[derive(Debug, thiserror::Error)]
#[error("relay target {shown:?}: {reason}")]
pub struct RelayTargetError {
    /// The URL as given, cut to 80 characters.
    pub shown: String,
    /// Why.
    pub reason: &'static str,
}

/// Checks a relay target: an absolute http(s) URL with a host, at most
/// 2,048 characters, no user name or password, no fragment; plain http
/// only to a loopback host (`localhost`, 127.0.0.0/8, `::1`), since the
/// forwarded request carries Graph's bearer token.
pub fn parse_target(url: &str) -> Result<Url, RelayTargetError> {
    let refuse = |reason| RelayTargetError {
        shown: url.chars().take(80).collect(),
        reason,
    };
    if url.len() > 2048 {
        return Err(refuse("longer than 2048 characters"));
    }
    let parsed = Url::parse(url).map_err(|_| refuse("not an absolute URL"))?;
    let host = match parsed.host_str() {
        Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']'),
        _ => return Err(refuse("names no host")),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err(refuse("plain http is only allowed to a loopback host")),
        _ => return Err(refuse("must be an http(s) URL")),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(refuse("must not carry a user name or password"));
    }
    if parsed.fragment().is_some() {
        return Err(refuse("must not have a fragment"));
    }
    Ok(parsed)
}

/// How the relay forwards.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Where notifications go (checked by [`parse_target`]).
    pub target: Url,
    /// Attempts per notification (at least 1). Default 4.
    pub attempts: u32,
    /// The wait after the first failed attempt, doubling after each
    /// further one. Default 250 ms (4 attempts span about 1.75 s plus
    /// their answers).
    pub first_backoff: Duration,
    /// How long one attempt may take. Default 5 s.
    pub attempt_timeout: Duration,
    /// Notifications waiting per call before further ones are dropped.
    /// Default 256.
    pub queue_per_call: usize,
    /// Calls with a queue at once before further calls' notifications are
    /// dropped. Default 10,000.
    pub max_calls: usize,
    /// A call's queue and task go after this long without a notification.
    /// Default 30 s.
    pub idle: Duration,
}

impl RelayConfig {
    /// The defaults for `target`.
    pub fn new(target: Url) -> Self {
        RelayConfig {
            target,
            attempts: 4,
            first_backoff: Duration::from_millis(250),
            attempt_timeout: Duration::from_secs(5),
            queue_per_call: 256,
            max_calls: 10_000,
            idle: Duration::from_secs(30),
        }
    }
}

type Queues = Mutex<HashMap<String, mpsc::Sender<AcceptedNotification>>>;

/// Forwards accepted notifications to one URL, in order per call.
pub struct Relay {
    config: RelayConfig,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    queues: Arc<Queues>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field(
                "target",
                &voxcap_capture::secret::redact_url(self.config.target.as_str()),
            )
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// A relay counting into `metrics`. Needs a Tokio runtime when it
    /// forwards (each call's queue is a task).
    pub fn new(config: RelayConfig, metrics: Arc<Metrics>) -> Relay {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.attempt_timeout)
            .build()
            .unwrap_or_default();
        Relay {
            config,
            http,
            metrics,
            queues: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Queues `n` behind the earlier notifications of its call, without
    /// waiting.
    pub fn forward(&self, n: &AcceptedNotification) {
        let call = n.call_id.clone().unwrap_or_default().to_ascii_lowercase();
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = queues.get(&call) {
            if tx.try_send(n.clone()).is_err() {
                self.dropped(&call, "the call's relay queue is full");
            }
            return;
        }
        if queues.len() >= self.config.max_calls {
            return self.dropped(&call, "too many calls with a relay queue");
        }
        let (tx, rx) = mpsc::channel(self.config.queue_per_call.max(1));
        // A fresh channel has room for one.
        let _ = tx.try_send(n.clone());
        queues.insert(call.clone(), tx);
        let sender = CallSender {
            call,
            config: self.config.clone(),
            http: self.http.clone(),
            metrics: self.metrics.clone(),
            queues: self.queues.clone(),
        };
        tokio::spawn(sender.run(rx));
    }

    fn dropped(&self, call: &str, why: &str) {
        tracing::warn!(call_id = %call, "notification not relayed: {why}");
        self.metrics.relay_forward(RelayOutcome::Dropped);
    }
}

/// One call's sending task.
struct CallSender {
    call: String,
    config: RelayConfig,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    queues: Arc<Queues>,
}

impl CallSender {
    async fn run(self, mut rx: mpsc::Receiver<AcceptedNotification>) {
        loop {
            match tokio::time::timeout(self.config.idle, rx.recv()).await {
                Ok(Some(n)) => self.send(&n).await,
                Ok(None) => return,
                Err(_) => {
                    // Senders queue under this lock: once it is held and
                    // the queue is empty, nothing more can arrive.
                    let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
                    if rx.is_empty() {
                        queues.remove(&self.call);
                        return;
                    }
                }
            }
        }
    }

    async fn send(&self, n: &AcceptedNotification) {
        let mut backoff = self.config.first_backoff;
        let attempts = self.config.attempts.max(1);
        for attempt in 1..=attempts {
            let mut req = self
                .http
                .post(self.config.target.clone())
                .body(n.body.clone());
            if let Some(auth) = &n.authorization {
                req = req.header(reqwest::header::AUTHORIZATION, auth.0.clone());
            }
            if let Some(ct) = &n.content_type {
                req = req.header(reqwest::header::CONTENT_TYPE, ct.clone());
            }
            let failure = match req.send().await {
                Ok(r) if r.status().is_success() => {
                    self.metrics.relay_forward(RelayOutcome::Delivered);
                    return;
                }
                Ok(r) => format!("HTTP {}", r.status().as_u16()),
                Err(e) => e.without_url().to_string(),
            };
            self.metrics.relay_attempt_failed();
            if attempt == attempts {
                tracing::warn!(call_id = %self.call, attempts, error = %failure,
                    "notification relay given up");
                self.metrics.relay_forward(RelayOutcome::GivenUp);
                return;
            }
            tracing::debug!(call_id = %self.call, attempt, error = %failure,
                "notification relay failed; retrying");
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
    }
}

/// The service's [`WebhookTap`]: counts every notification by outcome and,
/// with a relay, forwards each accepted one.
#[derive(Debug)]
pub struct NotificationTap {
    metrics: Arc<Metrics>,
    relay: Option<Relay>,
}

impl NotificationTap {
    /// A tap counting into `metrics`, forwarding through `relay` if any.
    pub fn new(metrics: Arc<Metrics>, relay: Option<Relay>) -> NotificationTap {
        NotificationTap { metrics, relay }
    }
}

impl WebhookTap for NotificationTap {
    fn accepted(&self, notification: &AcceptedNotification) {
        self.metrics.notification_accepted();
        if let Some(relay) = &self.relay {
            relay.forward(notification);
        }
    }

    fn refused(&self, reason: Refusal) {
        self.metrics.notification_refused(reason.as_str());
    }

    fn duplicate(&self) {
        self.metrics.duplicate();
    }

    fn store_error(&self) {
        self.metrics.store_error();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_checked() {
        let table: &[(&str, Option<&str>)] = &[
            ("https://bot.example.com/api/calls", None),
            ("http://127.0.0.1:9000/api/calls", None),
            ("http://localhost:9000/x", None),
            ("http://[::1]:9000/x", None),
            ("http://bot.example.com/api/calls", Some("plain http")),
            ("ftp://127.0.0.1/x", Some("http(s)")),
            ("/api/calls", Some("absolute")),
            ("https://user:pw@bot.example.com/", Some("user name")),
            ("https://bot.example.com/#x", Some("fragment")),
            ("mailto:a@b", Some("host")),
        ];
        for (url, want) in table {
            match (parse_target(url), want) {
                (Ok(_), None) => {}
                (Err(e), Some(w)) => assert!(e.to_string().contains(w), "{url}: {e}"),
                (got, _) => panic!("{url}: {got:?}"),
            }
        }
        let long = format!("https://a.example/{}", "x".repeat(2048));
        assert!(parse_target(&long).is_err());
    }
}
