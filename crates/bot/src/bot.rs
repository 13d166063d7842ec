//! [`Bot`]: one Graph client, one operation tracker and one verified
//! notification webhook (with `/healthz` and `/readyz` beside it). Each
//! [`Bot::record`] call is independent; the tracker pairs notifications by
//! call and operation id, so one bot runs many operations at once.

use std::path::Path;
use std::sync::Arc;

use voxcap_capture::redis_store::RedisStore;
use voxcap_capture::store::OperationStore;
use voxcap_capture::webhook;
use voxcap_capture::wire::MAX_TIMEOUT_SECONDS;
use voxcap_capture::{
    DownloadOptions, GraphClient, JwtConfig, NotificationAuth, OperationTracker, TrackerConfig,
    WebhookState,
};

use crate::config::{BotConfig, NotificationAuthMode, RecordPlan, StoreChoice, TokenSource};
use crate::error::{BotError, Result};
use crate::outcome::Outcome;
use crate::run::Core;
use crate::stewardship::Stewardship;

/// A running bot: Graph client, operation tracker and notification webhook.
pub struct Bot {
    core: Arc<Core>,
    callback_url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<voxcap_capture::Result<()>>,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot")
            .field("callback_url", &self.callback_url)
            .finish_non_exhaustive()
    }
}

impl Bot {
    /// Builds the client and tracker (connecting to the shared store when
    /// one is configured) and starts the webhook on `config.listen`, with
    /// `/healthz` and `/readyz` beside it.
    pub async fn start(config: BotConfig) -> Result<Bot> {
        let path = &config.callback_path;
        let bad_path = |reason| BotError::CallbackPath {
            path: path.clone(),
            reason,
        };
        if !path.starts_with('/') || path.contains(['?', '#', ' ']) {
            return Err(bad_path("must be a URL path starting with '/'"));
        }
        if matches!(path.as_str(), "/healthz" | "/readyz") {
            return Err(bad_path("reserved for the health endpoints"));
        }
        if !config.allowed_tenants.is_empty()
            && matches!(config.auth, NotificationAuthMode::InsecureLoopbackOnly)
        {
            return Err(BotError::TenantsWithoutVerification);
        }
        // The client's policy is the widest (Graph's longest recording);
        // each operation narrows the cap to its own maxRecordDurationInSeconds.
        let downloads = DownloadOptions {
            policy: config.downloads.policy(MAX_TIMEOUT_SECONDS),
            encrypt_to: config.stewardship.encrypt_to.clone(),
            ..DownloadOptions::default()
        };
        let builder = GraphClient::builder()
            .base_url(config.graph_url.trim_end_matches('/'))
            .download_options(downloads);
        let builder = match config.token {
            TokenSource::Static(t) => builder.static_token(t),
            TokenSource::ClientCredentials(c) => builder.client_credentials(c),
        };
        let client = builder.build().map_err(|e| BotError::Client(Box::new(e)))?;
        let tracker_config = TrackerConfig {
            deadline_margin: config.deadline_margin,
            early_buffer: config.early_buffer,
            tap: config.webhook_tap.clone(),
            ..TrackerConfig::default()
        };
        let (tracker, redis) = match config.store {
            StoreChoice::InMemory => (OperationTracker::new(client.clone(), tracker_config), None),
            StoreChoice::Redis(mut rc) => {
                rc.early_buffer = config.early_buffer;
                let store = RedisStore::connect(rc)
                    .await
                    .map_err(|e| BotError::Store(Box::new(e)))?;
                let tracker = OperationTracker::with_store(
                    client.clone(),
                    tracker_config,
                    store.clone() as Arc<dyn OperationStore>,
                );
                (tracker, Some(store))
            }
        };
        let auth = match config.auth {
            NotificationAuthMode::Jwt {
                audience,
                openid_config,
            } => {
                let mut jwt = JwtConfig::new(audience);
                jwt.allowed_tenants = config.allowed_tenants;
                if let Some(url) = openid_config {
                    jwt.openid_config_url = url;
                }
                NotificationAuth::jwt(client.http().clone(), jwt)
            }
            NotificationAuthMode::InsecureLoopbackOnly => {
                if !config.listen.ip().is_loopback() {
                    return Err(BotError::UnverifiedNonLoopback {
                        addr: config.listen,
                    });
                }
                NotificationAuth::InsecureLoopbackOnly
            }
        };
        let state = WebhookState::new(auth, tracker.notification_sink())
            .with_path(path.clone())
            .with_limits(config.webhook_limits)
            .with_tap(config.webhook_tap);
        let bind = |source| BotError::Bind {
            addr: config.listen,
            source,
        };
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let callback_url = format!("http://{addr}{path}");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let health = health_routes(redis.clone());
        let server = tokio::spawn(webhook::serve_with(listener, state, health, async move {
            let _ = rx.await;
        }));
        let mut stewardship = config.stewardship;
        if stewardship.instance.is_empty() {
            stewardship.instance = match &redis {
                Some(r) => r.instance_id().to_string(),
                None => voxcap_capture::instance_id::generate_instance_id(),
            };
        }
        Ok(Bot {
            core: Arc::new(Core {
                stewardship,
                beta: client.base_url().ends_with("/beta"),
                client,
                tracker,
                redis,
                #[cfg(feature = "neural")]
                speech_model: config.speech_model,
            }),
            callback_url,
            shutdown: Some(tx),
            server,
        })
    }

