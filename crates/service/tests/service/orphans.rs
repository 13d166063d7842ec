//! Recordings nobody follows any more (crates/service/src/orphans.rs), in
//! a fleet on a real `redis-server`:
//!
//! - records left `running` past their deadline by a dead instance, by
//!   this instance without a task, and of `POST /v1/recordings`, end
//!   `lost` / `lost` / `failed` with their callbacks sent; a live
//!   instance's record, and one not yet past its deadline, are left alone;
//! - instance A killed while 60 recordResponse POSTs arrive (half of them
//!   placed on Graph): every POST that was answered `202` gets exactly one
//!   signed callback (`completed` through B's takeover, or `lost` when A
//!   died before the operation was registered or while it was being
//!   downloaded), and nothing is left `running`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde_json::{json, Value};
use voxcap_bot::emulated::create_call;
use voxcap_capture::Secret;
use voxcap_service::callbacks::{self, CallbackConfig};
use voxcap_service::model::{Recording, RecordingStatus};
use voxcap_service::redis_store::{RedisRecordings, RedisRecordingsConfig};
use voxcap_service::store::{RecordingRecord, RecordingStore};
use voxcap_testkit::LocalRedis;

use crate::fleet::{
    api_beside_with, fleet_bot, fleet_bot_with_heartbeat, get_json, numbered_caller,
    record_response_posts, req, round_robin, twice_failing_receiver, Attempt, SECRET,
};
use crate::harness::KEY;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn fast_callbacks() -> CallbackConfig {
    let mut config = CallbackConfig::new(Secret::new(SECRET));
    config.first_backoff = Duration::from_millis(100);
    config.attempt_timeout = Duration::from_millis(500);
    config
}

