//! The emulator's state: its configuration, the calls, operations and
//! recordings it holds, the app tokens it issued, the faults in force, and the
//! request log, with the checks every Graph request passes first (app token,
//! call existence, throttling).
//!
//! Invariants: no lock is held across an `.await`; a poisoned lock is
//! recovered, never propagated; ids are matched dashless and case-blind.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{header, HeaderMap, StatusCode};
use serde_json::Value;

use crate::error::{call_not_found, ApiError, StateError};
use crate::faults::Faults;
use crate::flavor::Flavor;
use crate::request_log::{self, Bounded, Credential, Delivery, LoggedRequest};
use crate::scenario::{PreparedScenario, Scenario};
use crate::signing::{AppTokenClaims, EmulatorKey};
use crate::wire;

/// The issuer of notification JWTs.
pub const NOTIFICATION_ISSUER: &str = "https://graph.microsoft.com";

/// Header that attaches a scenario (a registered name or inline JSON) to a
/// call creation or a single recordResponse.
pub const SCENARIO_HEADER: &str = "x-voxcap-scenario";

/// Lifetime of app tokens, as Azure AD issues them.
pub(crate) const APP_TOKEN_LIFETIME_S: u64 = 3599;

/// Settings of one emulator instance.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Public base URL (`http://127.0.0.1:PORT`), used in `Location` headers,
    /// recording locations and the OpenID configuration.
    pub base_url: String,
    /// The test tenant id.
    pub tenant_id: String,
    /// The test app's client id (the audience of notification JWTs).
    pub client_id: String,
    /// The test app's client secret (a fixed, public test value).
    pub client_secret: String,
    /// Real seconds per simulated second (1.0 = real time).
    pub time_scale: f64,
    /// Where relative WAV paths in scenarios are resolved.
    pub asset_root: PathBuf,
    /// The scenario of calls that do not name one.
    pub default_scenario: Scenario,
    /// Named scenarios callers can pick with `x-voxcap-scenario: NAME`.
    pub scenarios: Vec<Scenario>,
    /// Server-wide faults.
    pub faults: Faults,
    /// The signing key; `None` uses the process-wide key.
    pub key: Option<EmulatorKey>,
}

/// The test tenant's id.
pub const TEST_TENANT_ID: &str = "5e1e0000-7e57-4e57-8e57-000000000001";
/// The test app's client id.
pub const TEST_CLIENT_ID: &str = "b07b0700-7e57-4e57-8e57-000000000002";
/// The test app's client secret; a public test value, not a credential.
pub const TEST_CLIENT_SECRET: &str = "voxcap-emulator-test-secret";

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            base_url: "http://127.0.0.1".into(),
            tenant_id: TEST_TENANT_ID.into(),
            client_id: TEST_CLIENT_ID.into(),
            client_secret: TEST_CLIENT_SECRET.into(),
            time_scale: 0.01,
            asset_root: PathBuf::from("."),
            default_scenario: default_scenario(),
            scenarios: Vec::new(),
            faults: Faults::default(),
            key: None,
        }
    }
}

/// The scenario used when none is given: the caller speaks for 1.5 s and
/// then stays silent (a max-silence completion with default timeouts).
pub fn default_scenario() -> Scenario {
    Scenario {
        name: Some("default".into()),
        description: Some("speaks for 1.5 s, then stays silent".into()),
        seed: 1,
        steps: vec![
            crate::scenario::Step::Pause { ms: 400 },
            crate::scenario::Step::Voice {
                ms: 1500,
                pitch_hz: 140.0,
                level_dbfs: -20.0,
            },
            crate::scenario::Step::Silence { ms: None },
        ],
        ..Scenario::default()
    }
}

/// Authorised downloads of one recording (see
/// [`EmulatorState::download_counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadCount {
    /// Downloads whose body starts at byte 0: no `Range`, or one from 0.
    pub from_start: u64,
    /// Downloads resuming from a later byte (`Range: bytes=N-` with N > 0,
    /// or a suffix range shorter than the file).
    pub resumed: u64,
}

/// Shared state of the app; cheap to clone.
#[derive(Clone)]
pub struct EmulatorState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Script {
    pub(crate) scenario: Scenario,
    pub(crate) prepared: PreparedScenario,
}

pub(crate) struct ServerFaults {
    pub(crate) faults: Faults,
    pub(crate) throttle_left: u32,
}

