//! A small in-test Graph stand-in: recordResponse / record /
//! updateRecordingStatus, a client-credentials token endpoint, an OpenID
//! configuration + JWKS, RS256-signed completion notifications, and chunked
//! recording downloads with scripted faults (throttling, dropped connections,
//! refused Range, expired tokens, early / duplicate / missing notifications).
//!
//! It is deliberately small: the full-fidelity fake is `voxcap-emulator`, and
//! the tests reach this mock only through a base URL so they can be pointed
//! at the emulator later.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The app ID notifications are addressed to.
pub const APP_ID: &str = "11111111-2222-3333-4444-555555555555";
/// `kid` of the signing key published in the JWKS.
pub const KID: &str = "voxcap-test-key-1";

/// RSA keys made when the tests start: a committed private key, even a test
/// one, trips secret scanners.
struct TestKeys {
    /// PKCS#1 DER of the key published in the JWKS.
    signing: Vec<u8>,
    /// PKCS#1 DER of a key nobody publishes.
    forged: Vec<u8>,
    /// The JWKS listing `signing` under [`KID`].
    jwks: String,
}

fn keys() -> &'static TestKeys {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    static KEYS: std::sync::OnceLock<TestKeys> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let make = || rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let (signing, forged) = (make(), make());
        let jwks = json!({"keys": [{
            "kty": "RSA", "use": "sig", "kid": KID, "alg": "RS256",
            "n": base64_lite::encode(&signing.n().to_bytes_be()),
            "e": base64_lite::encode(&signing.e().to_bytes_be()),
        }]});
        TestKeys {
            signing: signing.to_pkcs1_der().unwrap().as_bytes().to_vec(),
            forged: forged.to_pkcs1_der().unwrap().as_bytes().to_vec(),
            jwks: jwks.to_string(),
        }
    })
}

/// How the completion notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    /// After the POST response, once.
    Normal,
    /// Before the POST response is returned.
    Early,
    /// Twice, after the response.
    Duplicate,
    /// Never.
    Never,
    /// No notification: the POST response itself says completed.
    InResponse,
    /// A `failed` completion (initial silence timeout, 8510).
    Failed,
}

/// How the notification JWT is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jwt {
    /// Valid RS256 token from the published key.
    Valid,
    /// Signed with a key that is not published, same `kid`.
    Forged,
    /// `alg: none`, no signature.
    Unsigned,
    /// Expired an hour ago.
    Expired,
    /// No Authorization header.
    Missing,
    /// Valid signature, but addressed to another app.
    WrongAudience,
    /// Valid, issuer `https://api.botframework.com/` (trailing slash).
    IssuerWithSlash,
    /// Signed with the forged key under a `kid` the JWKS does not list.
    UnknownKid,
}

/// Per-call behaviour.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Answer the first `n` record POSTs with this status + `Retry-After`.
    pub throttle: Option<(u16, u32, u64)>,
    /// Answer every record POST with this status and a Graph error body.
    pub error_status: Option<u16>,
    /// Notification mode.
    pub notify: Notify,
    /// Delay before a normal notification.
    pub notify_delay: Duration,
    /// JWT mode.
    pub jwt: Jwt,
    /// Cut the download after this many bytes of a response ...
    pub drop_after: usize,
    /// ... this many times.
    pub drops: u32,
    /// Honour `Range`.
    pub range_supported: bool,
    /// The recording token is expired: downloads get 401.
    pub token_expired: bool,
    /// The recording.
    pub audio: Arc<Vec<u8>>,
}

impl Scenario {
    /// A well-behaved call whose recording is `audio`.
    pub fn normal(audio: Arc<Vec<u8>>) -> Self {
        Scenario {
            throttle: None,
            error_status: None,
            notify: Notify::Normal,
            notify_delay: Duration::from_millis(20),
            jwt: Jwt::Valid,
            drop_after: 0,
            drops: 0,
            range_supported: true,
            token_expired: false,
            audio,
        }
    }
}

/// One request the mock saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `POST /v1.0/...` etc.
    pub what: String,
    /// The Authorization header, verbatim.
    pub authorization: Option<String>,
    /// The Range header.
    pub range: Option<String>,
    /// The JSON body, if any.
    pub body: Option<serde_json::Value>,
}

