//! `GET /metrics`: the service's counters in the Prometheus text format
//! (0.0.4), from prometheus-client's registry. The registry writes
//! OpenMetrics, whose counter families drop the `_total` their samples
//! carry; Prometheus-format parsers (Python's `prometheus_client` among
//! them) would then see samples without a family, so [`to_prometheus_text`]
//! names each counter family after its samples and drops `# EOF`.
//! Recordings by status are a gauge read from the store at each scrape;
//! the rest are counted as they happen.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::model::RecordingStatus;

/// The content type of `/metrics`.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabel {
    verdict: String,
}

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    recordings: Family<StatusLabel, Gauge>,
    finished: Family<StatusLabel, Counter>,
    verdicts: Family<VerdictLabel, Counter>,
    download_bytes: Histogram,
    download_seconds: Histogram,
    idempotent_replays: Counter,
    callback_attempts: Family<OutcomeLabel, Counter>,
    callbacks_given_up: Counter,
    notifications: Family<NotificationLabels, Counter>,
    relay_forwards: Family<OutcomeLabel, Counter>,
    relay_attempt_failures: Counter,
    analysis_seconds: Histogram,
    store_errors: Counter,
    pending: Gauge,
    recording_store_errors: Counter,
    recording_store_errors_seen: std::sync::atomic::AtomicU64,
    callbacks_pending: Gauge,
    recordings_expired: Counter,
    recordings_abandoned: Counter,
    fleet_store_errors: Counter,
    fleet_store_errors_seen: std::sync::atomic::AtomicU64,
    keys_reloads: Counter,
    keys_reload_failures: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    outcome: String,
    reason: String,
}

/// How a relayed notification ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayOutcome {
    /// The bot's webhook answered 2xx.
    Delivered,
    /// Every attempt failed.
    GivenUp,
    /// Not queued: the call's queue, or the number of calls, was full.
    Dropped,
}