pub(crate) struct CallEntry {
    pub(crate) id: String,
    pub(crate) callback_uri: String,
    pub(crate) script: Arc<Script>,
    pub(crate) throttle_left: u32,
    pub(crate) ended: bool,
    pub(crate) recording_status: Vec<String>,
    pub(crate) operations: HashMap<String, OpEntry>,
    pub(crate) recordings: Vec<String>,
}

pub(crate) struct OpEntry {
    pub(crate) kind: &'static str,
    pub(crate) flavor: Flavor,
    pub(crate) client_context: Option<String>,
    pub(crate) running: bool,
    pub(crate) body: Value,
    /// The id of the recording this operation produced, once it completed.
    pub(crate) recording: Option<String>,
}

pub(crate) struct Recording {
    pub(crate) bytes: Bytes,
    pub(crate) token: String,
    pub(crate) token_expired: bool,
    pub(crate) discard_at: Mutex<Option<Instant>>,
    pub(crate) faults: Faults,
    pub(crate) drops_left: AtomicU32,
    /// Set while `streamWhileRecording` lets the file grow ([`crate::stream`]).
    pub(crate) live: Option<crate::stream::Live>,
}

/// An app token the emulator issued.
pub(crate) struct AppToken {
    pub(crate) expires: Instant,
    pub(crate) serial: u64,
    pub(crate) revoked: bool,
}

pub(crate) struct Inner {
    pub(crate) config: EmulatorConfig,
    /// Signing keys, current first; the previous one stays published after
    /// a rotation so in-flight tokens still verify.
    pub(crate) keys: std::sync::RwLock<Vec<EmulatorKey>>,
    pub(crate) http: reqwest::Client,
    pub(crate) default_script: Arc<Script>,
    pub(crate) scenarios: Mutex<HashMap<String, Arc<Script>>>,
    pub(crate) faults: Mutex<ServerFaults>,
    pub(crate) calls: Mutex<HashMap<String, CallEntry>>,
    pub(crate) recordings: Mutex<HashMap<String, Arc<Recording>>>,
    pub(crate) app_tokens: Mutex<HashMap<String, AppToken>>,
    /// Serial number of the last app token issued.
    pub(crate) app_token_serial: AtomicU64,
    /// Every request received.
    pub(crate) requests: Bounded<LoggedRequest>,
    /// Every notification POST made.
    pub(crate) deliveries: Bounded<Delivery>,
    /// Every secret handed out: app tokens, recording tokens, notification JWTs.
    pub(crate) issued: Bounded<String>,
    pub(crate) delivered: AtomicU64,
    pub(crate) failed: AtomicU64,
    /// Deliveries the callbackUri could not take (no connection) that a
    /// fallback accepted.
    pub(crate) rerouted: AtomicU64,
    /// Where a batch goes when its callbackUri cannot be reached, in order.
    pub(crate) fallbacks: Mutex<Vec<String>>,
    /// Authorised downloads per recording id.
    pub(crate) downloads: Mutex<HashMap<String, DownloadCount>>,
}

/// Locks a mutex, recovering from poisoning: a panicked handler must not
/// take the whole emulator down with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Ids are matched as Graph clients must match them: dashes stripped, case ignored.
pub(crate) fn norm(id: &str) -> String {
    wire::upper_dashless(id)
}

