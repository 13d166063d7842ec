//! Fault injection: one table of every per-call fault with what it must be
//! seen to do, and the server-wide faults set through `/_emulator/faults`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use voxcap_emulator::server::default_scenario;
use voxcap_emulator::{CompletionReason, Faults, NotificationJwt, Scenario, Throttle};

use crate::harness::*;

/// What a fault must be seen to do.
#[derive(Debug)]
enum Expect {
    /// The first `count` recordResponse POSTs get `status` with this
    /// `Retry-After` and Graph error code; the next one works.
    Throttled {
        status: u16,
        count: u32,
        retry_after: &'static str,
        code: &'static str,
    },
    /// The first download breaks after exactly this many body bytes; a
    /// `Range` resume completes it byte for byte.
    DroppedAfter(usize),
    /// A 60 kB range download takes at least this long.
    PacedAtLeast(Duration),
    /// Exactly this many (identical) completion notifications arrive.
    Completions(usize),
    /// The completion is in before the POST answers, which still says running.
    CompletedBeforeResponse,
    /// A playPrompt notification before the completion, a call update after.
    Interleaved,
    /// The recording token is refused with 401 naming expiry.
    TokenExpired,
    /// `Range` is ignored: 200, `Accept-Ranges: none`, the whole file.
    RangeIgnored,
    /// The beta completion reports this reason and subcode, while the audio
    /// lasts as long as what really happened.
    Reported {
        reason: &'static str,
        subcode: u64,
        audio_s: f64,
    },
    /// The recording answers 404 "discarded" once this much time passed.
    DiscardedAfter(Duration),
    /// The POST answers with the finished operation; no notification follows.
    CompletedInResponse,
    /// The completion's `status` is spelled so.
    StatusSpelled(&'static str),
    /// The verifying receiver refuses the completion's JWT with an error
    /// containing this text, and the emulator sees the 401.
    Refused(&'static str),
    /// The recordResponse POST is answered with this status.
    RecordAnswered(u16),
}

struct Row {
    name: &'static str,
    faults: Faults,
    expect: Expect,
}

fn faults(set: impl FnOnce(&mut Faults)) -> Faults {
    let mut f = Faults::default();
    set(&mut f);
    f
}

fn rows() -> Vec<Row> {
    let row = |name, faults, expect| Row {
        name,
        faults,
        expect,
    };
    let jwt = |j| faults(|f| f.notification_jwt = Some(j));
    let issuer = |i: &str| faults(|f| f.notification_issuer = Some(i.into()));
    vec![
        row(
            "throttle 429 per call",
            faults(|f| {
                f.throttle = Some(Throttle {
                    status: 429,
                    count: 2,
                    retry_after_s: 3,
                })
            }),
            Expect::Throttled {
                status: 429,
                count: 2,
                retry_after: "3",
                code: "TooManyRequests",
            },
        ),
        row(
            "throttle 503 per call",
            faults(|f| {
                f.throttle = Some(Throttle {
                    status: 503,
                    count: 1,
                    retry_after_s: 7,
                })
            }),
            Expect::Throttled {
                status: 503,
                count: 1,
                retry_after: "7",
                code: "ServiceUnavailable",
            },
        ),
        row(
            "connection dropped",
            faults(|f| f.drop_after_bytes = Some(40_000)),
            Expect::DroppedAfter(40_000),
        ),
        row(
            "slow download",
            faults(|f| f.download_bytes_per_sec = Some(200_000)),
            // 60 kB at 200 kB/s cannot take less than 0.3 s.
            Expect::PacedAtLeast(Duration::from_millis(280)),
        ),
        row(
            "completion twice",
            faults(|f| f.duplicate_completion = true),
            Expect::Completions(2),
        ),
        row(
            "no completion",
            faults(|f| f.suppress_completion = true),
            Expect::Completions(0),
        ),
        row(
            "completion before the response",
            faults(|f| f.completion_before_response = true),
            Expect::CompletedBeforeResponse,
        ),
        row(
            "interleaved unrelated notifications",
            faults(|f| f.interleave_unrelated = true),
            Expect::Interleaved,
        ),
        row(
            "expired download token",
            faults(|f| f.expired_download_token = true),
            Expect::TokenExpired,
        ),
        row(
            "range disabled",
            faults(|f| f.range_disabled = true),
            Expect::RangeIgnored,
        ),
        row(
            "lying completion reason",
            faults(|f| f.lie_completion_reason = Some(CompletionReason::MaxSilenceTimeout)),
            // The audio still ends 80 ms into the # press that really stopped it.
            Expect::Reported {
                reason: "maxSilenceTimeout",
                subcode: 8509,
                audio_s: 2.18,
            },
        ),
        row(
            "recording discarded after the call ends",
            // At time_scale 0.01, 150 simulated seconds are 1.5 s.
            faults(|f| f.discard_after_s = Some(150.0)),
            Expect::DiscardedAfter(Duration::from_millis(1700)),
        ),
        row(
            "completed in the POST response",
            faults(|f| f.completed_in_response = true),
            Expect::CompletedInResponse,
        ),
        row(
            "PascalCase status",
            faults(|f| f.pascal_case_status = true),
            Expect::StatusSpelled("Completed"),
        ),
        row(
            "Bot Framework issuer",
            issuer("https://api.botframework.com"),
            Expect::Completions(1),
        ),
        row(
            "Graph issuer with a trailing slash",
            issuer("https://graph.microsoft.com/"),
            Expect::Completions(1),
        ),
        row(
            "foreign issuer",
            issuer("https://evil.example"),
            Expect::Refused("Issuer"),
        ),
        row(
            "forged JWT",
            jwt(NotificationJwt::Forged),
            Expect::Refused("InvalidSignature"),
        ),
        row(
            "unknown kid",
            jwt(NotificationJwt::UnknownKid),
            Expect::Refused("unknown kid"),
        ),
        row(
            "unsigned JWT",
            jwt(NotificationJwt::Unsigned),
            Expect::Refused(""),
        ),
        row(
            "expired JWT",
            jwt(NotificationJwt::Expired),
            Expect::Refused("ExpiredSignature"),
        ),
        row(
            "JWT for another app",
            jwt(NotificationJwt::WrongAudience),
            Expect::Refused("InvalidAudience"),
        ),
        row(
            "no Authorization header",
            jwt(NotificationJwt::Missing),
            Expect::Refused("no Authorization header"),
        ),
        row(
            "record answered with 500",
            faults(|f| f.record_error_status = Some(500)),
            Expect::RecordAnswered(500),
        ),
    ]
}

/// Every per-call fault, one row each, run one after the other on one
/// emulator so that each row's notifications are told apart by operation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_does_what_it_says() {
    let h = Harness::start().await;
    for row in rows() {
        let base = if matches!(row.expect, Expect::Reported { .. }) {
            scenario_file("stop_tone_hash")
        } else {
            default_scenario()
        };
        let scenario = Scenario {
            faults: Some(row.faults.clone()),
            ..base
        };
        check(&h, &scenario, &row).await;
    }
}

async fn check(h: &Harness, scenario: &Scenario, row: &Row) {
    let name = row.name;
    let call = h.call_with(scenario).await;
    let record_path = format!("/v1.0/communications/calls/{call}/recordResponse");
    let body = record_body(5, 2, 5, name);
    match row.expect {
        Expect::Throttled {
            status,
            count,
            retry_after,
            code,
        } => {
            for i in 0..count {
                let r = h.post(&record_path, &body).await;
                assert_eq!(r.status(), status, "{name}: attempt {i}");
                assert_eq!(r.headers()["retry-after"], retry_after, "{name}");
                let v: Value = r.json().await.unwrap();
                assert_eq!(v["error"]["code"], code, "{name}");
            }
            let (op, _) = start_record(h, &call, &body).await;
            h.completion(&op).await;
        }
        Expect::RecordAnswered(status) => {
            let r = h.post(&record_path, &body).await;
            assert_eq!(r.status(), status, "{name}");
            let v: Value = r.json().await.unwrap();
            assert!(v["error"]["code"].is_string(), "{name}: {v}");
        }
        Expect::Reported {
            reason,
            subcode,
            audio_s,
        } => {
            let r = h
                .post(
                    &format!("/beta/communications/calls/{call}/recordResponse"),
                    &record_body(3, 2, 10, name),
                )
                .await;
            let op = r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string();
            let d = h.completion(&op).await["resourceData"].clone();
            assert_eq!(d["completionReason"], reason, "{name}");
            assert_eq!(d["resultInfo"]["subcode"], subcode, "{name}");
            let (loc, tok) = location(&d);
            let wav = h.download(&loc, &tok).await.bytes().await.unwrap();
            assert!((wav_seconds(&wav) - audio_s).abs() < 0.002, "{name}");
        }
        ref expect => {
            let (op, v) = start_record(h, &call, &body).await;
            observe(h, name, &op, &v, expect).await;
        }
    }
}

fn location(d: &Value) -> (String, String) {
    (
        d["recordingLocation"].as_str().unwrap().to_string(),
        d["recordingAccessToken"].as_str().unwrap().to_string(),
    )
}

/// Checks a row whose recordResponse was accepted as operation `op` (`v`
/// is the POST's answer).
async fn observe(h: &Harness, name: &str, op: &str, v: &Value, expect: &Expect) {
    match *expect {
        Expect::CompletedBeforeResponse => {
            assert_eq!(v["status"], "running", "{name}");
            assert_eq!(h.completions(op).len(), 1, "{name}");
        }
        Expect::CompletedInResponse => {
            assert_eq!(v["status"], "completed", "{name}");
            assert_eq!(v["resultInfo"]["subcode"], 8509, "{name}");
            let (loc, tok) = location(v);
            assert_eq!(h.download(&loc, &tok).await.status(), 200, "{name}");
            let late = h.completion_within(op, Duration::from_millis(500)).await;
            assert!(late.is_none(), "{name}");
        }
        Expect::Completions(n) => {
            let deadline =
                Instant::now() + Duration::from_millis(if n == 0 { 500 } else { 10_000 });
            while h.completions(op).len() < n.max(1) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let all = h.completions(op);
            assert_eq!(all.len(), n, "{name}");
            assert!(all.windows(2).all(|w| w[0] == w[1]), "{name}");
            if let Some(first) = all.first() {
                assert_eq!(first["resourceData"]["clientContext"], name);
            }
        }
        Expect::StatusSpelled(s) => {
            assert_eq!(
                h.completion(op).await["resourceData"]["status"],
                s,
                "{name}"
            );
        }
        Expect::Interleaved => {
            h.completion(op).await;
            let types = interleaved_types(h).await;
            let prompt = types
                .iter()
                .position(|t| t.ends_with("playPromptOperation"))
                .expect("a playPrompt notification");
            let record = types
                .iter()
                .rposition(|t| t.ends_with("recordOperation"))
                .unwrap();
            assert!(prompt < record, "{name}: {types:?}");
            assert!(
                types[record + 1..].iter().any(|t| t.ends_with(".call")),
                "{name}: {types:?}"
            );
            assert_eq!(h.completions(op).len(), 1, "{name}");
        }
        Expect::Refused(text) => {
            let rejected = wait_for_rejection(h, name).await;
            assert!(rejected.contains(text), "{name}: {rejected}");
            // The emulator saw the 401 of its completion delivery.
            let deadline = Instant::now() + Duration::from_secs(10);
            while !h
                .emu
                .deliveries()
                .iter()
                .any(|d| d.has_record_operation() && d.status == Some(401))
            {
                assert!(Instant::now() < deadline, "{name}: no 401 delivery logged");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            h.emu.state.clear_logs();
        }
        _ => download_row(h, name, op, expect).await,
    }
}

/// The resource types of every notification so far, once the call-state
/// update that ends an interleaved run is in (or after 10 s).
async fn interleaved_types(h: &Harness) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
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
        // Done once a call-state update follows the last record operation
        // (the run's final batch); earlier call updates may come first.
        let done = types
            .iter()
            .rposition(|t| t.ends_with("recordOperation"))
            .is_some_and(|record| types[record + 1..].iter().any(|t| t.ends_with(".call")));
        if done || Instant::now() > deadline {
            return types;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits for the receiver to refuse a JWT; returns why, and forgets it so
/// later rows start clean.
async fn wait_for_rejection(h: &Harness, name: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = {
            let mut inbox = h.inbox.lock().unwrap();
            let first = inbox.rejected.first().cloned();
            inbox.rejected.clear();
            first
        };
        if let Some(r) = seen {
            return r;
        }
        assert!(Instant::now() < deadline, "{name}: the JWT was not refused");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The rows observed on the recording host.
async fn download_row(h: &Harness, name: &str, op: &str, expect: &Expect) {
    let (loc, tok) = location(&h.completion(op).await["resourceData"]);
    match *expect {
        Expect::DroppedAfter(n) => {
            let mut r = h.download(&loc, &tok).await;
            assert_eq!(r.status(), 200, "{name}");
            let mut got = Vec::new();
            let err = loop {
                match r.chunk().await {
                    Ok(Some(c)) => got.extend_from_slice(&c),
                    Ok(None) => panic!("{name}: finished despite the drop ({} bytes)", got.len()),
                    Err(e) => break e,
                }
            };
            assert_eq!(got.len(), n, "{name}: bytes before the drop");
            assert!(err.is_body() || err.is_decode(), "{name}: {err}");
            // Resume where it stopped; the fault applies to one download only.
            let r = h
                .http
                .get(&loc)
                .bearer_auth(&tok)
                .header("range", format!("bytes={}-", got.len()))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 206, "{name}");
            got.extend_from_slice(&r.bytes().await.unwrap());
            let whole = h.download(&loc, &tok).await.bytes().await.unwrap();
            assert_eq!(got, whole.to_vec(), "{name}");
            assert!(wav_seconds(&got) > 1.0, "{name}");
        }
        Expect::PacedAtLeast(min) => {
            let t = Instant::now();
            let r = h
                .http
                .get(&loc)
                .bearer_auth(&tok)
                .header("range", "bytes=0-59999")
                .send()
                .await
                .unwrap();
            assert_eq!(r.bytes().await.unwrap().len(), 60_000, "{name}");
            assert!(t.elapsed() >= min, "{name}: took {:?}", t.elapsed());
        }
        Expect::TokenExpired => {
            let r = h.download(&loc, &tok).await;
            assert_eq!(r.status(), 401, "{name}");
            let v: Value = r.json().await.unwrap();
            let msg = v["error"]["message"].as_str().unwrap();
            assert!(msg.contains("expired"), "{name}: {msg}");
        }
        Expect::RangeIgnored => {
            let full = h.download(&loc, &tok).await.bytes().await.unwrap();
            let r = h
                .http
                .get(&loc)
                .bearer_auth(&tok)
                .header("range", "bytes=100-")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{name}");
            assert_eq!(r.headers()["accept-ranges"], "none", "{name}");
            assert_eq!(r.bytes().await.unwrap(), full, "{name}");
        }
        Expect::DiscardedAfter(wait) => {
            assert_eq!(h.download(&loc, &tok).await.status(), 200, "{name}");
            tokio::time::sleep(wait).await;
            let r = h.download(&loc, &tok).await;
            assert_eq!(r.status(), 404, "{name}");
            let v: Value = r.json().await.unwrap();
            let msg = v["error"]["message"].as_str().unwrap();
            assert!(msg.contains("discarded"), "{name}: {msg}");
        }
        ref other => unreachable!("{name}: {other:?} is not a download row"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_wide_faults_are_set_through_the_control_endpoint() {
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
    // Token faults are server-wide: a short lifetime, sent as a string.
    let r = h
        .http
        .put(h.url("/_emulator/faults"))
        .json(&json!({"app_token_lifetime_s": 2, "token_expires_in_as_string": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let tok = h.fetch_token().await;
    assert_eq!(tok["expires_in"], "2");
    let fresh = tok["access_token"].as_str().unwrap().to_string();
    let r = h
        .http
        .get(h.url(&format!("/v1.0/communications/calls/{call}")))
        .bearer_auth(&fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = h
        .http
        .get(h.url(&format!("/v1.0/communications/calls/{call}")))
        .bearer_auth(&fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a 2 s token is refused after 2 s");
}