impl RelayOutcome {
    fn as_str(self) -> &'static str {
        match self {
            RelayOutcome::Delivered => "delivered",
            RelayOutcome::GivenUp => "given_up",
            RelayOutcome::Dropped => "dropped",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "voxcap_api_requests",
            "API requests by route template, method and status code",
            requests.clone(),
        );
        let recordings = Family::<StatusLabel, Gauge>::default();
        registry.register(
            "voxcap_recordings",
            "Recordings the service holds, by status",
            recordings.clone(),
        );
        let finished = Family::<StatusLabel, Counter>::default();
        registry.register(
            "voxcap_recordings_finished",
            "Recordings that reached a final status since start-up, by status",
            finished.clone(),
        );
        let verdicts = Family::<VerdictLabel, Counter>::default();
        registry.register(
            "voxcap_completion_verdicts",
            "Completion verdicts of analysed recordings, by verdict",
            verdicts.clone(),
        );
        // 16 KiB .. 8 MiB (Graph's longest recording is 7.4 MiB).
        let download_bytes = Histogram::new(exponential_buckets(16_384.0, 2.0, 10));
        registry.register(
            "voxcap_download_bytes",
            "Bytes of each recording downloaded",
            download_bytes.clone(),
        );
        // 1 ms .. 16 s.
        let download_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        registry.register(
            "voxcap_download_seconds",
            "Seconds from a download's first request to its last byte",
            download_seconds.clone(),
        );
        let idempotent_replays = Counter::default();
        registry.register(
            "voxcap_idempotent_replays",
            "POSTs answered from an Idempotency-Key's first answer",
            idempotent_replays.clone(),
        );
        let callback_attempts = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "voxcap_callback_attempts",
            "Callback POSTs, by outcome (delivered: a 2xx; failed: anything else)",
            callback_attempts.clone(),
        );
        let callbacks_given_up = Counter::default();
        registry.register(
            "voxcap_callbacks_given_up",
            "Callbacks given up after their retry budget",
            callbacks_given_up.clone(),
        );
        let notifications = Family::<NotificationLabels, Counter>::default();
        registry.register(
            "voxcap_notifications",
            "Notifications by outcome (accepted, rejected with a reason; duplicate: accepted completions already matched)",
            notifications.clone(),
        );
        let relay_forwards = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "voxcap_relay_forwards",
            "Notifications relayed, by outcome (delivered, given_up, dropped)",
            relay_forwards.clone(),
        );
        let relay_attempt_failures = Counter::default();
        registry.register(
            "voxcap_relay_attempt_failures",
            "Relay attempts that failed (each retry counts)",
            relay_attempt_failures.clone(),
        );
        // 1 ms .. 16 s (the analysis reads the download as it arrives).
        let analysis_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        registry.register(
            "voxcap_analysis_seconds",
            "Wall seconds of each recording's analysis, from its first read to its findings",
            analysis_seconds.clone(),
        );
        let store_errors = Counter::default();
        registry.register(
            "voxcap_store_errors",
            "Operation store (Redis in a fleet) failures while recording a completion, each retry counted",
            store_errors.clone(),
        );
        let pending = Gauge::default();
        registry.register(
            "voxcap_operations_pending",
            "Operations this instance is waiting on (read at each scrape)",
            pending.clone(),
        );
        let recording_store_errors = Counter::default();
        registry.register(
            "voxcap_recording_store_errors",
            "Recording store (Redis in a fleet) failures of the API's records, idempotency keys and outbox",
            recording_store_errors.clone(),
        );
        let callbacks_pending = Gauge::default();
        registry.register(
            "voxcap_callbacks_pending",
            "Callbacks waiting in a fleet's outbox for their next attempt (read at each scrape)",
            callbacks_pending.clone(),
        );
        let recordings_expired = Counter::default();
        registry.register(
            "voxcap_recordings_expired",
            "Recordings deleted when their voxcap.retentionSeconds passed",
            recordings_expired.clone(),
        );
        let recordings_abandoned = Counter::default();
        registry.register(
            "voxcap_recordings_abandoned",
            "Running recordings ended by the orphan sweep: their instance was gone past their deadline",
            recordings_abandoned.clone(),
        );
        let fleet_store_errors = Counter::default();
        registry.register(
            "voxcap_fleet_store_errors",
            "Failed Redis commands of the fleet's operation store: heartbeats, the delivery subscription, registration, completions, takeover (read at each scrape)",
            fleet_store_errors.clone(),
        );
        let keys_reloads = Counter::default();
        registry.register(
            "voxcap_api_keys_reloads",
            "API keys files reloaded after a change or SIGHUP",
            keys_reloads.clone(),
        );
        let keys_reload_failures = Counter::default();
        registry.register(
            "voxcap_api_keys_reload_failures",
            "API keys files that could not be reloaded (unreadable, unparsable or without a key; each content counted once), the previous keys kept",
            keys_reload_failures.clone(),
        );
        Metrics {
            fleet_store_errors,
            fleet_store_errors_seen: std::sync::atomic::AtomicU64::new(0),
            recordings_abandoned,
            recordings_expired,
            keys_reloads,
            keys_reload_failures,
            recording_store_errors,
            recording_store_errors_seen: std::sync::atomic::AtomicU64::new(0),
            callbacks_pending,
            analysis_seconds,
            store_errors,
            pending,
            notifications,
            relay_forwards,
            relay_attempt_failures,
            callback_attempts,
            callbacks_given_up,
            registry,
            requests,
            recordings,
            finished,
            verdicts,
            download_bytes,
            download_seconds,
            idempotent_replays,
        }
    }
}