impl EmulatorState {
    /// Builds the state, validating every configured scenario.
    pub fn new(config: EmulatorConfig) -> Result<Self, StateError> {
        if !(config.time_scale.is_finite() && config.time_scale >= 0.0) {
            return Err(StateError::Config(format!(
                "time_scale must be a non-negative number, got {}",
                config.time_scale
            )));
        }
        config
            .faults
            .validate()
            .map_err(|m| StateError::Config(format!("server faults: {m}")))?;
        let key = match &config.key {
            Some(k) => k.clone(),
            None => EmulatorKey::shared()?,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(StateError::Http)?;
        let prepare = |s: &Scenario| -> Result<Arc<Script>, StateError> {
            Ok(Arc::new(Script {
                prepared: s.prepare(&config.asset_root)?,
                scenario: s.clone(),
            }))
        };
        let default_script = prepare(&config.default_scenario)?;
        let mut scenarios = HashMap::new();
        for s in &config.scenarios {
            let name = s.name.clone().ok_or_else(|| {
                StateError::Config("a named scenario in the config has no name".into())
            })?;
            scenarios.insert(name, prepare(s)?);
        }
        let throttle_left = config.faults.throttle.as_ref().map_or(0, |t| t.count);
        Ok(EmulatorState {
            inner: Arc::new(Inner {
                faults: Mutex::new(ServerFaults {
                    faults: config.faults.clone(),
                    throttle_left,
                }),
                config,
                keys: std::sync::RwLock::new(vec![key]),
                http,
                default_script,
                scenarios: Mutex::new(scenarios),
                calls: Mutex::new(HashMap::new()),
                recordings: Mutex::new(HashMap::new()),
                app_tokens: Mutex::new(HashMap::new()),
                app_token_serial: AtomicU64::new(0),
                requests: Bounded::new(),
                deliveries: Bounded::new(),
                issued: Bounded::new(),
                delivered: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                rerouted: AtomicU64::new(0),
                fallbacks: Mutex::new(Vec::new()),
                downloads: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The configuration this state was built with.
    pub fn config(&self) -> &EmulatorConfig {
        &self.inner.config
    }

    /// The signing key (its JWKS is served at `/v1/.well-known/keys`).
    pub fn key(&self) -> EmulatorKey {
        self.inner.keys.read().unwrap_or_else(|p| p.into_inner())[0].clone()
    }

    /// The JWKS: the current key, then the previous one after a rotation.
    pub fn jwks(&self) -> wire::Jwks {
        let keys = self.inner.keys.read().unwrap_or_else(|p| p.into_inner());
        wire::Jwks {
            keys: keys.iter().flat_map(|k| k.jwks().keys).collect(),
        }
    }

    /// Signs with a freshly generated key from now on (the `kid` changes),
    /// keeping the previous key in the JWKS. Returns the new `kid`.
    pub fn rotate_key(&self) -> Result<String, crate::signing::KeyError> {
        let new = EmulatorKey::generate()?;
        let kid = new.kid().to_string();
        let mut keys = self.inner.keys.write().unwrap_or_else(|p| p.into_inner());
        keys.insert(0, new);
        keys.truncate(2);
        Ok(kid)
    }

    /// The token endpoint URL for the test tenant.
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.inner.config.base_url, self.inner.config.tenant_id
        )
    }

    /// The OpenID configuration URL (the Skype-style path form).
    pub fn openid_config_url(&self) -> String {
        format!(
            "{}/v1/.well-known/OpenIdConfiguration",
            self.inner.config.base_url
        )
    }

    /// The JWKS URL.
    pub fn jwks_url(&self) -> String {
        format!("{}/v1/.well-known/keys", self.inner.config.base_url)
    }

    pub(crate) fn scaled(&self, simulated_s: f64) -> Duration {
        Duration::from_secs_f64((simulated_s * self.inner.config.time_scale).max(0.0))
    }

    /// Issues an app token; returns it with its lifetime in seconds.
    pub(crate) fn issue_app_token(&self) -> (String, u64) {
        let lifetime = lock(&self.inner.faults)
            .faults
            .app_token_lifetime_s
            .unwrap_or(APP_TOKEN_LIFETIME_S);
        let now = wire::unix_now();
        let c = &self.inner.config;
        let token = self.key().sign(&AppTokenClaims {
            aud: "https://graph.microsoft.com".into(),
            iss: format!("https://sts.windows.net/{}/", c.tenant_id),
            tid: c.tenant_id.clone(),
            appid: c.client_id.clone(),
            roles: vec!["Calls.AccessMedia.All".into(), "Calls.Initiate.All".into()],
            iat: now,
            nbf: now.saturating_sub(300),
            exp: now + lifetime,
            jti: uuid::Uuid::new_v4().to_string(),
        });
        let serial = self.inner.app_token_serial.fetch_add(1, Ordering::Relaxed) + 1;
        lock(&self.inner.app_tokens).insert(
            token.clone(),
            AppToken {
                expires: Instant::now() + Duration::from_secs(lifetime),
                serial,
                revoked: false,
            },
        );
        self.inner.issued.push(token.clone());
        (token, lifetime)
    }

    /// Revokes every app token issued so far: Graph answers requests that
    /// carry one with `401 InvalidAuthenticationToken`, as after a secret
    /// rotation, until the client fetches a new token. Also
    /// `POST /_emulator/revoke-tokens`.
    pub fn revoke_app_tokens(&self) {
        for t in lock(&self.inner.app_tokens).values_mut() {
            t.revoked = true;
        }
    }

    /// Every request received so far, oldest first (at most
    /// [`crate::request_log::LOG_CAPACITY`]), without secrets: see
    /// [`LoggedRequest`].
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.inner.requests.snapshot()
    }

    /// Every notification POST made so far, oldest first, with the answer.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner.deliveries.snapshot()
    }

    /// Empties the request and delivery logs.
    pub fn clear_logs(&self) {
        self.inner.requests.clear();
        self.inner.deliveries.clear();
    }

    /// Every secret this emulator handed out so far (app tokens, recording
    /// access tokens, notification JWTs), so that a leak test can search a
    /// client's logs and errors for them. Test values, never logged here.
    pub fn issued_secrets(&self) -> Vec<String> {
        self.inner.issued.snapshot()
    }

    /// The bytes of recording `id` as the recording host serves them, while
    /// it is kept (see [`Self::recording_id_of`]).
    pub fn recording_bytes(&self, id: &str) -> Option<Bytes> {
        lock(&self.inner.recordings)
            .get(id)
            .map(|r| r.bytes.clone())
    }

    /// Logs one received request; the credential is classified, never kept.
    pub(crate) fn log_request(
        &self,
        method: &axum::http::Method,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) {
        let credential = self.classify(headers);
        self.inner
            .requests
            .push(request_log::entry(method, path, headers, credential, body));
    }

    fn classify(&self, headers: &HeaderMap) -> Credential {
        if !headers.contains_key(header::AUTHORIZATION) {
            return Credential::None;
        }
        let Some(token) = bearer(headers) else {
            return Credential::OtherScheme;
        };
        if let Some(t) = lock(&self.inner.app_tokens).get(token) {
            return Credential::AppToken { serial: t.serial };
        }
        lock(&self.inner.recordings)
            .iter()
            .find(|(_, r)| r.token == token)
            .map_or(Credential::Unrecognised, |(id, _)| {
                Credential::RecordingToken {
                    recording: id.clone(),
                }
            })
    }

    /// Auth, then (for a call) existence, then throttling, as Graph orders them.
    pub(crate) fn gate(&self, headers: &HeaderMap, call: Option<&str>) -> Result<(), ApiError> {
        let token = bearer(headers).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token is empty: send Authorization: Bearer <app token> from the token endpoint.",
            )
        })?;
        let valid = lock(&self.inner.app_tokens)
            .get(token)
            .is_some_and(|t| !t.revoked && t.expires > Instant::now());
        if !valid {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token validation failure: the token was not issued by this emulator or has expired.",
            ));
        }
        if let Some(id) = call {
            let mut calls = lock(&self.inner.calls);
            let entry = calls
                .get_mut(&norm(id))
                .filter(|c| !c.ended)
                .ok_or_else(|| call_not_found(id))?;
            if entry.throttle_left > 0 {
                entry.throttle_left -= 1;
                let t = entry
                    .script
                    .scenario
                    .faults
                    .as_ref()
                    .and_then(|f| f.throttle.clone());
                if let Some(t) = t {
                    return Err(ApiError::throttled(t.status, t.retry_after_s));
                }
            }
        }
        let mut sf = lock(&self.inner.faults);
        if sf.throttle_left > 0 {
            if let Some(t) = sf.faults.throttle.clone() {
                sf.throttle_left -= 1;
                return Err(ApiError::throttled(t.status, t.retry_after_s));
            }
        }
        Ok(())
    }

    pub(crate) fn resolve_script(
        &self,
        spec: Option<&Value>,
    ) -> Result<Option<Arc<Script>>, ApiError> {
        let bad = |m: String| ApiError::bad_request(m);
        let scenario = match spec {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) if s.trim_start().starts_with('{') => {
                Scenario::from_json(s, SCENARIO_HEADER).map_err(|e| bad(e.to_string()))?
            }
            Some(Value::String(name)) => {
                return lock(&self.inner.scenarios)
                    .get(name)
                    .cloned()
                    .map(Some)
                    .ok_or_else(|| bad(format!("scenario {name:?} is not registered")));
            }
            Some(v) => serde_json::from_value::<Scenario>(v.clone())
                .map_err(|e| bad(format!("voxcapScenario: {e}")))?,
        };
        let prepared = scenario
            .prepare(&self.inner.config.asset_root)
            .map_err(|e| bad(e.to_string()))?;
        Ok(Some(Arc::new(Script { scenario, prepared })))
    }

    pub(crate) fn call_faults(&self, script: &Script) -> Faults {
        script
            .scenario
            .faults
            .clone()
            .unwrap_or_else(|| lock(&self.inner.faults).faults.clone())
    }
}

