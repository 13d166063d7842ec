//! The notification relay: a local receiver gets every accepted
//! notification in order per call, byte for byte, with the original
//! `Authorization` and `Content-Type`; a receiver failing twice still gets
//! it; a receiver that never answers stalls neither the webhook nor a
//! recording; refused notifications are not forwarded; `/metrics` counts
//! all of it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use voxcap_bot::config::NotificationAuthMode;
use voxcap_service::relay::{parse_target, RelayConfig};

use crate::harness::{stop_tone_caller, Harness};

/// What the receiver saw of one POST: body, Authorization, Content-Type.
type Seen = (Vec<u8>, Option<String>, Option<String>);

/// A receiver at `/bot` answering 500 to the first `failures` POSTs.
async fn receiver(failures: usize) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let keep = seen.clone();
    let app = axum::Router::new().route(
        "/bot",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let keep = keep.clone();
                async move {
                    let h = |n: &str| headers.get(n).map(|v| v.to_str().unwrap().to_string());
                    let mut seen = keep.lock().unwrap();
                    seen.push((body.to_vec(), h("authorization"), h("content-type")));
                    if seen.len() <= failures {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::ACCEPTED
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/bot", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// A listener that accepts connections and never answers.
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/bot", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    url
}

fn relay_config(url: &str) -> RelayConfig {
    let mut c = RelayConfig::new(parse_target(url).unwrap());
    c.first_backoff = Duration::from_millis(50);
    c
}

/// A notification batch about `call`, numbered `n` (its `clientContext`).
fn notification(call: &str, n: usize) -> Vec<u8> {
    // Odd spacing on purpose: a re-serialised body would lose it.
    format!(
        r##"{{"value":[ {{"changeType":"updated","resourceUrl":"/communications/calls/{call}/operations/op-{n}","resourceData":{{"@odata.type":"#microsoft.graph.playPromptOperation","status":"running","clientContext":"n{n}"}}}}]}}"##
    )
    .into_bytes()
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `name{labels}` from the metrics text, 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn every_notification_arrives_in_order_byte_for_byte_with_its_headers() {
    let (url, seen) = receiver(0).await;
    let h = Harness::start_relayed(relay_config(&url), |c| {
        c.auth = NotificationAuthMode::InsecureLoopbackOnly;
    })
    .await;
    let webhook = h.setup.bot.callback_url().to_string();
    let mut sent = Vec::new();
    for n in 0..30 {
        let call = if n % 3 == 0 { "call-a" } else { "call-b" };
        let body = notification(call, n);
        let auth = format!("Bearer token-{n}.abc.def");
        let r = h
            .http
            .post(&webhook)
            .header("authorization", &auth)
            .header("content-type", "application/json; charset=utf-8")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        sent.push((call, body, auth));
    }
    // Refused (not JSON): answered 400 and never forwarded.
    let r = h.http.post(&webhook).body("nope").send().await.unwrap();
    assert_eq!(r.status(), 400);
    wait_for("30 relayed notifications", || {
        seen.lock().unwrap().len() >= 30
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 30, "the refused one went out too");
    for call in ["call-a", "call-b"] {
        let want: Vec<Seen> = sent
            .iter()
            .filter(|(c, ..)| *c == call)
            .map(|(_, b, a)| {
                let ct = "application/json; charset=utf-8".to_string();
                (b.clone(), Some(a.clone()), Some(ct))
            })
            .collect();
        let got: Vec<Seen> = seen
            .iter()
            .filter(|(b, ..)| String::from_utf8_lossy(b).contains(call))
            .cloned()
            .collect();
        assert_eq!(got, want, "{call}");
    }
    let (_, text) = h.get_text("/metrics").await;
    let delivered = r#"voxcap_relay_forwards_total{outcome="delivered"}"#;
    assert_eq!(sample(&text, delivered), 30.0, "{text}");
    let accepted = r#"voxcap_notifications_total{outcome="accepted",reason=""}"#;
    assert_eq!(sample(&text, accepted), 30.0, "{text}");
    let refused = r#"voxcap_notifications_total{outcome="rejected",reason="not_notifications"}"#;
    assert_eq!(sample(&text, refused), 1.0, "{text}");
    h.stop().await;
}

#[tokio::test]
async fn a_receiver_failing_twice_still_gets_the_notification() {
    let (url, seen) = receiver(2).await;
    let h = Harness::start_relayed(relay_config(&url), |c| {
        c.auth = NotificationAuthMode::InsecureLoopbackOnly;
    })
    .await;
    let body = notification("call-f", 1);
    let r = h
        .http
        .post(h.setup.bot.callback_url())
        .header("authorization", "Bearer t")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    wait_for("three attempts", || seen.lock().unwrap().len() >= 3).await;
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|(b, ..)| *b == body),
        "every attempt the same bytes"
    );
    let (_, text) = h.get_text("/metrics").await;
    let delivered = r#"voxcap_relay_forwards_total{outcome="delivered"}"#;
    assert_eq!(sample(&text, delivered), 1.0, "{text}");
    assert_eq!(
        sample(&text, "voxcap_relay_attempt_failures_total"),
        2.0,
        "{text}"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_dead_receiver_stalls_neither_the_webhook_nor_the_recording() {
    let mut config = relay_config(&black_hole().await);
    config.attempt_timeout = Duration::from_secs(60);
    let h = Harness::start_relayed(config, |_| {}).await;
    let call = h
        .setup
        .create_call(Some(&stop_tone_caller()))
        .await
        .unwrap();
    let started = Instant::now();
    let posted = h
        .req(Method::POST, &format!("/v1/calls/{call}/recordResponse"))
        .json(&json!({"stopTones": ["#"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    let id = posted.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = h.wait_final(&id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let deliveries = h.setup.emulator.deliveries();
    assert!(!deliveries.is_empty());
    assert!(
        deliveries.iter().all(|d| d.status == Some(202)),
        "{deliveries:?}"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_recording_through_the_relay_forwards_every_verified_notification() {
    let (url, seen) = receiver(0).await;
    let h = Harness::start_relayed(relay_config(&url), |_| {}).await;
    let call = h
        .setup
        .create_call(Some(&stop_tone_caller()))
        .await
        .unwrap();
    let posted = h
        .req(Method::POST, &format!("/v1/calls/{call}/recordResponse"))
        .json(&json!({"stopTones": ["#"]}))
        .send()
        .await
        .unwrap();
    let id = posted.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(h.wait_final(&id).await["status"], "completed");
    let accepted = || {
        let d = h.setup.emulator.deliveries();
        d.iter().filter(|d| d.status == Some(202)).count()
    };
    wait_for("every delivery relayed", || {
        seen.lock().unwrap().len() >= accepted()
    })
    .await;
    let relayed = seen.clone();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), accepted());
    assert!(seen
        .iter()
        .all(|(_, a, _)| a.as_deref().is_some_and(|a| a.starts_with("Bearer ey"))));
    let completion = seen
        .iter()
        .filter(|(b, ..)| String::from_utf8_lossy(b).contains("recordOperation"))
        .count();
    assert!(completion >= 1, "the completion was relayed");
    // A forged token: refused, counted, not relayed.
    let before = seen.len();
    let forged = h
        .setup
        .emulator
        .state
        .send_notification(
            h.setup.bot.callback_url(),
            &serde_json::from_slice(&notification(&call, 99)).unwrap(),
            voxcap_emulator::NotificationJwt::Forged,
        )
        .await;
    assert_eq!(forged, Some(401));
    let (_, text) = h.get_text("/metrics").await;
    let refused = r#"voxcap_notifications_total{outcome="rejected",reason="bad_token"}"#;
    assert_eq!(sample(&text, refused), 1.0, "{text}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        relayed.lock().unwrap().len(),
        before,
        "a refused one was relayed"
    );
    h.stop().await;
}
