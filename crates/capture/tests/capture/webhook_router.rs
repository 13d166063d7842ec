//! The webhook router driven in process with `tower::ServiceExt::oneshot`:
//! no socket between the test and the router. The JWT verifier fetches its
//! keys from the emulator (the one loopback dependency), whose signer makes
//! the genuine, forged and unsigned tokens.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;
use voxcap_capture::webhook::{self, JwtConfig, NotificationAuth, WebhookState, MAX_BODY_BYTES};
use voxcap_capture::{
    GraphClient, OperationTracker, RecordOptions, RecordOutcome, Secret, TrackerConfig,
};
use voxcap_emulator::server::{NOTIFICATION_ISSUER, TEST_TENANT_ID};
use voxcap_emulator::signing::{self, EmulatorKey, NotificationClaims};

use crate::harness::*;

/// The emulator, a tracker against it, and the webhook router over the
/// tracker's sink, verifying JWTs against the emulator's keys.
async fn router() -> (Graph, OperationTracker, Router) {
    let graph = Graph::start().await;
    let client = GraphClient::builder()
        .base_url(graph.graph_url())
        .static_token(Secret::new(graph.app_token().await))
        .build()
        .unwrap();
    let tracker = OperationTracker::new(client.clone(), TrackerConfig::default());
    let mut cfg = JwtConfig::new(APP_ID);
    cfg.openid_config_url = graph.openid_url();
    let auth = NotificationAuth::jwt(client.http().clone(), cfg);
    let app = webhook::router(WebhookState::new(auth, tracker.notification_sink()));
    (graph, tracker, app)
}

fn claims() -> NotificationClaims {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    NotificationClaims {
        aud: APP_ID.into(),
        iss: NOTIFICATION_ISSUER.into(),
        tid: TEST_TENANT_ID.into(),
        iat: now,
        nbf: now - 60,
        exp: now + 600,
        appid: "00000003-0000-0000-c000-000000000000".into(),
    }
}

fn post(jwt: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut r = Request::post(webhook::DEFAULT_CALLBACK_PATH)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = jwt {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    r.body(body.into()).unwrap()
}

async fn status(app: &Router, req: Request<Body>) -> StatusCode {
    app.clone().oneshot(req).await.unwrap().status()
}

fn unrelated() -> Value {
    json!({"value": [
        {"changeType": "updated", "resourceUrl": "/communications/calls/abc",
         "resourceData": {"@odata.type": "#microsoft.graph.call", "state": "established"}},
        {"changeType": "deleted", "resourceUrl": "/communications/calls/abc/operations/def",
         "resourceData": {"@odata.type": "#microsoft.graph.playPromptOperation", "status": "completed"}}
    ]})
}

#[tokio::test]
async fn the_router_answers_by_signature_body_and_size() {
    let (graph, _tracker, app) = router().await;
    let key = graph.emu.state.key();
    let genuine = key.sign(&claims());
    let forged = EmulatorKey::unpublished()
        .unwrap()
        .sign_with_kid(&claims(), key.kid());
    let unsigned = signing::unsigned(&claims());
    let mut foreign = claims();
    foreign.aud = "another-app".into();
    let other_app = key.sign(&foreign);
    let body = unrelated().to_string();
    let big = format!(
        "{{\"value\": [], \"pad\": \"{}\"}}",
        "x".repeat(MAX_BODY_BYTES)
    );
    let cases: [(&str, Option<&str>, String, StatusCode); 8] = [
        (
            "genuine",
            Some(&genuine),
            body.clone(),
            StatusCode::ACCEPTED,
        ),
        (
            "unsigned",
            Some(&unsigned),
            body.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "forged",
            Some(&forged),
            body.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "another audience",
            Some(&other_app),
            body.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        ("no token", None, body.clone(), StatusCode::UNAUTHORIZED),
        (
            "not JSON",
            Some(&genuine),
            "{not json".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "JSON of another shape",
            Some(&genuine),
            json!({"value": "nope"}).to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "body too large",
            Some(&genuine),
            big,
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (name, jwt, body, want) in cases {
        assert_eq!(status(&app, post(jwt, body)).await, want, "{name}");
    }
    // A refusal says how to authenticate.
    let r = app.clone().oneshot(post(None, "{}")).await.unwrap();
    assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
    // Only the router's path is served.
    let elsewhere = Request::post("/elsewhere")
        .header(header::AUTHORIZATION, format!("Bearer {genuine}"))
        .body(Body::from(unrelated().to_string()))
        .unwrap();
    assert_eq!(status(&app, elsewhere).await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn other_notifications_are_ignored_and_a_completion_resolves_its_operation() {
    let (graph, tracker, app) = router().await;
    let jwt = graph.emu.state.key().sign(&claims());
    // The emulator records but never notifies: the test posts the completion.
    let sc = with_faults(speaker(0.5, 30), |f| f.suppress_completion = true);
    let call = graph.call("http://127.0.0.1:9/unused", &sc).await;
    let req = voxcap_capture::wire::RecordResponseRequest::default();
    let handle = tracker
        .record(&call, &req, &RecordOptions::default())
        .await
        .unwrap();
    let op = handle.operation_id().to_string();
    // Unrelated notifications, and a completion of an unknown operation,
    // are accepted and change nothing.
    assert_eq!(
        status(&app, post(Some(&jwt), unrelated().to_string())).await,
        StatusCode::ACCEPTED
    );
    let stranger = completion(&call, "00000000-0000-0000-0000-0000000000ee");
    assert_eq!(
        status(&app, post(Some(&jwt), stranger.to_string())).await,
        StatusCode::ACCEPTED
    );
    let mut outcome = Box::pin(handle.completed());
    let early = tokio::time::timeout(Duration::from_millis(200), &mut outcome).await;
    assert!(
        early.is_err(),
        "resolved by another operation's notification: {early:?}"
    );
    let mine = completion(&call, &op);
    assert_eq!(
        status(&app, post(Some(&jwt), mine.to_string())).await,
        StatusCode::ACCEPTED
    );
    match outcome.await {
        RecordOutcome::Completed(c) => assert_eq!(
            c.operation_id.replace('-', "").to_uppercase(),
            op.replace('-', "").to_uppercase()
        ),
        other => panic!("expected completed, got {other:?}"),
    }
}

/// A completed recordOperation notification for `op` of `call`.
fn completion(call: &str, op: &str) -> Value {
    json!({"value": [voxcap_testkit::graph::record_completion(call, op, json!({
        "resultInfo": {"@odata.type": "#microsoft.graph.resultInfo", "code": 200, "subcode": 8514, "message": "Action completed, stop tone detected."},
        "recordingLocation": "https://file.location/r1",
        "recordingAccessToken": "token-in-a-test",
    }))]})
}