impl EmulatorState {
    /// Authorised downloads per recording id (the last path segment of a
    /// completion's `recordingLocation`, which is always
    /// `{base_url}/recordings/{id}`; see also [`Self::recording_id_of`]).
    /// A download counts once its request passed authorisation and a body
    /// is being sent: `fromStart` when it starts at byte 0 (no `Range`, a
    /// `Range` from 0, or any `Range` while ranges are disabled), `resumed`
    /// when it starts later. Refused (`401`/`403`/`404`/`416`) requests do
    /// not count. A recording nobody downloaded has no entry. Also in
    /// `/_emulator/stats` as `downloads`.
    pub fn download_counts(&self) -> HashMap<String, DownloadCount> {
        lock(&self.inner.downloads).clone()
    }

    /// The recording id of a finished recordResponse (or legacy record)
    /// operation, by operation id (dashes and case ignored); `None` while it
    /// runs, when it produced no recording, or when the id is unknown. It
    /// equals the last path segment of the operation's `recordingLocation`
    /// (`recordResourceLocation` in the legacy form), so a test holding that
    /// URL can take the segment instead.
    pub fn recording_id_of(&self, operation_id: &str) -> Option<String> {
        let want = norm(operation_id);
        lock(&self.inner.calls)
            .values()
            .find_map(|c| c.operations.get(&want))
            .and_then(|o| o.recording.clone())
    }

