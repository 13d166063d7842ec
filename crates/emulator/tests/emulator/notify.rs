//! Notifications and concurrency: a hundred concurrent calls, the app in
//! process, and the notification fallbacks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{json, Value};
use voxcap_emulator::{EmulatorConfig, Scenario};

use crate::harness::*;

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