struct Recording {
    audio: Arc<Vec<u8>>,
    token: String,
    drops_left: u32,
    drop_after: usize,
    range_supported: bool,
    token_expired: bool,
}

/// Shared mock state.
pub struct MockState {
    base: Mutex<String>,
    callback: Mutex<Option<String>>,
    scenarios: Mutex<HashMap<String, Scenario>>,
    throttled: Mutex<HashMap<String, u32>>,
    recordings: Mutex<HashMap<String, Recording>>,
    /// Every request.
    pub seen: Mutex<Vec<Seen>>,
    /// Webhook answers to our notifications.
    pub webhook_statuses: Mutex<Vec<u16>>,
    /// Every secret the mock handed out or signed (tokens, JWTs).
    pub issued_secrets: Mutex<Vec<String>>,
    /// Token endpoint hits.
    pub token_requests: AtomicUsize,
    /// Answer the next record POST with 401 (a revoked app token).
    pub reject_app_token_once: std::sync::atomic::AtomicBool,
    /// `expires_in` of issued app tokens, seconds.
    pub token_lifetime: std::sync::atomic::AtomicU64,
    /// When each notification POST started (for latency measurements).
    pub notified_at: Mutex<Vec<std::time::Instant>>,
    http: reqwest::Client,
}

/// A running mock.
pub struct MockGraph {
    /// `http://127.0.0.1:PORT`.
    pub root: String,
    /// Shared state.
    pub state: Arc<MockState>,
}

fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| char::from_digit(rand::random_range(0..16u32), 16).unwrap())
        .collect()
}