    /// Counts one authorised download of recording `id` starting at `start`.
    pub(crate) fn count_download(&self, id: &str, start: u64) {
        let mut downloads = lock(&self.inner.downloads);
        let n = downloads.entry(id.to_string()).or_default();
        if start == 0 {
            n.from_start += 1;
        } else {
            n.resumed += 1;
        }
    }
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Starts the discard clock of recordings whose call ended. `faults` is the
/// call's faults when known; otherwise each recording's own are used.
pub(crate) fn start_discard_timers(st: &EmulatorState, ids: &[String], faults: Option<&Faults>) {
    let recs = lock(&st.inner.recordings);
    for id in ids {
        if let Some(r) = recs.get(id) {
            let f = faults.unwrap_or(&r.faults);
            if let Some(d) = f.discard_after_s {
                let at = Instant::now() + st.scaled(d);
                let mut slot = lock(&r.discard_at);
                *slot = Some(slot.map_or(at, |old| old.min(at)));
            }
        }
    }
}

/// What the recording host needs to know about one recording.
pub(crate) struct RecordingView {
    pub(crate) bytes: Bytes,
    pub(crate) token: String,
    pub(crate) token_expired: bool,
    pub(crate) range_disabled: bool,
    pub(crate) bytes_per_sec: Option<u64>,
    pub(crate) drop_after: Option<u64>,
    pub(crate) live: Option<crate::stream::Live>,
}

/// Why a recording cannot be served.
pub(crate) enum RecordingLookup {
    Found(RecordingView),
    Missing,
    Discarded,
}

impl EmulatorState {
    /// Looks a recording up for one download, consuming one injected drop.
    pub(crate) fn recording_for_download(&self, id: &str) -> RecordingLookup {
        let mut recs = lock(&self.inner.recordings);
        let Some(r) = recs.get(id).cloned() else {
            return RecordingLookup::Missing;
        };
        if lock(&r.discard_at).is_some_and(|at| Instant::now() >= at) {
            recs.remove(id);
            return RecordingLookup::Discarded;
        }
        drop(recs);
        let drop_after = r.faults.drop_after_bytes.filter(|_| {
            r.drops_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        });
        RecordingLookup::Found(RecordingView {
            bytes: r.bytes.clone(),
            token: r.token.clone(),
            token_expired: r.token_expired,
            range_disabled: r.faults.range_disabled,
            bytes_per_sec: r.faults.download_bytes_per_sec,
            drop_after,
            live: r.live,
        })
    }
}