/// The deliveries seen so far, by delivery id.
fn by_delivery(seen: &std::sync::Mutex<Vec<Attempt>>) -> HashMap<String, Vec<Attempt>> {
    let mut per: HashMap<String, Vec<Attempt>> = HashMap::new();
    for a in seen.lock().unwrap().iter() {
        per.entry(a.0.clone()).or_default().push(a.clone());
    }
    per
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_recordings_end_with_their_callbacks_and_live_ones_are_left_alone() {
    let redis = LocalRedis::start().expect("redis-server (installed by scripts/test)");
    let emu = voxcap_testkit::emulated::start_emulator(0.01).await;
    let dir = tempfile::tempdir().unwrap();
    let bot_b = fleet_bot(&emu, &redis, "voxcap", "sweep-b").await;
    // Alive: its heartbeat is in Redis.
    let bot_c = fleet_bot(&emu, &redis, "voxcap", "sweep-c").await;
    let (url, seen) = twice_failing_receiver().await;
    let store = RedisRecordings::connect(&RedisRecordingsConfig::beside(
        bot_b.redis().unwrap().config(),
    ))
    .await
    .unwrap();
    let record = |i: u64, source: &str, owner: &str, stale_ms: u64| {
        let resource: Recording = serde_json::from_value(json!({
            "id": format!("{i:032x}"), "status": "running", "callId": "call-1",
            "source": source, "createdAt": "2026-12-07T00:00:00Z",
            "updatedAt": "2026-12-07T00:00:00Z", "callbackUrl": url,
            "links": {"self": format!("/v1/recordings/{i:032x}")}
        }))
        .unwrap();
        RecordingRecord {
            seq: 0,
            created_ms: now_ms(),
            resource,
            stem: None,
            retention_s: None,
            expires_ms: None,
            owner: Some(owner.into()),
            stale_ms: Some(stale_ms),
        }
    };
    let past = now_ms() - 1;
    let cases = [
        (1, "recordResponse", "sweep-dead", past, "lost"),
        (2, "recordResponse", "sweep-b", past, "lost"),
        (3, "external", "sweep-dead", past, "failed"),
        (4, "recordResponse", "sweep-c", past, "running"),
        (
            5,
            "recordResponse",
            "sweep-dead",
            now_ms() + 600_000,
            "running",
        ),
    ];
    for (i, source, owner, stale, _) in cases {
        store.insert(record(i, source, owner, stale)).await.unwrap();
    }
    let b = api_beside_with(&bot_b, dir.path(), Some(fast_callbacks()), |c| {
        c.retention_sweep = Duration::from_millis(100);
    })
    .await;
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let per = by_delivery(&seen);
        if per.len() >= 3 && per.values().all(|v| v.len() >= 3) {
            break;
        }
        assert!(Instant::now() < deadline, "callbacks: {per:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Several sweeps more: nothing else ends, nothing is sent twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (i, _, owner, _, want) in cases {
        let (status, v) = get_json(&http, &b, &format!("/v1/recordings/{i:032x}")).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["status"], want, "{i}: {v}");
        if want != "running" {
            let error = v["error"].as_str().unwrap();
            assert!(error.contains(owner), "{error}");
        }
    }
    let per = by_delivery(&seen);
    assert_eq!(per.len(), 3, "one delivery each for the three ended");
    let mut ended = Vec::new();
    for attempts in per.values() {
        assert_eq!(attempts.len(), 3);
        let (_, ts, sig, body, _) = &attempts[2];
        assert!(callbacks::verify(SECRET.as_bytes(), *ts, body, sig));
        let v: Value = serde_json::from_slice(body).unwrap();
        ended.push(v["id"].as_str().unwrap().to_string());
    }
    ended.sort();
    assert_eq!(ended, [1, 2, 3].map(|i| format!("{i:032x}")));
    let r = req(&http, &b, Method::GET, "/metrics")
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(
        text.contains("voxcap_recordings_abandoned_total 3"),
        "{text}"
    );
    b.stop().await;
    bot_b.stop().await;
    bot_c.stop().await;
    let _ = emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_while_posts_arrive_leaves_no_accepted_recording_without_a_callback() {
    const N: usize = 60;
    let redis = LocalRedis::start().expect("redis-server (installed by scripts/test)");
    let emu = Arc::new(voxcap_testkit::emulated::start_emulator(0.01).await);
    let dir = tempfile::tempdir().unwrap();
    let hb = Duration::from_secs(1);
    let bot_a = fleet_bot_with_heartbeat(&emu, &redis, "voxcap", "burst-a", hb).await;
    let bot_b = Arc::new(fleet_bot_with_heartbeat(&emu, &redis, "voxcap", "burst-b", hb).await);
    let grace = |c: &mut voxcap_service::ServiceConfig| {
        c.retention_sweep = Duration::from_millis(200);
        c.orphan_grace = Duration::from_secs(1);
    };
    let a = api_beside_with(&bot_a, dir.path(), Some(fast_callbacks()), grace).await;
    let b = api_beside_with(&bot_b, dir.path(), Some(fast_callbacks()), grace).await;
    let (url, seen) = twice_failing_receiver().await;
    let balancer = round_robin(vec![
        bot_a.callback_url().to_string(),
        bot_b.callback_url().to_string(),
    ])
    .await;
    let mut calls = Vec::new();
    for i in 0..N {
        let caller = numbered_caller(i);
        calls.push(
            create_call(bot_a.client(), &emu, &balancer, Some(&caller))
                .await
                .unwrap(),
        );
    }
    // Every POST goes to A at once; A dies once a third are answered.
    let (answered_tx, mut answered_rx) = tokio::sync::mpsc::unbounded_channel();
    let base = a.base_url();
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        let (http, base, url, call, tx) = (
            http.clone(),
            base.clone(),
            url.clone(),
            call.clone(),
            answered_tx.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(format!("{base}/v1/calls/{call}/recordResponse"))
                .bearer_auth(KEY)
                .json(&json!({"initialSilenceTimeoutInSeconds": 1,
                    "maxSilenceTimeoutInSeconds": 1, "maxRecordDurationInSeconds": 2,
                    "clientContext": format!("burst-{i}"),
                    "voxcap": {"callbackUrl": url}}))
                .send()
                .await;
            let id = match r {
                Ok(r) if r.status() == 202 => {
                    let v: Value = r.json().await.unwrap_or(Value::Null);
                    v["id"].as_str().map(str::to_string)
                }
                // Refused or cut off by the kill: the client knows it was
                // not accepted (and would retry with its Idempotency-Key).
                _ => None,
            };
            let _ = tx.send(());
            id
        }));
    }
    drop(answered_tx);
    // A dies once half the operations are placed on Graph: some are
    // registered (B takes them over), some placed but not yet registered,
    // some not placed at all.
    let wait = Instant::now() + Duration::from_secs(30);
    while record_response_posts(&emu) < N / 2 {
        assert!(Instant::now() < wait, "the POSTs never reached Graph");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let placed_at_kill = record_response_posts(&emu);
    a.abort();
    bot_a.stop().await;
    let mut accepted = Vec::new();
    for t in tasks {
        if let Some(id) = t.await.unwrap() {
            accepted.push(id);
        }
    }
    while answered_rx.recv().await.is_some() {}
    // B's serve loop: the takeover scan, each outcome handed to its API.
    let takeover = {
        let (bot_b, follower, out) = (
            bot_b.clone(),
            b.takeover_follower(),
            dir.path().to_path_buf(),
        );
        tokio::spawn(async move {
            loop {
                for h in bot_b.take_over(&out).await.unwrap_or_default() {
                    let follower = follower.clone();
                    tokio::spawn(async move {
                        if let Ok(Ok(o)) = h.await {
                            follower.taken_over(&o);
                        }
                    });
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    // Every accepted recording's callback. A POST whose answer the kill
    // cut off may have been accepted all the same (the client retries it
    // with its Idempotency-Key): its callback comes too.
    let deadline = Instant::now() + Duration::from_secs(60);
    let per = loop {
        let per = by_delivery(&seen);
        let delivered: std::collections::HashSet<String> = per
            .values()
            .filter(|v| v.len() >= 3)
            .filter_map(|v| serde_json::from_slice::<Value>(&v[0].3).ok())
            .filter_map(|v| v["id"].as_str().map(str::to_string))
            .collect();
        let (_, running) = get_json(&http, &b, "/v1/recordings?status=running").await;
        let none_running = running["items"].as_array().is_some_and(|a| a.is_empty());
        if none_running && accepted.iter().all(|id| delivered.contains(id)) {
            break per;
        }
        assert!(
            Instant::now() < deadline,
            "{} accepted, {} callbacks delivered, running: {running}",
            accepted.len(),
            delivered.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut statuses: HashMap<String, usize> = HashMap::new();
    let mut got = Vec::new();
    for attempts in per.values() {
        let (_, ts, sig, body, _) = &attempts[attempts.len() - 1];
        assert!(callbacks::verify(SECRET.as_bytes(), *ts, body, sig));
        let v: Value = serde_json::from_slice(body).unwrap();
        *statuses
            .entry(v["status"].as_str().unwrap().to_string())
            .or_default() += 1;
        got.push(v["id"].as_str().unwrap().to_string());
    }
    got.sort();
    let unique = got.len();
    got.dedup();
    assert_eq!(got.len(), unique, "one delivery per recording");
    for id in &accepted {
        assert!(got.binary_search(id).is_ok(), "{id}: accepted, no callback");
    }
    assert!(
        statuses.keys().all(|s| s == "completed" || s == "lost"),
        "{statuses:?}"
    );
    for id in &got {
        let (_, v) = get_json(&http, &b, &format!("/v1/recordings/{id}")).await;
        let status = RecordingStatus::parse(v["status"].as_str().unwrap()).unwrap();
        assert_ne!(status, RecordingStatus::Running, "{v}");
    }
    println!(
        "{N} POSTs to A, A killed with {placed_at_kill} placed on Graph: {} answered 202, \
         {} callbacks {statuses:?}",
        accepted.len(),
        got.len()
    );
    takeover.abort();
    let _ = takeover.await;
    b.stop().await;
    Arc::try_unwrap(bot_b).ok().unwrap().stop().await;
}
