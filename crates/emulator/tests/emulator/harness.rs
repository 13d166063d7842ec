//! The harness of the emulator tests: a running emulator, an app token, a
//! reqwest client and a tiny axum webhook receiver that verifies every
//! notification's JWT against the JWKS fetched from the emulator.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use voxcap_emulator::server::TEST_CLIENT_ID;
use voxcap_emulator::{EmulatorConfig, RunningEmulator, Scenario};

pub(crate) fn scenario_file(name: &str) -> Scenario {
    let path = voxcap_testkit::workspace_root()
        .join("testdata/scenarios")
        .join(format!("{name}.json"));
    Scenario::from_file(&path).expect("committed scenario parses")
}

/// One received notification batch, after its JWT was verified.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) body: Value,
}

#[derive(Default)]
pub(crate) struct Inbox {
    pub(crate) batches: Vec<Received>,
    pub(crate) rejected: Vec<String>,
    pub(crate) jwks_refreshes: usize,
}

#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) inbox: Arc<Mutex<Inbox>>,
    pub(crate) keys: Arc<Mutex<jsonwebtoken::jwk::JwkSet>>,
    pub(crate) jwks_url: String,
    pub(crate) tenant: String,
}

pub(crate) async fn webhook(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let mut verdict = verify(&r, &headers);
    // Like a real bot: an unknown kid means the keys rotated; refetch once.
    if verdict
        .as_ref()
        .is_err_and(|e| e.starts_with("unknown kid"))
    {
        let fresh: jsonwebtoken::jwk::JwkSet = reqwest::get(&r.jwks_url)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        *r.keys.lock().unwrap() = fresh;
        r.inbox.lock().unwrap().jwks_refreshes += 1;
        verdict = verify(&r, &headers);
    }
    let mut inbox = r.inbox.lock().unwrap();
    match verdict {
        Ok(()) => {
            let body: Value = serde_json::from_str(&body).expect("notification is JSON");
            inbox.batches.push(Received { body });
            StatusCode::ACCEPTED
        }
        Err(e) => {
            inbox.rejected.push(e);
            StatusCode::UNAUTHORIZED
        }
    }
}

pub(crate) fn verify(r: &Receiver, headers: &HeaderMap) -> Result<(), String> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or("no Authorization header")?;
    let token = auth.strip_prefix("Bearer ").ok_or("not a bearer token")?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let key = {
        let keys = r.keys.lock().unwrap();
        let jwk = keys.find(&kid).ok_or(format!("unknown kid {kid}"))?;
        jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?
    };
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[TEST_CLIENT_ID]);
    v.set_issuer(&[
        "https://graph.microsoft.com",
        "https://graph.microsoft.com/",
        "https://api.botframework.com",
    ]);
    v.set_required_spec_claims(&["exp", "nbf", "aud", "iss"]);
    let data = jsonwebtoken::decode::<Value>(token, &key, &v).map_err(|e| e.to_string())?;
    if data.claims["tid"] != r.tenant.as_str() {
        return Err(format!("wrong tid {}", data.claims["tid"]));
    }
    Ok(())
}

/// A running emulator, a webhook receiver, an app token and one client.
pub(crate) struct Harness {
    pub(crate) emu: RunningEmulator,
    pub(crate) http: reqwest::Client,
    pub(crate) token: String,
    pub(crate) callback: String,
    pub(crate) inbox: Arc<Mutex<Inbox>>,
}

impl Harness {
    pub(crate) async fn start() -> Self {
        Self::with(|_| {}).await
    }

