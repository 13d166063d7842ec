//! Signed callbacks: a receiver that answers 500 twice, then 200, still
//! gets the final resource; every attempt carries the same delivery id, its
//! own timestamp and a valid signature over both; without a secret a
//! `callbackUrl` is refused.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde_json::{json, Value};
use voxcap_capture::Secret;
use voxcap_service::callbacks::{self, CallbackConfig};

use crate::harness::{stop_tone_caller, Harness};

const SECRET: &str = "callback-secret-0123456789";

/// One attempt as the receiver saw it: delivery id, timestamp, signature,
/// body, arrival.
type Attempt = (String, u64, String, Vec<u8>, SystemTime);

/// A receiver failing the first `failures` attempts with 500.
async fn flaky_receiver(failures: usize) -> (String, Arc<Mutex<Vec<Attempt>>>) {
    let seen: Arc<Mutex<Vec<Attempt>>> = Arc::default();
    let keep = seen.clone();
    let app = axum::Router::new().route(
        "/done",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let keep = keep.clone();
                async move {
                    let h = |n: &str| headers.get(n).map(|v| v.to_str().unwrap().to_string());
                    let attempt = (
                        h(callbacks::DELIVERY_HEADER).unwrap_or_default(),
                        h(callbacks::TIMESTAMP_HEADER)
                            .and_then(|t| t.parse().ok())
                            .unwrap_or(0),
                        h(callbacks::SIGNATURE_HEADER).unwrap_or_default(),
                        body.to_vec(),
                        SystemTime::now(),
                    );
                    let mut seen = keep.lock().unwrap();
                    seen.push(attempt);
                    if seen.len() <= failures {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::OK
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/done", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test]
async fn a_callback_survives_two_failures_signed_with_one_delivery_id() {
    let mut config = CallbackConfig::new(Secret::new(SECRET));
    config.first_backoff = Duration::from_millis(50);
    let h = Harness::start_with_callbacks(Some(config)).await;
    let (url, seen) = flaky_receiver(2).await;
    let call = h
        .setup
        .create_call(Some(&stop_tone_caller()))
        .await
        .unwrap();
    let posted = h
        .req(Method::POST, &format!("/v1/calls/{call}/recordResponse"))
        .json(&json!({"stopTones": ["#"], "voxcap": {"callbackUrl": url}}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    let id = posted.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while seen.lock().unwrap().len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "callback attempts: {}",
            seen.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let attempts = seen.lock().unwrap().clone();
    assert_eq!(attempts.len(), 3, "no attempt after the 200");
    let delivery = &attempts[0].0;
    assert_eq!(delivery.len(), 32);
    for (d, ts, sig, body, _) in &attempts {
        assert_eq!(d, delivery, "one delivery id for every attempt");
        assert!(
            callbacks::verify(SECRET.as_bytes(), *ts, body, sig),
            "{sig}"
        );
        assert!(!callbacks::verify(b"not-the-secret-0123", *ts, body, sig));
        let resource: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(
            (resource["id"].as_str(), resource["status"].as_str()),
            (Some(id.as_str()), Some("completed"))
        );
    }
    let text = h
        .req(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("voxcap_callback_attempts_total{outcome=\"failed\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("voxcap_callback_attempts_total{outcome=\"delivered\"} 1"),
        "{text}"
    );
    h.stop().await;
}

#[tokio::test]
async fn without_a_secret_a_callback_url_is_refused() {
    let h = Harness::start().await;
    let r = h
        .req(Method::POST, "/v1/calls/call-1/recordResponse")
        .json(&json!({"voxcap": {"callbackUrl": "http://127.0.0.1:9/done"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("VOXCAP_CALLBACK_SECRET"),
        "{p}"
    );
    h.stop().await;
}

/// From the completion notification leaving the emulator to the callback
/// reaching the receiver, five recordings one after another (printed with
/// `--nocapture`; asserted only to be under 5 s).
#[tokio::test]
async fn callback_latency_after_the_completion() {
    let mut config = CallbackConfig::new(Secret::new(SECRET));
    config.first_backoff = Duration::from_millis(50);
    let h = Harness::start_with_callbacks(Some(config)).await;
    let (url, seen) = flaky_receiver(0).await;
    let mut figures = Vec::new();
    for i in 0..5 {
        let call = h
            .setup
            .create_call(Some(&stop_tone_caller()))
            .await
            .unwrap();
        let posted = h
            .req(Method::POST, &format!("/v1/calls/{call}/recordResponse"))
            .json(&json!({"stopTones": ["#"], "voxcap": {"callbackUrl": url}}))
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 202);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while seen.lock().unwrap().len() <= i {
            assert!(std::time::Instant::now() < deadline, "no callback {i}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let arrived = seen.lock().unwrap()[i].4;
        let completed = h
            .setup
            .emulator
            .state
            .deliveries()
            .iter()
            .filter(|d| d.has_record_operation())
            .map(|d| d.at)
            .max()
            .unwrap();
        let ms = arrived.duration_since(completed).unwrap().as_secs_f64() * 1000.0;
        assert!(ms < 5000.0, "{ms} ms");
        figures.push(format!("{ms:.1}"));
    }
    println!(
        "completion sent -> callback received: {} ms",
        figures.join(", ")
    );
    h.stop().await;
}