    /// The webhook's URL (`http://ADDR/PATH`), the call's `callbackUri`.
    pub fn callback_url(&self) -> &str {
        &self.callback_url
    }

    /// The Graph client.
    pub fn client(&self) -> &GraphClient {
        &self.core.client
    }

    /// How the bot stores what it records (its instance name filled in).
    pub fn stewardship(&self) -> &Stewardship {
        &self.core.stewardship
    }

    /// The shared store, when the bot runs in a fleet.
    pub fn redis(&self) -> Option<&Arc<RedisStore>> {
        self.core.redis.as_ref()
    }

    /// Stops the webhook; with a shared store, also deletes this instance's
    /// heartbeat so the fleet takes over anything it leaves unfinished.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.server).await;
        if let Some(r) = &self.core.redis {
            r.shutdown().await;
        }
    }

    /// A handle that runs operations on this bot from other tasks.
    pub fn recorder(&self) -> Recorder {
        Recorder {
            core: self.core.clone(),
        }
    }

    /// Runs one record operation on `call_id` end to end.
    ///
    /// Graph-reported failures and lost operations are `Ok` outcomes (their
    /// JSON is still written); `Err` is anything else (HTTP, download, I/O).
    pub async fn record(&self, call_id: &str, plan: &RecordPlan) -> Result<Outcome> {
        self.core.record(call_id, plan).await
    }

    /// Takes over the operations of dead fleet instances (a no-op without a
    /// shared store) and finishes each in its own task: completed ones are
    /// downloaded and analysed into `out_dir`, pending ones are awaited until
    /// their original deadline, expired ones are reported `lost`.
    pub async fn take_over(
        &self,
        out_dir: &Path,
    ) -> Result<Vec<tokio::task::JoinHandle<Result<Outcome>>>> {
        let adopted = self
            .core
            .tracker
            .adopt_orphans()
            .await
            .map_err(|e| BotError::Takeover(Box::new(e)))?;
        Ok(adopted
            .into_iter()
            .map(|a| {
                let core = self.core.clone();
                let dir = out_dir.to_path_buf();
                tokio::spawn(async move { core.finish_adopted(a, &dir).await })
            })
            .collect())
    }
}

/// A cloneable handle that runs operations on a [`Bot`]'s client and
/// tracker from any task (a service's request handlers), while the bot
/// itself stays with its serve loop. It does not keep the webhook alive:
/// once the bot stops, notifications no longer arrive.
#[derive(Clone)]
pub struct Recorder {
    core: Arc<Core>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

impl Recorder {
    /// Operations the bot is waiting on (see
    /// [`OperationTracker::pending_count`]).
    pub fn pending_operations(&self) -> usize {
        self.core.tracker.pending_count()
    }

    /// What an operation's deadline adds to its prompt and timers
    /// ([`BotConfig::deadline_margin`](crate::BotConfig::deadline_margin)).
    pub fn deadline_margin(&self) -> std::time::Duration {
        self.core.tracker.deadline_margin()
    }

    /// Runs one record operation on `call_id` end to end, as [`Bot::record`].
    pub async fn record(&self, call_id: &str, plan: &RecordPlan) -> Result<Outcome> {
        self.core.record(call_id, plan).await
    }

    /// Downloads, analyses and stores into `out_dir` a recording whose
    /// operation another program placed with `request` and saw complete
    /// (`completed`: the call, operation, location, token and what Graph
    /// reported). The recording status is set (`updateRecordingStatus`)
    /// before anything is persisted and ended after, as for an operation
    /// of the bot's own. `trim`: the trimmed copy's pads (`None`: the
    /// analysis defaults).
    pub async fn ingest(
        &self,
        request: &voxcap_capture::wire::RecordResponseRequest,
        trim: Option<crate::TrimPads>,
        completed: voxcap_capture::tracker::CompletedRecording,
        out_dir: &Path,
    ) -> Result<Outcome> {
        self.core.ingest(request, trim, completed, out_dir).await
    }

    /// How the bot stores what it records.
    pub fn stewardship(&self) -> &Stewardship {
        &self.core.stewardship
    }

    /// The shared store, when the bot runs in a fleet (the service keeps
    /// its records beside it).
    pub fn redis(&self) -> Option<&Arc<RedisStore>> {
        self.core.redis.as_ref()
    }
}

/// `/healthz` (the process serves) and `/readyz` (it can do its job: the
/// shared store answers and its heartbeat is fresh).
fn health_routes(redis: Option<Arc<RedisStore>>) -> axum::Router {
    use axum::http::StatusCode;
    use axum::routing::get;
    axum::Router::new()
        .route("/healthz", get(|| async { (StatusCode::OK, "ok\n") }))
        .route(
            "/readyz",
            get(move || {
                let redis = redis.clone();
                async move {
                    match redis {
                        None => (StatusCode::OK, "ready\n".to_string()),
                        Some(r) if r.is_healthy() => match r.ping().await {
                            Ok(()) => (StatusCode::OK, "ready\n".to_string()),
                            Err(e) => {
                                (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n"))
                            }
                        },
                        Some(_) => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "not ready: the shared store's heartbeat or subscription is down\n"
                                .to_string(),
                        ),
                    }
                }
            }),
        )
}

impl Drop for Bot {
    fn drop(&mut self) {
        self.server.abort();
    }
}