fn guid() -> String {
    let h = random_hex(32);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl MockGraph {
    /// Starts the mock on 127.0.0.1:0.
    pub async fn start() -> MockGraph {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let root = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(MockState {
            base: Mutex::new(root.clone()),
            callback: Mutex::new(None),
            scenarios: Mutex::new(HashMap::new()),
            throttled: Mutex::new(HashMap::new()),
            recordings: Mutex::new(HashMap::new()),
            seen: Mutex::new(Vec::new()),
            webhook_statuses: Mutex::new(Vec::new()),
            issued_secrets: Mutex::new(Vec::new()),
            token_requests: AtomicUsize::new(0),
            token_lifetime: std::sync::atomic::AtomicU64::new(3599),
            reject_app_token_once: std::sync::atomic::AtomicBool::new(false),
            notified_at: Mutex::new(Vec::new()),
            http: reqwest::Client::new(),
        });
        let app = Router::new()
            .route(
                "/v1.0/communications/calls/{call}/recordResponse",
                post(record_v1),
            )
            .route(
                "/beta/communications/calls/{call}/recordResponse",
                post(record_beta),
            )
            .route("/beta/app/calls/{call}/record", post(record_legacy))
            .route(
                "/v1.0/communications/calls/{call}/updateRecordingStatus",
                post(update_status),
            )
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/openid/config", get(openid_config))
            .route("/openid/jwks", get(jwks))
            .route("/recordings/{rec}", get(download))
            .with_state(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        MockGraph { root, state }
    }

    /// Graph v1.0 base URL.
    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.root)
    }

    /// OpenID configuration URL.
    pub fn openid_url(&self) -> String {
        format!("{}/openid/config", self.root)
    }

    /// Where notifications go.
    pub fn set_callback(&self, url: &str) {
        *self.state.callback.lock().unwrap() = Some(url.to_string());
    }

    /// Behaviour for `call_id`.
    pub fn script(&self, call_id: &str, s: Scenario) {
        self.state
            .scenarios
            .lock()
            .unwrap()
            .insert(call_id.to_string(), s);
    }

    /// Requests whose description starts with `prefix`.
    pub fn seen(&self, prefix: &str) -> Vec<Seen> {
        self.state
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.what.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Posts a raw notification body with a JWT made per `mode`.
    pub async fn post_raw_notification(&self, body: serde_json::Value, mode: Jwt) -> u16 {
        self.state.notify(body, mode).await
    }
}

impl MockState {
    fn log(&self, what: String, headers: &HeaderMap, body: Option<serde_json::Value>) {
        let h = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        self.seen.lock().unwrap().push(Seen {
            what,
            authorization: h("authorization"),
            range: h("range"),
            body,
        });
    }

    fn jwt(&self, mode: Jwt) -> Option<String> {
        let t = now();
        let (key, iat) = match mode {
            Jwt::Missing => return None,
            Jwt::Valid | Jwt::WrongAudience | Jwt::IssuerWithSlash => (&keys().signing, t),
            Jwt::Forged | Jwt::UnknownKid => (&keys().forged, t),
            Jwt::Expired => (&keys().signing, t - 7200),
            Jwt::Unsigned => {
                use base64_lite::encode;
                let h = encode(br#"{"alg":"none","typ":"JWT"}"#);
                let claims = json!({"iss":"https://graph.microsoft.com","aud":APP_ID,"exp":t+600,"nbf":t-60});
                let p = encode(claims.to_string().as_bytes());
                let tok = format!("{h}.{p}.");
                self.issued_secrets.lock().unwrap().push(tok.clone());
                return Some(tok);
            }
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(
            if mode == Jwt::UnknownKid {
                "rotated-key-2"
            } else {
                KID
            }
            .to_string(),
        );
        let claims = json!({
            "iss": if mode == Jwt::IssuerWithSlash { "https://api.botframework.com/" } else { "https://graph.microsoft.com" },
            "aud": if mode == Jwt::WrongAudience { "some-other-app" } else { APP_ID },
            "iat": iat,
            "nbf": iat - 60,
            "exp": iat + 3600,
            "tid": "tenant-1234",
        });
        let tok = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_der(key)).unwrap();
        self.issued_secrets.lock().unwrap().push(tok.clone());
        Some(tok)
    }

    async fn notify(&self, body: serde_json::Value, mode: Jwt) -> u16 {
        let Some(url) = self.callback.lock().unwrap().clone() else {
            return 0;
        };
        let mut req = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(tok) = self.jwt(mode) {
            req = req.bearer_auth(tok);
        }
        self.notified_at
            .lock()
            .unwrap()
            .push(std::time::Instant::now());
        let status = match req.send().await {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        };
        self.webhook_statuses.lock().unwrap().push(status);
        status
    }
}

/// Base64url without padding, enough for an unsigned JWT.
mod base64_lite {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    pub fn encode(data: &[u8]) -> String {
        let mut out = String::new();
        for c in data.chunks(3) {
            let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=c.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }
}

fn graph_error(status: u16, code: &str, retry_after: Option<u64>) -> Response {
    let body = json!({"error": {"code": code, "message": format!("mock {code}"),
        "innerError": {"request-id": "mock-request-id-42", "date": "2024-01-01T00:00:00",
        "client-request-id": "mock-client-request-id"}}});
    let mut r = (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    if let Some(s) = retry_after {
        r.headers_mut()
            .insert("retry-after", s.to_string().parse().unwrap());
    }
    r
}

#[derive(Clone, Copy, PartialEq)]
enum Flavor {
    V1,
    Beta,
    Legacy,
}

async fn record_v1(s: State<Arc<MockState>>, p: Path<String>, h: HeaderMap, b: Bytes) -> Response {
    record(s, p, h, b, Flavor::V1).await
}
async fn record_beta(
    s: State<Arc<MockState>>,
    p: Path<String>,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    record(s, p, h, b, Flavor::Beta).await
}
async fn record_legacy(
    s: State<Arc<MockState>>,
    p: Path<String>,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    record(s, p, h, b, Flavor::Legacy).await
}

async fn record(
    State(st): State<Arc<MockState>>,
    Path(call): Path<String>,
    headers: HeaderMap,
    body: Bytes,
    flavor: Flavor,
) -> Response {
    let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    st.log(format!("POST record {call}"), &headers, json.clone());
    let Some(sc) = st.scenarios.lock().unwrap().get(&call).cloned() else {
        return graph_error(404, "CallNotFound", None);
    };
    if st.reject_app_token_once.swap(false, Ordering::SeqCst) {
        return graph_error(401, "InvalidAuthenticationToken", None);
    }
    if let Some((status, n, after)) = sc.throttle {
        let mut t = st.throttled.lock().unwrap();
        let c = t.entry(call.clone()).or_insert(0);
        if *c < n {
            *c += 1;
            return graph_error(status, "TooManyRequests", Some(after));
        }
    }
    if let Some(status) = sc.error_status {
        return graph_error(status, "BadRequest", None);
    }
    let op_id = guid();
    let rec_id = random_hex(16);
    let rec_token = format!("rec-token-{}", random_hex(24));
    st.issued_secrets.lock().unwrap().push(rec_token.clone());
    st.recordings.lock().unwrap().insert(
        rec_id.clone(),
        Recording {
            audio: sc.audio.clone(),
            token: rec_token.clone(),
            drops_left: sc.drops,
            drop_after: sc.drop_after,
            range_supported: sc.range_supported,
            token_expired: sc.token_expired,
        },
    );
    let base = st.base.lock().unwrap().clone();
    let location = format!("{base}/recordings/{rec_id}");
    let ctx = json
        .as_ref()
        .and_then(|j| j.get("clientContext").cloned())
        .unwrap_or(serde_json::Value::Null);
    // Upper-case, dash-less IDs in the notification, as Graph does.
    let squash = |s: &str| s.replace('-', "").to_uppercase();
    let resource = if flavor == Flavor::Legacy {
        format!("/app/calls/{}/operations/{}", squash(&call), squash(&op_id))
    } else {
        format!(
            "/communications/calls/{}/operations/{}",
            squash(&call),
            squash(&op_id)
        )
    };
    let failed = sc.notify == Notify::Failed;
    let mut data = json!({
        "@odata.type": "#microsoft.graph.recordOperation",
        "@odata.id": resource,
        "id": op_id,
        "clientContext": ctx,
        "status": if failed { "failed" } else { "completed" },
        "resultInfo": if failed {
            json!({"code": 400, "subcode": 8510, "message": "Initial silence timeout."})
        } else {
            json!({"code": 200, "subcode": 8514, "message": "Action completed, stop tone detected."})
        },
    });
    if !failed {
        let (loc_field, tok_field) = if flavor == Flavor::Legacy {
            ("recordResourceLocation", "recordResourceAccessToken")
        } else {
            ("recordingLocation", "recordingAccessToken")
        };
        data[loc_field] = json!(location);
        data[tok_field] = json!(rec_token);
    }
    if flavor != Flavor::V1 {
        data["completionReason"] = json!(if failed {
            "initialSilenceTimeout"
        } else {
            "stopToneDetected"
        });
    }
    let mut note_item = json!({
        "@odata.type": "#microsoft.graph.commsNotification",
        "changeType": "deleted",
        "resourceData": data,
    });
    if flavor == Flavor::Legacy {
        note_item["resource"] = json!(resource);
    } else {
        note_item["resourceUrl"] = json!(resource);
    }
    let note = json!({"@odata.type": "#microsoft.graph.commsNotifications", "value": [note_item]});
    match sc.notify {
        Notify::Early => {
            st.notify(note, sc.jwt).await;
        }
        Notify::Normal | Notify::Duplicate | Notify::Failed => {
            let st2 = st.clone();
            let times = if sc.notify == Notify::Duplicate { 2 } else { 1 };
            tokio::spawn(async move {
                tokio::time::sleep(sc.notify_delay).await;
                for _ in 0..times {
                    st2.notify(note.clone(), sc.jwt).await;
                }
            });
        }
        Notify::Never | Notify::InResponse => {}
    }
    let op_location = format!("{base}/v1.0/communications/calls/{call}/operations/{op_id}");
    if flavor == Flavor::Legacy {
        return (StatusCode::ACCEPTED, [("location", op_location)]).into_response();
    }
    let body = if sc.notify == Notify::InResponse {
        data
    } else {
        let mut b = json!({
            "@odata.type": "#microsoft.graph.recordOperation",
            "id": op_id, "status": "running", "resultInfo": null,
            "recordingLocation": null, "clientContext": ctx,
        });
        if flavor == Flavor::Beta {
            b["completionReason"] = serde_json::Value::Null;
        }
        b
    };
    (
        StatusCode::OK,
        [("location", op_location)],
        axum::Json(body),
    )
        .into_response()
}

async fn update_status(
    State(st): State<Arc<MockState>>,
    Path(call): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    st.log(
        format!("POST updateRecordingStatus {call}"),
        &headers,
        json.clone(),
    );
    let ctx = json
        .as_ref()
        .and_then(|j| j.get("clientContext").cloned())
        .unwrap_or_default();
    axum::Json(json!({
        "@odata.type": "#microsoft.graph.updateRecordingStatusOperation",
        "clientContext": ctx, "id": guid(), "resultInfo": null, "status": "completed"
    }))
    .into_response()
}

async fn token(State(st): State<Arc<MockState>>, headers: HeaderMap, body: Bytes) -> Response {
    st.log("POST token".into(), &headers, None);
    st.token_requests.fetch_add(1, Ordering::SeqCst);
    let form = String::from_utf8_lossy(&body).to_string();
    if !form.contains("grant_type=client_credentials")
        || !form.contains("client_secret=mock%2Fclient%2Bsecret%3D")
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client", "error_description": "bad secret"})),
        )
            .into_response();
    }
    let tok = format!("app-token-{}", random_hex(24));
    st.issued_secrets.lock().unwrap().push(tok.clone());
    let lifetime = st.token_lifetime.load(Ordering::SeqCst);
    // Real endpoints differ: send a number for long lifetimes, a string for short.
    let expires_in = if lifetime > 60 {
        json!(lifetime)
    } else {
        json!(lifetime.to_string())
    };
    axum::Json(json!({"token_type": "Bearer", "expires_in": expires_in, "access_token": tok}))
        .into_response()
}

async fn openid_config(State(st): State<Arc<MockState>>) -> Response {
    let base = st.base.lock().unwrap().clone();
    axum::Json(json!({"issuer": "https://api.botframework.com", "jwks_uri": format!("{base}/openid/jwks")}))
        .into_response()
}

async fn jwks(State(st): State<Arc<MockState>>, headers: HeaderMap) -> Response {
    st.log("GET jwks".into(), &headers, None);
    ([("content-type", "application/json")], keys().jwks.clone()).into_response()
}

async fn download(
    State(st): State<Arc<MockState>>,
    Path(rec): Path<String>,
    headers: HeaderMap,
) -> Response {
    st.log(format!("GET recording {rec}"), &headers, None);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (audio, start, drop_at, status) = {
        let mut recs = st.recordings.lock().unwrap();
        let Some(r) = recs.get_mut(&rec) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        if r.token_expired || auth != format!("Bearer {}", r.token) {
            return graph_error(401, "InvalidAuthenticationToken", None);
        }
        let range_start = headers
            .get("range")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("bytes="))
            .and_then(|v| v.strip_suffix('-'))
            .and_then(|v| v.parse::<usize>().ok());
        let (start, status) = match range_start {
            Some(s) if r.range_supported && s < r.audio.len() => (s, StatusCode::PARTIAL_CONTENT),
            _ => (0, StatusCode::OK),
        };
        let drop_at = if r.drops_left > 0 {
            r.drops_left -= 1;
            Some(r.drop_after)
        } else {
            None
        };
        (r.audio.clone(), start, drop_at, status)
    };
    let len = audio.len();
    let end = drop_at.map_or(len, |d| (start + d).min(len));
    let chunks: Vec<Result<Bytes, std::io::Error>> = audio[start..end]
        .chunks(8192)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    // Let the bytes before the cut reach the client, then break the stream.
    let cut = futures_util::stream::iter(drop_at).then(|_| async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        Err::<Bytes, _>(std::io::Error::other("mock connection drop"))
    });
    let stream = futures_util::stream::iter(chunks).chain(cut);
    let mut resp = Response::builder()
        .status(status)
        .header("content-type", "application/octet-stream");
    if status == StatusCode::PARTIAL_CONTENT {
        resp = resp.header("content-range", format!("bytes {start}-{}/{len}", len - 1));
    }
    resp.body(Body::from_stream(stream)).unwrap()
}
