//! The emulator's one integration-test binary: a plain reqwest client drives
//! every endpoint and fault, and a tiny axum webhook receiver verifies every
//! notification's JWT against the JWKS fetched from the emulator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use voxcap_emulator::server::TEST_CLIENT_ID;
use voxcap_emulator::{EmulatorConfig, Faults, RunningEmulator, Scenario};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scenario_file(name: &str) -> Scenario {
    let path = repo_root()
        .join("testdata/scenarios")
        .join(format!("{name}.json"));
    Scenario::from_file(&path).expect("committed scenario parses")
}

/// One received notification batch, after its JWT was verified.
#[derive(Debug, Clone)]
struct Received {
    body: Value,
}

#[derive(Default)]
struct Inbox {
    batches: Vec<Received>,
    rejected: Vec<String>,
    jwks_refreshes: usize,
}

#[derive(Clone)]
struct Receiver {
    inbox: Arc<Mutex<Inbox>>,
    keys: Arc<Mutex<jsonwebtoken::jwk::JwkSet>>,
    jwks_url: String,
    tenant: String,
}

async fn webhook(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
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

fn verify(r: &Receiver, headers: &HeaderMap) -> Result<(), String> {
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
struct Harness {
    emu: RunningEmulator,
    http: reqwest::Client,
    token: String,
    callback: String,
    inbox: Arc<Mutex<Inbox>>,
}

impl Harness {
    async fn start() -> Self {
        Self::with(|_| {}).await
    }

    async fn with(tune: impl FnOnce(&mut EmulatorConfig)) -> Self {
        let mut config = EmulatorConfig {
            asset_root: repo_root(),
            ..EmulatorConfig::default()
        };
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
        let c = emu.state.config().clone();
        let tok: Value = http
            .post(emu.state.token_url())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", c.client_id.as_str()),
                ("client_secret", c.client_secret.as_str()),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Harness {
            token: tok["access_token"].as_str().expect("token").to_string(),
            callback: format!("http://{addr}/api/calls"),
            emu,
            http,
            inbox,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.base_url)
    }

    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn create_call(&self, scenario: Option<Value>) -> String {
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

    async fn call_with(&self, scenario: &Scenario) -> String {
        self.create_call(Some(serde_json::to_value(scenario).unwrap()))
            .await
    }

    /// Waits for a record-operation notification about `op_id` (ids
    /// normalised), returning the notification entry.
    async fn completion(&self, op_id: &str) -> Value {
        self.completion_within(op_id, Duration::from_secs(20))
            .await
            .unwrap_or_else(|| panic!("no completion notification for operation {op_id}"))
    }

    async fn completion_within(&self, op_id: &str, wait: Duration) -> Option<Value> {
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

    fn completions(&self, op_id: &str) -> Vec<Value> {
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

    fn all_entries(&self) -> Vec<Value> {
        let inbox = self.inbox.lock().unwrap();
        inbox
            .batches
            .iter()
            .flat_map(|b| b.body["value"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    async fn download(&self, location: &str, token: &str) -> reqwest::Response {
        self.http
            .get(location)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

fn norm(id: &str) -> String {
    id.chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn resource_path(n: &Value) -> Option<&str> {
    n["resourceUrl"].as_str().or(n["resource"].as_str())
}

fn record_body(initial: u32, max_silence: u32, max_duration: u32, ctx: &str) -> Value {
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
async fn start_record(h: &Harness, call: &str, body: &Value) -> (String, Value) {
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

fn wav_seconds(bytes: &[u8]) -> f64 {
    let r = hound::WavReader::new(std::io::Cursor::new(bytes)).expect("valid WAV");
    let s = r.spec();
    assert_eq!(
        (s.sample_rate, s.channels, s.bits_per_sample),
        (16_000, 1, 16)
    );
    f64::from(r.duration()) / 16_000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_accepts_client_credentials_and_rejects_bad_ones() {
    let h = Harness::start().await;
    let c = h.emu.state.config().clone();
    let url = h.emu.state.token_url();
    let ok = [
        ("grant_type", "client_credentials"),
        ("client_id", c.client_id.as_str()),
        ("client_secret", c.client_secret.as_str()),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let r = h.http.post(&url).form(&ok).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token_type"], "Bearer");
    assert!(v["expires_in"].as_u64().unwrap() > 3000);
    assert!(!v["access_token"].as_str().unwrap().is_empty());

    let cases: [(&str, &str, &str, u16, &str); 4] = [
        ("secret", "client_secret", "wrong", 401, "invalid_client"),
        (
            "client",
            "client_id",
            "someone-else",
            400,
            "unauthorized_client",
        ),
        (
            "grant",
            "grant_type",
            "password",
            400,
            "unsupported_grant_type",
        ),
        ("scope", "scope", "User.Read", 400, "invalid_scope"),
    ];
    for (label, field, value, status, code) in cases {
        let form: Vec<(&str, &str)> = ok
            .iter()
            .map(|&(k, v)| if k == field { (k, value) } else { (k, v) })
            .collect();
        let r = h.http.post(&url).form(&form).send().await.unwrap();
        assert_eq!(r.status(), status, "case {label}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], code, "case {label}");
    }
    let r = h
        .http
        .post(h.url("/not-the-tenant/oauth2/v2.0/token"))
        .form(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_configuration_is_served_at_both_paths_with_the_signing_kid() {
    let h = Harness::start().await;
    for path in [
        "/.well-known/openid-configuration",
        "/v1/.well-known/OpenIdConfiguration",
    ] {
        let v: Value = h
            .http
            .get(h.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["issuer"], "https://graph.microsoft.com", "{path}");
        let jwks: Value = h
            .http
            .get(v["jwks_uri"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(jwks["keys"][0]["kid"], h.emu.state.key().kid());
        assert_eq!(jwks["keys"][0]["kty"], "RSA");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_endpoints_need_an_app_token_and_a_known_call() {
    let h = Harness::start().await;
    let body = record_body(5, 5, 5, "ctx");
    for token in [None, Some("not-a-token")] {
        let mut req = h
            .http
            .post(h.url("/v1.0/communications/calls"))
            .json(&json!({"callbackUri": h.callback}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "token {token:?}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "InvalidAuthenticationToken");
    }
    let r = h
        .post(
            "/v1.0/communications/calls/57dab8b1-894c-409a-b240-bd8beae78896/recordResponse",
            &body,
        )
        .await;
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("57dab8b1"));
    assert!(v["error"]["innerError"]["request-id"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_record_requests_get_graph_400s() {
    let h = Harness::start().await;
    let call = h.create_call(None).await;
    let base = record_body(5, 5, 5, "ctx");
    let with = |ptr: &str, v: Value| {
        let mut b = base.clone();
        *b.pointer_mut(ptr).unwrap() = v;
        b
    };
    let two_prompts = {
        let mut b = base.clone();
        let p = b["prompts"][0].clone();
        b["prompts"] = json!([p.clone(), p]);
        b
    };
    let cases = [
        (
            "initial 0",
            with("/initialSilenceTimeoutInSeconds", json!(0)),
            "initialSilenceTimeoutInSeconds",
        ),
        (
            "initial 121",
            with("/initialSilenceTimeoutInSeconds", json!(121)),
            "initialSilenceTimeoutInSeconds",
        ),
        (
            "max silence 0",
            with("/maxSilenceTimeoutInSeconds", json!(0)),
            "maxSilenceTimeoutInSeconds",
        ),
        (
            "max duration 121",
            with("/maxRecordDurationInSeconds", json!(121)),
            "maxRecordDurationInSeconds",
        ),
        ("two prompts", two_prompts, "prompts"),
        (
            "no prompt uri",
            with("/prompts/0/mediaInfo/uri", json!("")),
            "mediaInfo.uri",
        ),
        (
            "context 257",
            with("/clientContext", json!("x".repeat(257))),
            "clientContext",
        ),
        (
            "stop tone X",
            with("/stopTones", json!(["X"])),
            "stopTones[0]",
        ),
        (
            "stop tone 11 (strict outside legacy)",
            with("/stopTones", json!(["#", "11"])),
            "stopTones[1]",
        ),
        ("not JSON", json!("{"), "recordResponse"),
    ];
    for (label, body, names) in cases {
        let r = h
            .post(
                &format!("/v1.0/communications/calls/{call}/recordResponse"),
                &body,
            )
            .await;
        assert_eq!(r.status(), 400, "case {label}");
        assert!(r.headers().contains_key("request-id"), "case {label}");
        let v: Value = r.json().await.unwrap();
        let e = &v["error"];
        assert_eq!(e["code"], "BadRequest", "case {label}");
        assert!(
            e["message"].as_str().unwrap().contains(names),
            "case {label}: {e}"
        );
        assert!(e["innerError"]["request-id"].is_string(), "case {label}");
        assert!(
            e["innerError"]["date"].as_str().unwrap().ends_with('Z'),
            "case {label}"
        );
    }
    // 256 characters is still fine, and "a" is the DTMF key A.
    let ok = with("/clientContext", json!("y".repeat(256)));
    let mut ok = ok;
    ok["stopTones"] = json!(["a", "#"]);
    let r = h
        .post(
            &format!("/v1.0/communications/calls/{call}/recordResponse"),
            &ok,
        )
        .await;
    assert_eq!(r.status(), 200);
}

const SEED_V1: &str = r##"{
  "bargeInAllowed": true,
  "clientContext": "d45324c1-fcb5-430a-902c-f20af696537c",
  "prompts": [
    {
      "@odata.type": "#microsoft.graph.mediaPrompt",
      "mediaInfo": {
        "uri": "https://cdn.contoso.com/beep.wav",
        "resourceId": "1D6DE2D4-CD51-4309-8DAA-70768651088E"
      }
    }
  ],
  "maxRecordDurationInSeconds": 10,
  "initialSilenceTimeoutInSeconds": 5,
  "maxSilenceTimeoutInSeconds": 2,
  "playBeep": true,
  "stopTones": [ "#", "1", "*" ]
}"##;

const SEED_LEGACY: &str = r##"{
  "bargeInAllowed": true,
  "clientContext": "d45324c1-fcb5-430a-902c-f20af696537c",
  "prompts": [
    {
      "@odata.type": "#microsoft.graph.silencePrompt",
      "duration": 5000
    },
    {
      "@odata.type": "#microsoft.graph.mediaPrompt",
      "mediaInfo": {
        "uri": "https://cdn.contoso.com/beep.wav",
        "resourceid": "1D6DE2D4-CD51-4309-8DAA-70768651088E",
      },
      "loop": 5
    }
  ],
  "maxRecordDurationInSeconds": 1800,
  "initialSilenceTimeoutInSeconds": 10,
  "maxSilenceTimeoutInSeconds": 2,
  "recordingFormat": "wav",
  "playBeep": true,
  "streamWhileRecording": true,
  "stopTones": [ "#", "11", "*" ],
}"##;

async fn post_raw(h: &Harness, path: &str, body: &str) -> reqwest::Response {
    h.http
        .post(h.url(path))
        .bearer_auth(&h.token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_v1_and_beta_bodies_are_accepted_verbatim() {
    let h = Harness::start().await;
    for version in ["v1.0", "beta"] {
        let call = h.create_call(None).await;
        let r = post_raw(
            &h,
            &format!("/{version}/communications/calls/{call}/recordResponse"),
            SEED_V1,
        )
        .await;
        assert_eq!(r.status(), 200, "{version}");
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        let v: Value = r.json().await.unwrap();
        let op = v["id"].as_str().unwrap();
        assert_eq!(
            loc,
            h.url(&format!(
                "/{version}/communications/calls/{call}/operations/{op}"
            ))
        );
        assert_eq!(v["@odata.type"], "#microsoft.graph.recordOperation");
        assert_eq!(v["status"], "running");
        assert!(v["resultInfo"].is_null() && v["recordingLocation"].is_null());
        assert_eq!(v["clientContext"], "d45324c1-fcb5-430a-902c-f20af696537c");
        // Beta adds completionReason: null; v1.0 has no such field.
        let has_reason = v.as_object().unwrap().contains_key("completionReason");
        assert_eq!(has_reason, version == "beta", "{version}");

        let n = h.completion(op).await;
        // Resource paths use upper-case dashless ids; resourceData.id does not.
        let path = n["resourceUrl"].as_str().unwrap();
        assert_eq!(
            path,
            format!(
                "/communications/calls/{}/operations/{}",
                norm(&call),
                norm(op)
            )
        );
        let d = &n["resourceData"];
        assert_eq!(d["id"], op);
        assert_eq!(d["@odata.id"], path);
        assert_eq!(d["status"], "completed");
        assert_eq!(d["resultInfo"]["subcode"], 8509);
        assert!(d["recordingLocation"].as_str().unwrap().starts_with("http"));
        assert!(d["recordingAccessToken"].is_string());
        if version == "beta" {
            assert_eq!(d["completionReason"], "maxSilenceTimeout");
        } else {
            assert!(d.get("completionReason").is_none());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_legacy_record_body_with_trailing_commas_is_accepted_on_both_paths() {
    let h = Harness::start().await;
    let stop = Scenario {
        steps: vec![
            voxcap_emulator::Step::Voice {
                ms: 500,
                pitch_hz: 150.0,
                level_dbfs: -20.0,
            },
            // "11" in the seed's stopTones makes 1 a stop tone.
            voxcap_emulator::Step::Press {
                digit: '1',
                ms: 100,
                level_dbfs: -10.0,
            },
        ],
        ..Scenario::default()
    };
    for path in [
        "/beta/app/calls/{id}/record",
        "/beta/applications/app-1/calls/{id}/record",
    ] {
        let call = h.call_with(&stop).await;
        let r = post_raw(&h, &path.replace("{id}", &call), SEED_LEGACY).await;
        assert_eq!(r.status(), 202, "{path}");
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        let v: Value = r.json().await.unwrap();
        let op = v["id"].as_str().unwrap().to_string();
        assert!(
            loc.ends_with(&format!("/beta/app/calls/{call}/operations/{op}")),
            "{loc}"
        );
        assert_eq!(v["status"], "running");
        assert!(v["createdDateTime"].is_string() && v["lastActionDateTime"].is_string());
        let n = h.completion(&op).await;
        assert!(n.get("resourceUrl").is_none(), "legacy uses `resource`");
        assert_eq!(
            n["resource"],
            format!("/app/calls/{}/operations/{}", norm(&call), norm(&op))
        );
        let d = &n["resourceData"];
        assert_eq!(d["completionReason"], "stopToneDetected");
        assert!(d["recordResourceLocation"].is_string());
        assert!(d["recordResourceAccessToken"].is_string());
        assert!(d.get("recordingLocation").is_none());
        let got = h
            .download(
                d["recordResourceLocation"].as_str().unwrap(),
                d["recordResourceAccessToken"].as_str().unwrap(),
            )
            .await;
        assert_eq!(got.status(), 200);
    }
    // The lenient pre-pass is for the legacy action only.
    let call = h.create_call(None).await;
    let r = post_raw(
        &h,
        &format!("/beta/communications/calls/{call}/recordResponse"),
        "{\"clientContext\": \"x\",}",
    )
    .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deprecated_app_path_record_response_works() {
    let h = Harness::start().await;
    let call = h.create_call(None).await;
    let r = post_raw(
        &h,
        &format!("/beta/app/calls/{call}/recordResponse"),
        SEED_V1,
    )
    .await;
    assert_eq!(r.status(), 200);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.contains("/beta/app/calls/"), "{loc}");
    let v: Value = r.json().await.unwrap();
    assert!(v["completionReason"].is_null());
    let n = h.completion(v["id"].as_str().unwrap()).await;
    assert!(n["resourceUrl"]
        .as_str()
        .unwrap()
        .starts_with("/app/calls/"));
    // The operation can be read back at its Location.
    let got: Value = h
        .http
        .get(&loc)
        .bearer_auth(&h.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_recording_status_returns_a_completed_operation() {
    let h = Harness::start().await;
    let call = h.create_call(None).await;
    for status in ["recording", "notRecording", "failed"] {
        let r = h
            .post(
                &format!("/v1.0/communications/calls/{call}/updateRecordingStatus"),
                &json!({"clientContext": "c-1", "status": status}),
            )
            .await;
        assert_eq!(r.status(), 200, "{status}");
        assert!(r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/operations/"));
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            v["@odata.type"],
            "#microsoft.graph.updateRecordingStatusOperation"
        );
        assert_eq!(v["status"], "completed");
        assert!(v["resultInfo"].is_null());
        assert_eq!(v["clientContext"], "c-1");
    }
    let r = h
        .post(
            &format!("/v1.0/communications/calls/{call}/updateRecordingStatus"),
            &json!({"clientContext": "c-1", "status": "notRecording | recording | failed"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let seen: Value = h
        .http
        .get(h.url(&format!("/_emulator/calls/{call}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let got: Value = h
        .http
        .get(h.url(&format!("/v1.0/communications/calls/{call}")))
        .bearer_auth(&h.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["id"], call.as_str());
    assert_eq!(got["callbackUri"], h.callback.as_str());
    assert_eq!(
        seen["recordingStatus"],
        json!(["recording", "notRecording", "failed"])
    );
}

/// (completionReason, subcode, status) of a completed operation.
type Expected = (&'static str, u32, &'static str);

/// The emulator's completion reason for every committed scenario.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_reason_table() {
    let h = Harness::start().await;
    // (scenario, expected reason or None for no notification, subcode, status, recording seconds)
    let table: [(&str, Option<Expected>, Option<f64>); 8] = [
        (
            "stop_tone_hash",
            Some(("stopToneDetected", 8514, "completed")),
            Some(2.18),
        ),
        (
            "talk_past_max_duration",
            Some(("maxRecordDurationReached", 8515, "completed")),
            Some(10.0),
        ),
        (
            "silent_caller",
            Some(("initialSilenceTimeout", 8510, "failed")),
            Some(3.0),
        ),
        (
            "answer_then_silence",
            Some(("maxSilenceTimeout", 8509, "completed")),
            Some(5.2777),
        ),
        ("hangup_mid_answer", None, None),
        (
            "prompt_fails",
            Some(("playPromptFailed", 8511, "failed")),
            None,
        ),
        (
            "noisy_answer_then_star",
            Some(("stopToneDetected", 8514, "completed")),
            Some(3.47),
        ),
        (
            "pause_inside_answer",
            Some(("maxSilenceTimeout", 8509, "completed")),
            Some(5.4),
        ),
    ];
    for (name, want, seconds) in table {
        let call = h.call_with(&scenario_file(name)).await;
        let body = record_body(3, 2, 10, name);
        let r = h
            .post(
                &format!("/beta/communications/calls/{call}/recordResponse"),
                &body,
            )
            .await;
        assert_eq!(r.status(), 200, "{name}");
        let op = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let Some((reason, subcode, status)) = want else {
            // Hang-up: no completion, even long after the scenario's end.
            let n = h.completion_within(&op, Duration::from_millis(800)).await;
            assert!(n.is_none(), "{name}: unexpected notification {n:?}");
            continue;
        };
        let n = h.completion(&op).await;
        let d = &n["resourceData"];
        assert_eq!(d["completionReason"], reason, "{name}");
        assert_eq!(d["resultInfo"]["subcode"], subcode, "{name}");
        assert_eq!(d["status"], status, "{name}");
        assert_eq!(d["clientContext"], name);
        match seconds {
            None => assert!(
                d["recordingLocation"].is_null(),
                "{name}: no recording expected"
            ),
            Some(s) => {
                let r = h
                    .download(
                        d["recordingLocation"].as_str().unwrap(),
                        d["recordingAccessToken"].as_str().unwrap(),
                    )
                    .await;
                assert_eq!(r.status(), 200, "{name}");
                let got = wav_seconds(&r.bytes().await.unwrap());
                assert!(
                    (got - s).abs() < 0.002,
                    "{name}: recording {got} s, want {s} s"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_second_scenario_serves_a_160044_byte_chunked_wav() {
    let h = Harness::start().await;
    let call = h.call_with(&scenario_file("talk_past_max_duration")).await;
    let (op, _) = start_record(&h, &call, &record_body(5, 5, 5, "five")).await;
    let n = h.completion(&op).await;
    let d = &n["resourceData"];
    assert_eq!(d["resultInfo"]["subcode"], 8515);
    let r = h
        .download(
            d["recordingLocation"].as_str().unwrap(),
            d["recordingAccessToken"].as_str().unwrap(),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(r.headers()["transfer-encoding"], "chunked");
    assert!(r.headers().get("content-length").is_none());
    let bytes = r.bytes().await.unwrap();
    assert_eq!(bytes.len(), 160_044);
    assert!((wav_seconds(&bytes) - 5.0).abs() < 1e-9);
    // Not silence: the caller was talking the whole time.
    let reader = hound::WavReader::new(std::io::Cursor::new(&bytes[..])).unwrap();
    let peak = reader
        .into_samples::<i16>()
        .map(|s| s.unwrap().unsigned_abs())
        .max()
        .unwrap();
    assert!(peak > 1000, "peak {peak}");
}

async fn finished_recording(h: &Harness, scenario: &Scenario) -> (String, String) {
    let call = h.call_with(scenario).await;
    let (op, _) = start_record(h, &call, &record_body(5, 2, 5, "dl")).await;
    let n = h.completion(&op).await;
    let d = &n["resourceData"];
    (
        d["recordingLocation"].as_str().unwrap().to_string(),
        d["recordingAccessToken"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_needs_the_recording_token_and_honours_range() {
    let h = Harness::start().await;
    let (loc, tok) = finished_recording(&h, &voxcap_emulator::server::default_scenario()).await;
    let r = h.http.get(&loc).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // The Graph app token must not open the recording.
    assert_eq!(h.download(&loc, &h.token).await.status(), 403);
    assert_eq!(h.download(&loc, "guess").await.status(), 403);
    let full = h.download(&loc, &tok).await.bytes().await.unwrap();
    let total = full.len();
    let ranges = [
        ("bytes=0-99", 0, 100),
        ("bytes=1000-", 1000, total),
        ("bytes=-44", total - 44, total),
        ("bytes=100-999999999", 100, total),
    ];
    for (range, s, e) in ranges {
        let r = h
            .http
            .get(&loc)
            .bearer_auth(&tok)
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 206, "{range}");
        assert_eq!(
            r.headers()["content-range"].to_str().unwrap(),
            format!("bytes {s}-{}/{total}", e - 1),
            "{range}"
        );
        assert_eq!(&r.bytes().await.unwrap()[..], &full[s..e], "{range}");
    }
    let r = h
        .http
        .get(&loc)
        .bearer_auth(&tok)
        .header("range", format!("bytes={total}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(
        r.headers()["content-range"].to_str().unwrap(),
        format!("bytes */{total}")
    );
    let r = h
        .http
        .get(h.url("/recordings/nope"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

fn with_faults(faults: Faults) -> Scenario {
    Scenario {
        faults: Some(faults),
        ..voxcap_emulator::server::default_scenario()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_throttle_429_per_call_with_retry_after() {
    let h = Harness::start().await;
    let call = h
        .call_with(&with_faults(Faults {
            throttle: Some(voxcap_emulator::Throttle {
                status: 429,
                count: 2,
                retry_after_s: 3,
            }),
            ..Faults::default()
        }))
        .await;
    let body = record_body(5, 5, 5, "t");
    for i in 0..2 {
        let r = h
            .post(
                &format!("/v1.0/communications/calls/{call}/recordResponse"),
                &body,
            )
            .await;
        assert_eq!(r.status(), 429, "attempt {i}");
        assert_eq!(r.headers()["retry-after"], "3");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "TooManyRequests");
    }
    let (op, _) = start_record(&h, &call, &body).await;
    h.completion(&op).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_throttle_503_server_wide_via_control_endpoint() {
    let h = Harness::start().await;
    let r = h
        .http
        .put(h.url("/_emulator/faults"))
        .json(&json!({"throttle": {"status": 503, "count": 1, "retry_after_s": 7}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let now: Value = h
        .http
        .get(h.url("/_emulator/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(now["throttle"]["status"], 503);
    let r = h
        .post(
            "/v1.0/communications/calls",
            &json!({"callbackUri": h.callback}),
        )
        .await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "7");
    let call = h.create_call(None).await;
    let (op, _) = start_record(&h, &call, &record_body(5, 5, 5, "after")).await;
    h.completion(&op).await;
    let bad = h
        .http
        .put(h.url("/_emulator/faults"))
        .json(&json!({"throttle": {"status": 500, "count": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_connection_dropped_then_resumed_with_range() {
    let h = Harness::start().await;
    let (loc, tok) = finished_recording(
        &h,
        &with_faults(Faults {
            drop_after_bytes: Some(40_000),
            ..Faults::default()
        }),
    )
    .await;
    let mut r = h.download(&loc, &tok).await;
    assert_eq!(r.status(), 200);
    let mut got = Vec::new();
    let err = loop {
        match r.chunk().await {
            Ok(Some(c)) => got.extend_from_slice(&c),
            Ok(None) => panic!(
                "download finished despite the drop fault ({} bytes)",
                got.len()
            ),
            Err(e) => break e,
        }
    };
    assert_eq!(got.len(), 40_000, "bytes before the drop");
    assert!(err.is_body() || err.is_decode(), "{err}");
    // Resume from where it stopped; the fault applies to one download only.
    let r = h
        .http
        .get(&loc)
        .bearer_auth(&tok)
        .header("range", format!("bytes={}-", got.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    got.extend_from_slice(&r.bytes().await.unwrap());
    let whole = h.download(&loc, &tok).await.bytes().await.unwrap();
    assert_eq!(got, whole.to_vec());
    assert!(wav_seconds(&got) > 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_slow_download_is_paced() {
    let h = Harness::start().await;
    let (loc, tok) = finished_recording(
        &h,
        &with_faults(Faults {
            download_bytes_per_sec: Some(200_000),
            ..Faults::default()
        }),
    )
    .await;
    let t = Instant::now();
    let r = h
        .http
        .get(&loc)
        .bearer_auth(&tok)
        .header("range", "bytes=0-59999")
        .send()
        .await
        .unwrap();
    let n = r.bytes().await.unwrap().len();
    let took = t.elapsed();
    assert_eq!(n, 60_000);
    // A lower bound only: 60 kB at 200 kB/s cannot take less than 0.3 s.
    assert!(took >= Duration::from_millis(280), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_completion_twice() {
    let h = Harness::start().await;
    let call = h
        .call_with(&with_faults(Faults {
            duplicate_completion: true,
            ..Faults::default()
        }))
        .await;
    let (op, _) = start_record(&h, &call, &record_body(5, 2, 5, "dup")).await;
    h.completion(&op).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.completions(&op).len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all = h.completions(&op);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], all[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_completion_before_the_post_response() {
    let h = Harness::start().await;
    let call = h
        .call_with(&with_faults(Faults {
            completion_before_response: true,
            ..Faults::default()
        }))
        .await;
    let (op, v) = start_record(&h, &call, &record_body(5, 2, 5, "early")).await;
    // The POST still says running, but the notification is already here.
    assert_eq!(v["status"], "running");
    assert_eq!(h.completions(&op).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_completion_interleaved_with_unrelated_notifications() {
    let h = Harness::start().await;
    let call = h
        .call_with(&with_faults(Faults {
            interleave_unrelated: true,
            ..Faults::default()
        }))
        .await;
    let (op, _) = start_record(&h, &call, &record_body(5, 2, 5, "mixed")).await;
    h.completion(&op).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let types = loop {
        let types: Vec<String> = h
            .all_entries()
            .iter()
            .map(|n| {
                n["resourceData"]["@odata.type"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        if types.iter().filter(|t| t.ends_with(".call")).count() >= 3 || Instant::now() > deadline {
            break types;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let prompt = types
        .iter()
        .position(|t| t.ends_with("playPromptOperation"))
        .expect("a playPrompt notification");
    let record = types
        .iter()
        .position(|t| t.ends_with("recordOperation"))
        .unwrap();
    assert!(prompt < record, "{types:?}");
    assert!(
        types[record + 1..].iter().any(|t| t.ends_with(".call")),
        "{types:?}"
    );
    assert_eq!(h.completions(&op).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_no_completion_notification() {
    let h = Harness::start().await;
    let silent = h
        .call_with(&with_faults(Faults {
            suppress_completion: true,
            ..Faults::default()
        }))
        .await;
    let normal = h.create_call(None).await;
    let (lost, _) = start_record(&h, &silent, &record_body(5, 2, 5, "lost")).await;
    let (op, _) = start_record(&h, &normal, &record_body(5, 2, 5, "ok")).await;
    h.completion(&op).await;
    assert!(h
        .completion_within(&lost, Duration::from_millis(500))
        .await
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_expired_download_token() {
    let h = Harness::start().await;
    let (loc, tok) = finished_recording(
        &h,
        &with_faults(Faults {
            expired_download_token: true,
            ..Faults::default()
        }),
    )
    .await;
    let r = h.download(&loc, &tok).await;
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("expired"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_range_disabled() {
    let h = Harness::start().await;
    let (loc, tok) = finished_recording(
        &h,
        &with_faults(Faults {
            range_disabled: true,
            ..Faults::default()
        }),
    )
    .await;
    let full = h.download(&loc, &tok).await.bytes().await.unwrap();
    let r = h
        .http
        .get(&loc)
        .bearer_auth(&tok)
        .header("range", "bytes=100-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["accept-ranges"], "none");
    assert_eq!(r.bytes().await.unwrap(), full);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_lying_completion_reason() {
    let h = Harness::start().await;
    let mut sc = scenario_file("stop_tone_hash");
    sc.faults = Some(Faults {
        lie_completion_reason: Some(voxcap_emulator::CompletionReason::MaxSilenceTimeout),
        ..Faults::default()
    });
    let call = h.call_with(&sc).await;
    let r = h
        .post(
            &format!("/beta/communications/calls/{call}/recordResponse"),
            &record_body(3, 2, 10, "lie"),
        )
        .await;
    let op = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let n = h.completion(&op).await;
    let d = &n["resourceData"];
    assert_eq!(d["completionReason"], "maxSilenceTimeout");
    assert_eq!(d["resultInfo"]["subcode"], 8509);
    // The audio still ends 80 ms into the # press that really stopped it.
    let wav = h
        .download(
            d["recordingLocation"].as_str().unwrap(),
            d["recordingAccessToken"].as_str().unwrap(),
        )
        .await
        .bytes()
        .await
        .unwrap();
    assert!((wav_seconds(&wav) - 2.18).abs() < 0.002);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_recording_discarded_after_the_call_ends() {
    // 1 real second per 100 simulated: discard_after_s 150 is 1.5 s here.
    let h = Harness::with(|c| c.time_scale = 0.01).await;
    let (loc, tok) = finished_recording(
        &h,
        &with_faults(Faults {
            discard_after_s: Some(150.0),
            ..Faults::default()
        }),
    )
    .await;
    assert_eq!(h.download(&loc, &tok).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let r = h.download(&loc, &tok).await;
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("discarded"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_call_cancels_a_running_recording_with_empty_location() {
    // Slow time so the recording is still running when the call is deleted.
    let h = Harness::with(|c| c.time_scale = 1.0).await;
    let call = h.create_call(None).await;
    let (op, _) = start_record(&h, &call, &record_body(5, 5, 5, "cancel")).await;
    let r = h
        .http
        .delete(h.url(&format!("/v1.0/communications/calls/{call}")))
        .bearer_auth(&h.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let n = h.completion(&op).await;
    let d = &n["resourceData"];
    assert_eq!(d["resultInfo"]["subcode"], 8508);
    assert_eq!(d["status"], "failed");
    assert_eq!(d["recordingLocation"], "");
    assert_eq!(d["recordingAccessToken"], "");
    let r = h
        .post(
            &format!("/v1.0/communications/calls/{call}/recordResponse"),
            &record_body(5, 5, 5, "x"),
        )
        .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_by_header_name_and_inline_json() {
    let h = Harness::start().await;
    let sc = scenario_file("silent_caller");
    let r = h
        .http
        .put(h.url("/_emulator/scenarios/quiet"))
        .json(&sc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let call = h.create_call(None).await;
    for spec in ["quiet".to_string(), serde_json::to_string(&sc).unwrap()] {
        let r = h
            .http
            .post(h.url(&format!("/beta/communications/calls/{call}/recordResponse")))
            .bearer_auth(&h.token)
            .header("x-voxcap-scenario", spec)
            .json(&record_body(2, 2, 5, "h"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let op = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let n = h.completion(&op).await;
        assert_eq!(
            n["resourceData"]["completionReason"],
            "initialSilenceTimeout"
        );
    }
    let r = h
        .http
        .post(h.url(&format!("/beta/communications/calls/{call}/recordResponse")))
        .bearer_auth(&h.token)
        .header("x-voxcap-scenario", "no-such-scenario")
        .json(&record_body(2, 2, 5, "h"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A scenario naming a missing WAV is refused at call creation, naming the file.
    let r = h
        .post(
            "/v1.0/communications/calls",
            &json!({"callbackUri": h.callback, "voxcapScenario": {"steps": [{"type": "speak", "wav": "missing/nope.wav"}]}}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("nope.wav"));
}

/// 100 concurrent calls, each with its own recordResponse: every operation
/// gets exactly one completion, paired by operation id and clientContext,
/// whose recording has the length that call's own script implies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_calls_pair_notifications_and_recordings() {
    let h = Arc::new(Harness::start().await);
    let mut tasks = Vec::new();
    for i in 0..100u32 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            // Each caller speaks for a different time, so a mixed-up pairing
            // shows up as a wrong recording length.
            let speak_ms = 300 + 10 * i;
            let sc = Scenario {
                seed: u64::from(i),
                steps: vec![
                    voxcap_emulator::Step::Voice {
                        ms: speak_ms,
                        pitch_hz: 100.0 + i as f32,
                        level_dbfs: -20.0,
                    },
                    voxcap_emulator::Step::Silence { ms: None },
                ],
                ..Scenario::default()
            };
            let call = h.call_with(&sc).await;
            let ctx = format!("ctx-{i}");
            let (op, _) = start_record(&h, &call, &record_body(5, 1, 10, &ctx)).await;
            (i, call, op, ctx, f64::from(speak_ms + 1000) / 1000.0)
        }));
    }
    let mut started = Vec::new();
    for t in tasks {
        started.push(t.await.unwrap());
    }
    for (i, call, op, ctx, want_s) in started {
        let n = h.completion(&op).await;
        assert_eq!(h.completions(&op).len(), 1, "call {i}");
        assert!(
            n["resourceUrl"].as_str().unwrap().contains(&norm(&call)),
            "call {i}"
        );
        let d = &n["resourceData"];
        assert_eq!(d["clientContext"], ctx.as_str(), "call {i}");
        assert_eq!(d["resultInfo"]["subcode"], 8509, "call {i}");
        let wav = h
            .download(
                d["recordingLocation"].as_str().unwrap(),
                d["recordingAccessToken"].as_str().unwrap(),
            )
            .await
            .bytes()
            .await
            .unwrap();
        let got = wav_seconds(&wav);
        assert!(
            (got - want_s).abs() < 0.001,
            "call {i}: {got} s, want {want_s} s"
        );
    }
}

/// The router works in-process, without a socket, through `tower::ServiceExt::oneshot`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_is_testable_in_process_with_oneshot() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    let state = voxcap_emulator::EmulatorState::new(EmulatorConfig::default()).unwrap();
    let c = state.config().clone();
    let app = voxcap_emulator::app(state);
    let r = app
        .clone()
        .oneshot(
            Request::get("/v1/.well-known/keys")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .clone()
        .oneshot(
            Request::post("/v1.0/communications/calls")
                .header("content-type", "application/json")
                .body(Body::from("{\"callbackUri\": \"http://127.0.0.1:9/cb\"}"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
        c.client_id, c.client_secret
    );
    let r = app
        .oneshot(
            Request::post(format!("/{}/oauth2/v2.0/token", c.tenant_id))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(form))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_completed_in_the_post_response_without_notification() {
    let h = Harness::start().await;
    let call = h
        .call_with(&with_faults(Faults {
            completed_in_response: true,
            ..Faults::default()
        }))
        .await;
    let (op, v) = start_record(&h, &call, &record_body(5, 2, 5, "inline")).await;
    assert_eq!(v["status"], "completed");
    assert_eq!(v["resultInfo"]["subcode"], 8509);
    let loc = v["recordingLocation"].as_str().unwrap();
    let tok = v["recordingAccessToken"].as_str().unwrap();
    assert_eq!(h.download(loc, tok).await.status(), 200);
    assert!(h
        .completion_within(&op, Duration::from_millis(500))
        .await
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_pascal_case_status() {
    let h = Harness::start().await;
    let call = h
        .call_with(&with_faults(Faults {
            pascal_case_status: true,
            ..Faults::default()
        }))
        .await;
    let (op, _) = start_record(&h, &call, &record_body(5, 2, 5, "case")).await;
    assert_eq!(
        h.completion(&op).await["resourceData"]["status"],
        "Completed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_other_notification_issuers_and_a_forged_one() {
    let h = Harness::start().await;
    for iss in [
        "https://api.botframework.com",
        "https://graph.microsoft.com/",
    ] {
        let call = h
            .call_with(&with_faults(Faults {
                notification_issuer: Some(iss.into()),
                ..Faults::default()
            }))
            .await;
        let (op, _) = start_record(&h, &call, &record_body(5, 2, 5, iss)).await;
        assert_eq!(
            h.completion(&op).await["resourceData"]["clientContext"],
            iss
        );
    }
    // The receiver really checks: a wrong issuer is refused with 401.
    let call = h
        .call_with(&with_faults(Faults {
            notification_issuer: Some("https://evil.example".into()),
            ..Faults::default()
        }))
        .await;
    start_record(&h, &call, &record_body(5, 2, 5, "forged")).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rejected = h.inbox.lock().unwrap().rejected.clone();
        if !rejected.is_empty() {
            assert!(rejected[0].contains("Issuer"), "{rejected:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "forged notification was not refused"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The emulator counts the failure only once the 401 is back, which can
    // be after the receiver logged the rejection (this raced under load).
    let stats = h
        .stats_when(|s| s["notificationsFailed"].as_u64() >= Some(1))
        .await;
    assert_eq!(stats["notificationsFailed"], 1);
}

/// After a key rotation, notifications carry a new kid that the bot's cached
/// JWKS lacks; refetching the JWKS finds it (and the old key stays listed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_changes_the_kid_and_a_refetch_verifies() {
    let h = Harness::start().await;
    let old = h.emu.state.key().kid().to_string();
    let r = h
        .http
        .post(h.url("/_emulator/rotate-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let new = r.json::<Value>().await.unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new, old);
    let jwks: Value = h
        .http
        .get(h.emu.state.jwks_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, vec![new.as_str(), old.as_str()]);
    let call = h.create_call(None).await;
    let (op, _) = start_record(&h, &call, &record_body(5, 2, 5, "rotated")).await;
    h.completion(&op).await;
    assert!(h.inbox.lock().unwrap().jwks_refreshes >= 1);
}

/// A port nothing listens on: bound, read, and released, so connecting to it
/// is refused.
fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/api/calls")
}

/// A webhook that keeps every body and answers `status`, for targets whose
/// hits (or lack of them) a test counts.
async fn plain_receiver(status: StatusCode) -> (String, Arc<Mutex<Vec<Value>>>) {
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

fn mentions_record_operation(batches: &[Value]) -> bool {
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
    async fn create_call_to(&self, callback: &str) -> String {
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

    async fn stats(&self) -> Value {
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
    async fn stats_when(&self, ready: impl Fn(&Value) -> bool) -> Value {
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

    async fn put_fallbacks(&self, body: &Value) -> reqwest::Response {
        self.http
            .put(self.url("/_emulator/fallbacks"))
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

/// A dead bot instance (connection refused) does not lose the completion:
/// the fallbacks are tried in order (a dead one, then the verifying
/// receiver) with the same JWT and body, and every such delivery counts as
/// rerouted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_takes_notifications_when_the_callback_refuses_connections() {
    let h = Harness::start().await;
    let fallbacks = json!([refused_url(), h.callback]);
    assert_eq!(h.put_fallbacks(&fallbacks).await.status(), 204);
    let got: Value = h
        .http
        .get(h.url("/_emulator/fallbacks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, fallbacks);
    assert_eq!(
        json!(h.emu.state.notification_fallbacks()),
        fallbacks,
        "the control route and the state agree"
    );
    let call = h.create_call_to(&refused_url()).await;
    let (op, _) = start_record(&h, &call, &record_body(5, 2, 5, "rerouted")).await;
    let n = h.completion(&op).await;
    assert_eq!(n["resourceData"]["clientContext"], "rerouted");
    let stats = h.stats().await;
    let rerouted = stats["notificationsRerouted"].as_u64().unwrap();
    assert!(rerouted >= 1, "{stats}");
    // Everything for this call went through the fallback, nothing failed.
    assert_eq!(stats["notificationsDelivered"].as_u64().unwrap(), rerouted);
    assert_eq!(stats["notificationsFailed"], 0, "{stats}");
}

/// Fallbacks are for unreachable callbacks only: a callback that answers,
/// even with an HTTP error, is never routed around.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallbacks_are_not_used_when_the_callback_answers() {
    let h = Harness::start().await;
    let (fallback, fallback_seen) = plain_receiver(StatusCode::ACCEPTED).await;
    h.emu
        .state
        .set_notification_fallbacks(vec![fallback])
        .expect("valid fallback");
    let call = h.create_call(None).await;
    let (op, _) = start_record(&h, &call, &record_body(5, 2, 5, "direct")).await;
    h.completion(&op).await;

    let (failing, failing_seen) = plain_receiver(StatusCode::INTERNAL_SERVER_ERROR).await;
    let call = h.create_call_to(&failing).await;
    start_record(&h, &call, &record_body(5, 2, 5, "answered 500")).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !mentions_record_operation(&failing_seen.lock().unwrap()) {
        assert!(
            Instant::now() < deadline,
            "the 500 callback never got the completion"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Every batch the 500 callback answered counts as failed, but only
    // once its answer is back, so wait for the counter to catch up.
    let answered = failing_seen.lock().unwrap().len() as u64;
    let stats = h
        .stats_when(|s| s["notificationsFailed"].as_u64() >= Some(answered))
        .await;
    assert!(fallback_seen.lock().unwrap().is_empty());
    assert_eq!(stats["notificationsRerouted"], 0, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_fallbacks_get_graph_400s_and_change_nothing() {
    let h = Harness::start().await;
    let good = json!(["https://bot.contoso.com/api/calls"]);
    assert_eq!(h.put_fallbacks(&good).await.status(), 204);
    let cases = [
        (json!(["ftp://bot.contoso.com/x"]), "scheme"),
        (json!(["not a url"]), "not an absolute URL"),
        (
            json!(["http://ok.example/", "mailto:bot@contoso.com"]),
            "mailto",
        ),
        (json!("http://ok.example/"), "JSON array"),
        (json!([1, 2]), "JSON array"),
    ];
    for (body, want) in cases {
        let r = h.put_fallbacks(&body).await;
        assert_eq!(r.status(), 400, "{body}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "BadRequest", "{body}");
        let msg = e["error"]["message"].as_str().unwrap();
        assert!(msg.contains(want), "{body}: {msg}");
    }
    let err = h
        .emu
        .state
        .set_notification_fallbacks(vec!["gopher://x".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("gopher://x"), "{err}");
    assert_eq!(json!(h.emu.state.notification_fallbacks()), good);
    // An empty list turns rerouting off again.
    assert_eq!(h.put_fallbacks(&json!([])).await.status(), 204);
    assert!(h.emu.state.notification_fallbacks().is_empty());
}

/// The counts a fleet test uses to prove "no recording downloaded twice":
/// only authorised downloads count, split by whether they start at byte 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_are_counted_per_recording_from_start_and_resumed() {
    let h = Harness::start().await;
    let call = h.create_call(None).await;
    let (op, _) = start_record(&h, &call, &record_body(5, 2, 5, "counted")).await;
    let n = h.completion(&op).await;
    let loc = n["resourceData"]["recordingLocation"].as_str().unwrap();
    let tok = n["resourceData"]["recordingAccessToken"].as_str().unwrap();
    let id = loc.rsplit('/').next().unwrap().to_string();
    assert_eq!(
        h.emu.state.recording_id_of(&op).as_deref(),
        Some(id.as_str())
    );
    assert_eq!(
        h.emu.state.recording_id_of(&norm(&op)).as_deref(),
        Some(id.as_str()),
        "operation ids are matched normalised"
    );
    let count = |h: &Harness| h.emu.state.download_counts().get(&id).copied();

    assert_eq!(h.http.get(loc).send().await.unwrap().status(), 401);
    assert_eq!(h.download(loc, &h.token).await.status(), 403);
    assert_eq!(count(&h), None, "refused downloads are not counted");

    let full = h.download(loc, tok).await.bytes().await.unwrap();
    assert_eq!(count(&h).map(|c| (c.from_start, c.resumed)), Some((1, 0)));
    h.download(loc, tok).await.bytes().await.unwrap();
    assert_eq!(count(&h).map(|c| (c.from_start, c.resumed)), Some((2, 0)));

    let ranged = |range: String| {
        h.http
            .get(loc)
            .bearer_auth(tok)
            .header("range", range)
            .send()
    };
    let r = ranged(format!("bytes={}-", full.len() / 2)).await.unwrap();
    assert_eq!(r.status(), 206);
    r.bytes().await.unwrap();
    assert_eq!(count(&h).map(|c| (c.from_start, c.resumed)), Some((2, 1)));
    let r = ranged("bytes=0-99".into()).await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(count(&h).map(|c| (c.from_start, c.resumed)), Some((3, 1)));
    // Nothing is served past the end, so nothing is counted.
    let r = ranged(format!("bytes={}-", full.len())).await.unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(count(&h).map(|c| (c.from_start, c.resumed)), Some((3, 1)));

    let stats = h.stats().await;
    assert_eq!(
        stats["downloads"][&id],
        json!({"fromStart": 3, "resumed": 1}),
        "{stats}"
    );
    assert_eq!(stats["downloads"].as_object().unwrap().len(), 1);
}