impl Metrics {
    /// Counts one API request.
    pub fn request(&self, route: &str, method: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                method: method.to_string(),
                status: status.to_string(),
            })
            .inc();
    }

    /// Counts a recording that reached `status`, with its verdict and
    /// download when it has them.
    pub fn finished(
        &self,
        status: RecordingStatus,
        verdict: Option<&str>,
        download: Option<(u64, f64)>,
    ) {
        self.finished
            .get_or_create(&StatusLabel {
                status: status.as_str().to_string(),
            })
            .inc();
        if let Some(v) = verdict {
            self.verdicts
                .get_or_create(&VerdictLabel {
                    verdict: v.to_string(),
                })
                .inc();
        }
        if let Some((bytes, seconds)) = download {
            self.download_bytes.observe(bytes as f64);
            self.download_seconds.observe(seconds);
        }
    }

    /// Counts one callback attempt.
    pub fn callback_attempt(&self, delivered: bool) {
        let outcome = if delivered { "delivered" } else { "failed" };
        self.callback_attempts
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// Counts a callback given up.
    pub fn callback_given_up(&self) {
        self.callbacks_given_up.inc();
    }

    /// Counts a notification the webhook accepted.
    pub fn notification_accepted(&self) {
        self.notifications
            .get_or_create(&NotificationLabels {
                outcome: "accepted".to_string(),
                reason: String::new(),
            })
            .inc();
    }

    /// Counts a notification the webhook refused, for `reason`.
    pub fn notification_refused(&self, reason: &str) {
        self.notifications
            .get_or_create(&NotificationLabels {
                outcome: "rejected".to_string(),
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Counts a relayed notification's end.
    pub fn relay_forward(&self, outcome: RelayOutcome) {
        self.relay_forwards
            .get_or_create(&OutcomeLabel {
                outcome: outcome.as_str().to_string(),
            })
            .inc();
    }

    /// Counts a failed relay attempt.
    pub fn relay_attempt_failed(&self) {
        self.relay_attempt_failures.inc();
    }

    /// Observes one analysis's wall time.
    pub fn analysed(&self, seconds: f64) {
        self.analysis_seconds.observe(seconds);
    }

    /// Counts a completion the tracker had already matched (it was
    /// counted `accepted` at the webhook too).
    pub fn duplicate(&self) {
        self.notifications
            .get_or_create(&NotificationLabels {
                outcome: "duplicate".to_string(),
                reason: String::new(),
            })
            .inc();
    }

    /// Counts an operation store failure.
    pub fn store_error(&self) {
        self.store_errors.inc();
    }

    /// Sets the pending operations gauge (before [`Metrics::render`]).
    pub fn set_pending(&self, n: usize) {
        self.pending.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Brings the recording store's error count (a running total kept by
    /// the store) and the outbox's pending deliveries (a fleet's; `None`
    /// alone) into the text (before [`Metrics::render`]).
    pub fn observe_store(&self, errors: u64, callbacks_pending: Option<u64>) {
        use std::sync::atomic::Ordering;
        let seen = self
            .recording_store_errors_seen
            .fetch_max(errors, Ordering::Relaxed);
        if errors > seen {
            self.recording_store_errors.inc_by(errors - seen);
        }
        if let Some(n) = callbacks_pending {
            self.callbacks_pending
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Brings the fleet store's error counter up to `errors` (the operation
    /// store's own count, [`voxcap_capture::redis_store::RedisStore::errors`]).
    pub fn observe_fleet_store(&self, errors: u64) {
        use std::sync::atomic::Ordering;
        let seen = self
            .fleet_store_errors_seen
            .fetch_max(errors, Ordering::Relaxed);
        if errors > seen {
            self.fleet_store_errors.inc_by(errors - seen);
        }
    }

    /// Counts a recording the orphan sweep ended.
    pub fn abandoned(&self) {
        self.recordings_abandoned.inc();
    }

    /// Counts a recording deleted by its own retention.
    pub fn expired(&self) {
        self.recordings_expired.inc();
    }

    /// Counts a reload of the API keys file: `ok`, the keys replaced;
    /// else the file was refused and the previous keys stay.
    pub fn keys_reloaded(&self, ok: bool) {
        if ok {
            self.keys_reloads.inc();
        } else {
            self.keys_reload_failures.inc();
        }
    }

    /// Counts an answer replayed for an Idempotency-Key.
    pub fn replayed(&self) {
        self.idempotent_replays.inc();
    }

    /// The text, with the recordings gauge set from `counts`.
    pub fn render(&self, counts: &[(RecordingStatus, u64)]) -> String {
        for (status, n) in counts {
            self.recordings
                .get_or_create(&StatusLabel {
                    status: status.as_str().to_string(),
                })
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        to_prometheus_text(&text)
    }
}

/// OpenMetrics text to the Prometheus text format: a counter family `x`
/// becomes `x_total` (the name its samples have), `# EOF` goes.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{p}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_families_are_named_after_their_samples() {
        let m = Metrics::default();
        m.request("/v1/recordings", "GET", 200);
        m.finished(
            RecordingStatus::Completed,
            Some("consistent"),
            Some((1000, 0.01)),
        );
        let text = m.render(&[(RecordingStatus::Completed, 1)]);
        assert!(
            text.contains("# TYPE voxcap_api_requests_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("# HELP voxcap_api_requests_total API requests"),
            "{text}"
        );
        assert!(text.contains("# TYPE voxcap_recordings gauge\n"), "{text}");
        assert!(
            text.contains("# TYPE voxcap_download_bytes histogram\n"),
            "{text}"
        );
        assert!(!text.contains("# EOF"), "{text}");
    }
}