    pub(crate) async fn with(tune: impl FnOnce(&mut EmulatorConfig)) -> Self {
        let mut config = voxcap_testkit::emulated::emulator_config();
        tune(&mut config);
        let emu = RunningEmulator::start("127.0.0.1:0".parse().unwrap(), config)
            .await
            .expect("emulator starts");
        let http = reqwest::Client::new();
        // Discover the JWKS the way a bot does: OpenID configuration first.
        let oidc: Value = http
            .get(format!(
                "{}/v1/.well-known/OpenIdConfiguration",
                emu.base_url
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(oidc["issuer"], "https://graph.microsoft.com");
        let jwks_url = oidc["jwks_uri"].as_str().unwrap().to_string();
        let keys: jsonwebtoken::jwk::JwkSet = http
            .get(&jwks_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let receiver = Receiver {
            inbox: inbox.clone(),
            keys: Arc::new(Mutex::new(keys)),
            jwks_url,
            tenant: emu.state.config().tenant_id.clone(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let router = Router::new()
            .route("/api/calls", post(webhook))
            .with_state(receiver);
        tokio::spawn(async move { axum::serve(listener, router).await });
        let tok = voxcap_testkit::emulated::token_response(&http, &emu).await;
        Harness {
            token: tok["access_token"].as_str().expect("token").to_string(),
            callback: format!("http://{addr}/api/calls"),
            emu,
            http,
            inbox,
        }
    }

    /// A token endpoint answer for the test app.
    pub(crate) async fn fetch_token(&self) -> Value {
        voxcap_testkit::emulated::token_response(&self.http, &self.emu).await
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.base_url)
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn create_call(&self, scenario: Option<Value>) -> String {
        let mut body = json!({
            "@odata.type": "#microsoft.graph.call",
            "callbackUri": self.callback,
            "requestedModalities": ["audio"],
            "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
        });
        if let Some(s) = scenario {
            body["voxcapScenario"] = s;
        }
        let r = self.post("/v1.0/communications/calls", &body).await;
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        v["id"].as_str().unwrap().to_string()
    }

    pub(crate) async fn call_with(&self, scenario: &Scenario) -> String {
        self.create_call(Some(serde_json::to_value(scenario).unwrap()))
            .await
    }

    /// Waits for a record-operation notification about `op_id` (ids
    /// normalised), returning the notification entry.
    pub(crate) async fn completion(&self, op_id: &str) -> Value {
        self.completion_within(op_id, Duration::from_secs(20))
            .await
            .unwrap_or_else(|| panic!("no completion notification for operation {op_id}"))
    }

    pub(crate) async fn completion_within(&self, op_id: &str, wait: Duration) -> Option<Value> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(n) = self.completions(op_id).into_iter().next() {
                return Some(n);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub(crate) fn completions(&self, op_id: &str) -> Vec<Value> {
        let want = norm(op_id);
        let inbox = self.inbox.lock().unwrap();
        assert!(
            inbox.rejected.is_empty(),
            "rejected JWTs: {:?}",
            inbox.rejected
        );
        inbox
            .batches
            .iter()
            .flat_map(|b| b.body["value"].as_array().cloned().unwrap_or_default())
            .filter(|n| {
                n["resourceData"]["@odata.type"] == "#microsoft.graph.recordOperation"
                    && n["changeType"] == "deleted"
                    && resource_path(n).is_some_and(|p| norm(p).ends_with(&want))
            })
            .collect()
    }

    pub(crate) fn all_entries(&self) -> Vec<Value> {
        let inbox = self.inbox.lock().unwrap();
        inbox
            .batches
            .iter()
            .flat_map(|b| b.body["value"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    pub(crate) async fn download(&self, location: &str, token: &str) -> reqwest::Response {
        self.http
            .get(location)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

pub(crate) fn norm(id: &str) -> String {
    id.chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

pub(crate) fn resource_path(n: &Value) -> Option<&str> {
    n["resourceUrl"].as_str().or(n["resource"].as_str())
}

pub(crate) fn record_body(initial: u32, max_silence: u32, max_duration: u32, ctx: &str) -> Value {
    json!({
        "bargeInAllowed": false,
        "clientContext": ctx,
        "prompts": [{
            "@odata.type": "#microsoft.graph.mediaPrompt",
            "mediaInfo": {"uri": "https://cdn.contoso.com/beep.wav", "resourceId": "1D6DE2D4-CD51-4309-8DAA-70768651088E"}
        }],
        "maxRecordDurationInSeconds": max_duration,
        "initialSilenceTimeoutInSeconds": initial,
        "maxSilenceTimeoutInSeconds": max_silence,
        "playBeep": true,
        "stopTones": ["#", "*"]
    })
}

/// Starts a recordResponse and returns (operation id, response JSON).
pub(crate) async fn start_record(h: &Harness, call: &str, body: &Value) -> (String, Value) {
    let r = h
        .post(
            &format!("/v1.0/communications/calls/{call}/recordResponse"),
            body,
        )
        .await;
    assert_eq!(r.status(), 200, "recordResponse on call {call}");
    let v: Value = r.json().await.unwrap();
    (v["id"].as_str().unwrap().to_string(), v)
}

pub(crate) fn wav_seconds(bytes: &[u8]) -> f64 {
    let r = hound::WavReader::new(std::io::Cursor::new(bytes)).expect("valid WAV");
    let s = r.spec();
    assert_eq!(
        (s.sample_rate, s.channels, s.bits_per_sample),
        (16_000, 1, 16)
    );
    f64::from(r.duration()) / 16_000.0
}

pub(crate) async fn finished_recording(h: &Harness, scenario: &Scenario) -> (String, String) {
    let call = h.call_with(scenario).await;
    let (op, _) = start_record(h, &call, &record_body(5, 2, 5, "dl")).await;
    let n = h.completion(&op).await;
    let d = &n["resourceData"];
    (
        d["recordingLocation"].as_str().unwrap().to_string(),
        d["recordingAccessToken"].as_str().unwrap().to_string(),
    )
}

/// A port nothing listens on: bound, read, and released, so connecting to it
/// is refused.
pub(crate) fn refused_url() -> String {
    let port = voxcap_testkit::free_port();
    format!("http://127.0.0.1:{port}/api/calls")
}

/// A webhook that keeps every body and answers `status`, for targets whose
/// hits (or lack of them) a test counts.
pub(crate) async fn plain_receiver(status: StatusCode) -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new().route(
        "/api/calls",
        post(move |body: String| async move {
            seen2
                .lock()
                .unwrap()
                .push(serde_json::from_str::<Value>(&body).unwrap_or(Value::Null));
            status
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}/api/calls"), seen)
}

pub(crate) fn mentions_record_operation(batches: &[Value]) -> bool {
    batches.iter().any(|b| {
        b["value"].as_array().is_some_and(|v| {
            v.iter()
                .any(|n| n["resourceData"]["@odata.type"] == "#microsoft.graph.recordOperation")
        })
    })
}

impl Harness {
    /// Creates a call whose notifications go to `callback` instead of the
    /// harness receiver.
    pub(crate) async fn create_call_to(&self, callback: &str) -> String {
        let body = json!({
            "@odata.type": "#microsoft.graph.call",
            "callbackUri": callback,
            "requestedModalities": ["audio"],
            "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
        });
        let r = self.post("/v1.0/communications/calls", &body).await;
        assert_eq!(r.status(), 201);
        r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub(crate) async fn stats(&self) -> Value {
        self.http
            .get(self.url("/_emulator/stats"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Polls `/_emulator/stats` until `ready` holds (counters move only
    /// after the receiver has answered), failing after 10 s.
    pub(crate) async fn stats_when(&self, ready: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stats = self.stats().await;
            if ready(&stats) {
                return stats;
            }
            assert!(Instant::now() < deadline, "stats never got there: {stats}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub(crate) async fn put_fallbacks(&self, body: &Value) -> reqwest::Response {
        self.http
            .put(self.url("/_emulator/fallbacks"))
            .json(body)
            .send()
            .await
            .unwrap()
    }
}
