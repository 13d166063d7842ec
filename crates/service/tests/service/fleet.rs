//! The service in a fleet: a real `redis-server` on loopback (`LocalRedis`),
//! the in-process emulator, bots on the Redis operation store and an API
//! beside each on the Redis recording store.
//!
//! - Two deployments on one Redis (two prefixes) do not see each other's
//!   recordings (`404`); the list pages and counts come from Redis; a
//!   garbled record is a 5xx naming the recording; Redis errors are counted.
//! - One `Idempotency-Key` sent to instance A and to instance B (one after
//!   the other, and at once) places one operation in the emulator.
//! - The acceptance run: 200 concurrent recordResponse POSTs over two
//!   instances whose notifications a round-robin balancer spreads over the
//!   two webhooks;
//!   every recording completes once, every callback arrives signed through
//!   a receiver that answers 500 twice per delivery, and instance A (API,
//!   followed operations, outbox loop, bot) dies mid-way without a callback
//!   lost: B's takeover finishes A's operations and its outbox sends A's
//!   claimed deliveries.
//! - An instance killed while its API's operation runs: the fleet's
//!   takeover finishes the operation, and the record (read through the
//!   other instance) ends `completed` with its callback sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use reqwest::Method;
use serde_json::{json, Value};
use voxcap_bot::emulated::{bot_config, create_call};
use voxcap_bot::{Bot, StoreChoice};
use voxcap_capture::redis_store::RedisStoreConfig;
use voxcap_capture::Secret;
use voxcap_emulator::RunningEmulator;
use voxcap_service::callbacks::{self, CallbackConfig};
use voxcap_service::redis_store::{RedisRecordings, RedisRecordingsConfig};
use voxcap_service::store::RecordingStore;
use voxcap_service::{ApiKeys, RunningService, ServiceConfig};
use voxcap_testkit::LocalRedis;

use crate::harness::{stop_tone_caller, KEY};

pub(crate) const SECRET: &str = "fleet-callback-secret-0123456789";

pub(crate) async fn fleet_bot(
    emu: &RunningEmulator,
    redis: &LocalRedis,
    prefix: &str,
    id: &str,
) -> Bot {
    fleet_bot_with_heartbeat(emu, redis, prefix, id, Duration::from_secs(15)).await
}

pub(crate) async fn fleet_bot_with_heartbeat(
    emu: &RunningEmulator,
    redis: &LocalRedis,
    prefix: &str,
    id: &str,
    heartbeat_ttl: Duration,
) -> Bot {
    let mut c = bot_config(emu);
    let mut rc = RedisStoreConfig::new(redis.url());
    rc.instance_id = id.into();
    rc.prefix = prefix.into();
    rc.heartbeat_ttl = heartbeat_ttl;
    c.store = StoreChoice::Redis(rc);
    c.deadline_margin = Duration::from_secs(10);
    Bot::start(c).await.unwrap()
}

/// The API beside `bot`, its records beside the bot's (as `voxcap serve
/// --redis` does), callbacks as `callbacks` says.
async fn api_beside(
    bot: &Bot,
    dir: &std::path::Path,
    callbacks: Option<CallbackConfig>,
) -> RunningService {
    api_beside_with(bot, dir, callbacks, |_| {}).await
}

/// [`api_beside`] with the service's settings changed by `adjust`.
pub(crate) async fn api_beside_with(
    bot: &Bot,
    dir: &std::path::Path,
    callbacks: Option<CallbackConfig>,
    adjust: impl FnOnce(&mut ServiceConfig),
) -> RunningService {
    let keys = ApiKeys::from_list(KEY).unwrap();
    let mut config = ServiceConfig::new(([127, 0, 0, 1], 0).into(), keys, dir);
    config.callbacks = callbacks;
    config.redis = Some(RedisRecordingsConfig::beside(bot.redis().unwrap().config()));
    adjust(&mut config);
    RunningService::start(config, bot.recorder()).await.unwrap()
}

pub(crate) fn req(
    http: &reqwest::Client,
    api: &RunningService,
    method: Method,
    path: &str,
) -> reqwest::RequestBuilder {
    http.request(method, format!("{}{path}", api.base_url()))
        .bearer_auth(KEY)
}

pub(crate) async fn get_json(
    http: &reqwest::Client,
    api: &RunningService,
    path: &str,
) -> (u16, Value) {
    let r = req(http, api, Method::GET, path).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn wait_final(http: &reqwest::Client, api: &RunningService, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get_json(http, api, &format!("/v1/recordings/{id}")).await;
        assert_eq!(status, 200, "{body}");
        if body["status"] != "running" {
            return body;
        }
        assert!(Instant::now() < deadline, "still running: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn record_response_posts(emu: &RunningEmulator) -> usize {
    emu.state
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/recordResponse"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_deployments_on_one_redis_see_nothing_of_each_other() {
    let mut redis = LocalRedis::start().expect("redis-server (installed by scripts/test)");
    let emu = voxcap_testkit::emulated::start_emulator(0.01).await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let bot_a = fleet_bot(&emu, &redis, "deploy-a", "a-1").await;
    let bot_b = fleet_bot(&emu, &redis, "deploy-b", "b-1").await;
    let api_a = api_beside(&bot_a, dir_a.path(), None).await;
    let api_b = api_beside(&bot_b, dir_b.path(), None).await;
    let http = reqwest::Client::new();
    let call = create_call(
        bot_a.client(),
        &emu,
        bot_a.callback_url(),
        Some(&stop_tone_caller()),
    )
    .await
    .unwrap();
    let posted = req(
        &http,
        &api_a,
        Method::POST,
        &format!("/v1/calls/{call}/recordResponse"),
    )
    .json(&json!({"stopTones": ["#"]}))
    .send()
    .await
    .unwrap();
    assert_eq!(posted.status(), 202);
    let id = posted.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = wait_final(&http, &api_a, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    // The other deployment: no such recording, on every route that reads one.
    for path in [
        format!("/v1/recordings/{id}"),
        format!("/v1/recordings/{id}/audio"),
    ] {
        let (status, body) = get_json(&http, &api_b, &path).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, page) = get_json(&http, &api_b, "/v1/recordings").await;
    assert_eq!(
        (status, page["items"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    let (_, page) = get_json(&http, &api_a, "/v1/recordings?status=completed").await;
    assert_eq!(page["items"][0]["id"], json!(id), "{page}");

    // A garbled record: a 5xx naming the recording, never a panic.
    let mut conn = voxcap_testkit::redis_conn::redis_conn(&redis).await;
    let _: () = redis::cmd("HSET")
        .arg(format!("deploy-a:svc:rec:{id}"))
        .arg("json")
        .arg("{\"not\": a record")
        .query_async(&mut conn)
        .await
        .unwrap();
    let (status, problem) = get_json(&http, &api_a, &format!("/v1/recordings/{id}")).await;
    assert!(status >= 500, "{status} {problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains(&id),
        "{problem}"
    );
    assert!(problem["detail"].as_str().unwrap().contains("unreadable"));
    assert_eq!(api_a.store_errors(), 0);
    // Redis goes away: the read is a 5xx, and /metrics still answers and
    // counts the store's errors.
    redis.kill();
    let (status, _) = get_json(&http, &api_a, &format!("/v1/recordings/{id}")).await;
    assert!(status >= 500, "{status}");
    assert!(api_a.store_errors() > 0);
    let metrics = req(&http, &api_a, Method::GET, "/metrics")
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    let counted = text
        .lines()
        .find_map(|l| l.strip_prefix("voxcap_recording_store_errors_total "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(counted.is_some_and(|n| n >= 1.0), "{text}");
    // The bot's own store fails too (its delivery subscription, its
    // heartbeat): counted at the next scrape.
    let wait = Instant::now() + Duration::from_secs(12);
    loop {
        let text = req(&http, &api_a, Method::GET, "/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let fleet = text
            .lines()
            .find_map(|l| l.strip_prefix("voxcap_fleet_store_errors_total "))
            .and_then(|v| v.trim().parse::<f64>().ok());
        if fleet.is_some_and(|n| n >= 1.0) {
            break;
        }
        assert!(Instant::now() < wait, "{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    api_a.stop().await;
    api_b.stop().await;
    bot_a.stop().await;
    bot_b.stop().await;
    let _ = emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_pages_and_counts_come_from_redis_and_its_errors_are_counted() {
    use voxcap_service::model::RecordingStatus;
    use voxcap_service::store::{ListQuery, RecordingRecord};
    let mut redis = LocalRedis::start().expect("redis-server (installed by scripts/test)");
    let store = RedisRecordings::connect(&RedisRecordingsConfig {
        url: redis.url(),
        ca_pem: None,
        prefix: "pages:svc".into(),
        timeout: Duration::from_secs(2),
    })
    .await
    .unwrap();
    let record = |i: u64, status: RecordingStatus| {
        let mut resource: voxcap_service::model::Recording = serde_json::from_value(json!({
            "id": format!("{i:032x}"), "status": status.as_str(), "callId": "call-1",
            "source": "recordResponse", "createdAt": "2026-12-07T00:00:00Z",
            "updatedAt": "2026-12-07T00:00:00Z",
            "links": {"self": format!("/v1/recordings/{i:032x}")}
        }))
        .unwrap();
        resource.status = status;
        RecordingRecord {
            seq: 0,
            created_ms: 1000 + i,
            resource,
            stem: None,
            retention_s: None,
            expires_ms: None,
            owner: None,
            stale_ms: None,
        }
    };
    for i in 1..=7 {
        store
            .insert(record(i, RecordingStatus::Running))
            .await
            .unwrap();
    }
    for i in [2, 4, 6] {
        store
            .update(record(i, RecordingStatus::Completed))
            .await
            .unwrap();
    }
    let page = |status, after_seq, since_ms| ListQuery {
        status,
        since_ms,
        after_seq,
        limit: 2,
    };
    let ids = |rs: &[RecordingRecord]| rs.iter().map(|r| r.created_ms - 1000).collect::<Vec<_>>();
    let (p, more) = store.list(page(None, None, None)).await.unwrap();
    assert_eq!((ids(&p), more), (vec![1, 2], true));
    let (p, more) = store.list(page(None, Some(p[1].seq), None)).await.unwrap();
    assert_eq!((ids(&p), more), (vec![3, 4], true));
    let done = Some(RecordingStatus::Completed);
    let (p, more) = store.list(page(done, None, None)).await.unwrap();
    assert_eq!((ids(&p), more), (vec![2, 4], true));
    let (p, more) = store.list(page(done, Some(p[1].seq), None)).await.unwrap();
    assert_eq!((ids(&p), more), (vec![6], false));
    let (p, more) = store.list(page(None, None, Some(1005))).await.unwrap();
    assert_eq!((ids(&p), more), (vec![5, 6], true));
    let counts = store.count_by_status().await.unwrap();
    assert!(
        counts.contains(&(RecordingStatus::Running, 4)),
        "{counts:?}"
    );
    assert!(
        counts.contains(&(RecordingStatus::Completed, 3)),
        "{counts:?}"
    );
    let gone = store.remove(&format!("{:032x}", 4)).await.unwrap();
    assert_eq!(gone.map(|r| r.created_ms), Some(1004));
    let counts = store.count_by_status().await.unwrap();
    assert!(
        counts.contains(&(RecordingStatus::Completed, 2)),
        "{counts:?}"
    );
    // An update of a removed recording does not bring it back.
    store
        .update(record(4, RecordingStatus::Failed))
        .await
        .unwrap();
    assert!(store.get(&format!("{:032x}", 4)).await.unwrap().is_none());

    // Redis gone: an error (no panic), counted.
    redis.kill();
    let e = store.get(&format!("{:032x}", 1)).await.unwrap_err();
    assert!(e.to_string().contains("Redis"), "{e}");
    assert!(store.errors() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_idempotency_key_across_two_instances_places_one_operation() {
    let redis = LocalRedis::start().expect("redis-server (installed by scripts/test)");
    let emu = voxcap_testkit::emulated::start_emulator(0.01).await;
    let dir = tempfile::tempdir().unwrap();
    let bots = [
        fleet_bot(&emu, &redis, "voxcap", "idem-a").await,
        fleet_bot(&emu, &redis, "voxcap", "idem-b").await,
    ];
    let apis = [
        api_beside(&bots[0], dir.path(), None).await,
        api_beside(&bots[1], dir.path(), None).await,
    ];
    let http = reqwest::Client::new();
    let call = create_call(
        bots[0].client(),
        &emu,
        bots[1].callback_url(),
        Some(&stop_tone_caller()),
    )
    .await
    .unwrap();
    let path = format!("/v1/calls/{call}/recordResponse");
    let body = json!({"stopTones": ["#"], "clientContext": "idem-1"});
    let post = |api: &RunningService, key: &str| {
        req(&http, api, Method::POST, &path)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let first = post(&apis[0], "fleet-key-1").await.unwrap();
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let again = post(&apis[1], "fleet-key-1").await.unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let id = first["id"].as_str().unwrap();
    // B reads the recording A placed, and follows it to the end.
    let done = wait_final(&http, &apis[1], id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(record_response_posts(&emu), 1);

    // Both at once, on a second call: one placed, one replayed.
    let call = create_call(
        bots[0].client(),
        &emu,
        bots[0].callback_url(),
        Some(&stop_tone_caller()),
    )
    .await
    .unwrap();
    let path = format!("/v1/calls/{call}/recordResponse");
    let post = |api: &RunningService| {
        req(&http, api, Method::POST, &path)
            .header("idempotency-key", "fleet-key-2")
            .json(&body)
            .send()
    };
    let (a, b) = tokio::join!(post(&apis[0]), post(&apis[1]));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (202, 202));
    let replays = [&a, &b]
        .iter()
        .filter(|r| r.headers().contains_key("idempotent-replayed"))
        .count();
    assert_eq!(replays, 1);
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    assert_eq!(a["id"], b["id"]);
    let done = wait_final(&http, &apis[0], a["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(record_response_posts(&emu), 2);
    // No orphan record from the loser of the race.
    let (_, page) = get_json(&http, &apis[1], "/v1/recordings").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");
    for a in apis {
        a.stop().await;
    }
    for b in bots {
        b.stop().await;
    }
    let _ = emu.stop().await;
}

/// One attempt as the receiver saw it: delivery id, timestamp, signature,
/// body, arrival.
pub(crate) type Attempt = (String, u64, String, Vec<u8>, SystemTime);

/// A receiver that answers 500 to the first two attempts of each delivery
/// id (after 150 ms), then 200.
pub(crate) async fn twice_failing_receiver() -> (String, Arc<Mutex<Vec<Attempt>>>) {
    let seen: Arc<Mutex<Vec<Attempt>>> = Arc::default();
    let keep = seen.clone();
    let app = axum::Router::new().route(
        "/done",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let keep = keep.clone();
                async move {
                    let h = |n: &str| headers.get(n).map(|v| v.to_str().unwrap().to_string());
                    let delivery = h(callbacks::DELIVERY_HEADER).unwrap_or_default();
                    let before = {
                        let mut seen = keep.lock().unwrap();
                        let before = seen.iter().filter(|a| a.0 == delivery).count();
                        seen.push((
                            delivery,
                            h(callbacks::TIMESTAMP_HEADER)
                                .and_then(|t| t.parse().ok())
                                .unwrap_or(0),
                            h(callbacks::SIGNATURE_HEADER).unwrap_or_default(),
                            body.to_vec(),
                            SystemTime::now(),
                        ));
                        before
                    };
                    if before < 2 {
                        // A slow failure: the attempt's claim is held a
                        // while, so an instance killed mid-way holds some.
                        tokio::time::sleep(Duration::from_millis(150)).await;
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

/// A load balancer in front of the fleet's webhooks: each notification
/// goes to the next one in turn, or to the one after when it does not
/// answer (a dead instance). Returns its URL.
pub(crate) async fn round_robin(webhooks: Vec<String>) -> String {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let webhooks = Arc::new(webhooks);
    let app = axum::Router::new().fallback(
        move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let (next, http, webhooks) = (next.clone(), http.clone(), webhooks.clone());
            async move {
                let first = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                for k in 0..webhooks.len() {
                    let to = &webhooks[(first + k) % webhooks.len()];
                    let mut r = http.post(to).body(body.clone());
                    for (name, value) in &headers {
                        if name != "host" && name != "content-length" {
                            r = r.header(name, value);
                        }
                    }
                    if let Ok(answer) = r.send().await {
                        return axum::http::StatusCode::from_u16(answer.status().as_u16())
                            .unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
                    }
                }
                axum::http::StatusCode::BAD_GATEWAY
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/calls", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The deliveries in the outbox whose last claim was `instance`'s.
async fn claimed_by(conn: &mut redis::aio::MultiplexedConnection, instance: &str) -> Vec<String> {
    let ids: Vec<String> = redis::cmd("ZRANGE")
        .arg("voxcap:svc:outbox")
        .arg(0)
        .arg(-1)
        .query_async(conn)
        .await
        .unwrap();
    let mut mine = Vec::new();
    for id in ids {
        let by: Option<String> = redis::cmd("HGET")
            .arg(format!("voxcap:svc:delivery:{id}"))
            .arg("by")
            .query_async(conn)
            .await
            .unwrap();
        if by.as_deref() == Some(instance) {
            mine.push(id);
        }
    }
    mine
}

/// Caller `i` speaks for 0.4 s + 10 ms * i, then stays silent (a 1 s
/// max-silence timer ends each recording at its own length).
pub(crate) fn numbered_caller(i: usize) -> Value {
    json!({"seed": i, "steps": [
        {"type": "pause", "ms": 600},
        {"type": "voice", "ms": 400 + 10 * i},
        {"type": "silence"}
    ]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_recordings_over_two_instances_lose_no_callback_when_one_is_killed() {
    const N: usize = 200;
    let redis = LocalRedis::start().expect("redis-server (installed by scripts/test)");
    let emu = Arc::new(voxcap_testkit::emulated::start_emulator(0.01).await);
    let dir = tempfile::tempdir().unwrap();
    let bots = Arc::new([
        fleet_bot(&emu, &redis, "voxcap", "svc-a").await,
        fleet_bot(&emu, &redis, "voxcap", "svc-b").await,
    ]);
    let mut config = CallbackConfig::new(Secret::new(SECRET));
    config.first_backoff = Duration::from_millis(300);
    config.attempt_timeout = Duration::from_millis(500);
    let a = api_beside(&bots[0], dir.path(), Some(config.clone())).await;
    let b = Arc::new(api_beside(&bots[1], dir.path(), Some(config)).await);
    let (url, seen) = twice_failing_receiver().await;
    let balancer = round_robin(vec![
        bots[0].callback_url().to_string(),
        bots[1].callback_url().to_string(),
    ])
    .await;
    let bases = Arc::new([a.base_url(), b.base_url()]);
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..N {
        let (bots, emu, bases, http, url, balancer) = (
            bots.clone(),
            emu.clone(),
            bases.clone(),
            http.clone(),
            url.clone(),
            balancer.clone(),
        );
        tasks.push(tokio::spawn(async move {
            // Placed through instance i % 2, notified through the balancer
            // (round-robin): half the completions arrive at the other one.
            let call = create_call(
                bots[i % 2].client(),
                &emu,
                &balancer,
                Some(&numbered_caller(i)),
            )
            .await
            .unwrap();
            let r = http
                .post(format!("{}/v1/calls/{call}/recordResponse", bases[i % 2]))
                .bearer_auth(KEY)
                .json(&json!({"maxSilenceTimeoutInSeconds": 1,
                    "clientContext": format!("svc-fleet-{i}"),
                    "voxcap": {"callbackUrl": url}}))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let v: Value = r.json().await.unwrap();
            assert_eq!(status, 202, "{v}");
            v["id"].as_str().unwrap().to_string()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    // The whole test process (emulator, two bots, two APIs, receiver) with
    // the 200 accepted.
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS"))
                .map(str::to_string)
        })
        .unwrap_or_default();
    println!(
        "200 accepted in {:.2} s; {rss}",
        started.elapsed().as_secs_f64()
    );
    // Instance A's API and callback loop die once callbacks are under way:
    // what it had claimed falls due again when the lease ends.
    let deadline = Instant::now() + Duration::from_secs(60);
    // The deliveries A claimed last and has not finished when it dies: B
    // must finish them.
    let mut conn = voxcap_testkit::redis_conn::redis_conn(&redis).await;
    let orphaned = loop {
        let held = claimed_by(&mut conn, "svc-a").await;
        let running: u64 = redis::cmd("ZCARD")
            .arg("voxcap:svc:status:running")
            .query_async(&mut conn)
            .await
            .unwrap();
        // Once every recording has ended, while callbacks are under way
        // (the takeover of operations A follows is the next test's; see
        // docs/service.md for the window an in-process kill leaves).
        if running == 0 && !held.is_empty() {
            break held;
        }
        assert!(Instant::now() < deadline, "callbacks never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    // A dies: its API, the operations it follows and its bot (the
    // heartbeat goes); B's serve loop takes over what A left.
    let recorded_at_kill = emu.state.download_counts().len();
    a.abort();
    let killed_at = seen.lock().unwrap().len();
    let [bot_a, bot_b] = Arc::try_unwrap(bots).ok().unwrap();
    // A notification A's webhook accepted (202) is written to Redis by its
    // tracker a moment later; a process killed in between loses it (Graph
    // does not send it again): that gap is the bot's, not the API's, so
    // the webhook gets that moment here.
    tokio::time::sleep(Duration::from_millis(300)).await;
    bot_a.stop().await;
    let bot_b = Arc::new(bot_b);
    let takeover = {
        let (bot_b, follower, out) = (
            bot_b.clone(),
            b.takeover_follower(),
            dir.path().to_path_buf(),
        );
        tokio::spawn(async move {
            loop {
                for h in bot_b.take_over(&out).await.unwrap() {
                    let follower = follower.clone();
                    tokio::spawn(async move {
                        match h.await {
                            Ok(Ok(o)) => follower.taken_over(&o),
                            Ok(Err(e)) => println!("takeover failed: {e}"),
                            Err(e) => println!("takeover task: {e}"),
                        }
                    });
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    // Every recording's callback: delivered (a 200, the third attempt).
    let deadline = Instant::now() + Duration::from_secs(60);
    let delivered = loop {
        let attempts = seen.lock().unwrap().clone();
        let mut per: HashMap<String, Vec<Attempt>> = HashMap::new();
        for a in attempts {
            per.entry(a.0.clone()).or_default().push(a);
        }
        if per.len() == N && per.values().all(|v| v.len() >= 3) {
            break per;
        }
        if Instant::now() > deadline {
            let (_, running) = get_json(&http, &b, "/v1/recordings?status=running").await;
            panic!(
                "callbacks: {} deliveries, {} complete; running: {running}",
                per.len(),
                per.values().filter(|v| v.len() >= 3).count()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let elapsed = started.elapsed();
    let mut recordings = std::collections::HashSet::new();
    for (delivery, attempts) in &delivered {
        assert_eq!(delivery.len(), 32);
        let first: Value = serde_json::from_slice(&attempts[0].3).unwrap();
        for (d, ts, sig, body, _) in attempts {
            assert_eq!(d, delivery);
            assert!(
                callbacks::verify(SECRET.as_bytes(), *ts, body, sig),
                "{sig}"
            );
            assert_eq!(serde_json::from_slice::<Value>(body).unwrap(), first);
        }
        assert_eq!(first["status"], "completed", "{first}");
        assert!(recordings.insert(first["id"].as_str().unwrap().to_string()));
    }
    for d in &orphaned {
        assert!(
            delivered.get(d).is_some_and(|v| v.len() >= 3),
            "{d}: A's delivery was not finished"
        );
    }
    ids.sort();
    let mut got: Vec<String> = recordings.into_iter().collect();
    got.sort();
    assert_eq!(got, ids, "one callback per recording");
    // Every operation placed once and downloaded (again by B when A died
    // in the middle of its download).
    assert_eq!(record_response_posts(&emu), N);
    let counts = emu.state.download_counts();
    assert_eq!(counts.len(), N);
    assert!(counts.values().all(|c| c.from_start >= 1));
    let again: u64 = counts.values().map(|c| c.from_start + c.resumed - 1).sum();
    // The survivor reads every record as completed; its outbox is empty.
    let http = reqwest::Client::new();
    let (_, page) = get_json(&http, &b, "/v1/recordings?status=completed&limit=100").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 100);
    let outbox = b.outbox().unwrap();
    let wait = Instant::now() + Duration::from_secs(5);
    while outbox.pending().await.unwrap() != 0 {
        assert!(Instant::now() < wait, "deliveries left in the outbox");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "{N} recordings over 2 instances, A killed after {killed_at} callback attempts \
         ({recorded_at_kill} recordings downloaded) holding {} deliveries, {again} downloads \
         made again: all {N} callbacks delivered (3 attempts each) {:.1} s after the first POST",
        orphaned.len(),
        elapsed.as_secs_f64()
    );
    drop(b);
    takeover.abort();
    let _ = takeover.await;
    Arc::try_unwrap(bot_b).ok().unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_over_operation_ends_its_api_record_and_sends_its_callback() {
    let redis = LocalRedis::start().expect("redis-server (installed by scripts/test)");
    let emu = voxcap_testkit::emulated::start_emulator(0.01).await;
    let dir = tempfile::tempdir().unwrap();
    let hb = Duration::from_secs(1);
    let bot_a = fleet_bot_with_heartbeat(&emu, &redis, "voxcap", "take-a", hb).await;
    let bot_b = fleet_bot_with_heartbeat(&emu, &redis, "voxcap", "take-b", hb).await;
    let mut config = CallbackConfig::new(Secret::new(SECRET));
    config.first_backoff = Duration::from_millis(100);
    let a = api_beside(&bot_a, dir.path(), Some(config.clone())).await;
    let b = api_beside(&bot_b, dir.path(), Some(config)).await;
    let (url, seen) = twice_failing_receiver().await;
    let http = reqwest::Client::new();
    // The caller speaks until the 120 s cap (1.2 s at the emulator's pace);
    // the notifications go to B, which does not own the operation.
    let caller = json!({"seed": 5, "steps": [
        {"type": "pause", "ms": 600}, {"type": "voice", "ms": 200_000}]});
    let call = create_call(bot_a.client(), &emu, bot_b.callback_url(), Some(&caller))
        .await
        .unwrap();
    let posted = req(
        &http,
        &a,
        Method::POST,
        &format!("/v1/calls/{call}/recordResponse"),
    )
    .json(
        &json!({"maxRecordDurationInSeconds": 120, "maxSilenceTimeoutInSeconds": 5,
            "voxcap": {"callbackUrl": url, "trim": {"padStartMs": 0}, "retentionSeconds": 3600}}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(posted.status(), 202);
    let id = posted.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Registered in the fleet's store: then A dies.
    let mut conn = voxcap_testkit::redis_conn::redis_conn(&redis).await;
    voxcap_testkit::redis_conn::wait_unfinished(&mut conn, 1, String::new).await;
    // A dies with the operation pending: its API, its follow-up and its bot.
    a.abort();
    bot_a.stop().await;
    let (status, running) = get_json(&http, &b, &format!("/v1/recordings/{id}")).await;
    assert_eq!((status, running["status"].as_str()), (200, Some("running")));
    // B's serve loop: the takeover scan, each outcome handed to the API.
    let follower = b.takeover_follower();
    let deadline = Instant::now() + Duration::from_secs(30);
    let outcome = loop {
        let handles = bot_b.take_over(dir.path()).await.unwrap();
        if let Some(h) = handles.into_iter().next() {
            break h.await.unwrap().unwrap();
        }
        assert!(Instant::now() < deadline, "never taken over");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        outcome.json["takeover"]["by"], "take-b",
        "{:?}",
        outcome.json
    );
    follower.taken_over(&outcome);
    let done = wait_final(&http, &b, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["operation"]["id"], json!(outcome.operation.id));
    // The pads and retention asked of A hold for the recording B finished:
    // no pad before the speech, and an expiry.
    let trim_start = done["report"]["trim"]["start_s"].as_f64().unwrap();
    let speech_start = done["report"]["speech"][0]["start_s"].as_f64().unwrap();
    assert!(
        (trim_start - speech_start).abs() < 0.011,
        "{trim_start} vs {speech_start}"
    );
    assert!(done["expiresAt"].is_string(), "{done}");
    // Its callback, through the 500s, from the survivor's outbox.
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.lock().unwrap().len() < 3 {
        assert!(
            Instant::now() < deadline,
            "callback: {}",
            seen.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let attempts = seen.lock().unwrap().clone();
    assert_eq!(attempts.len(), 3, "one delivery, three attempts");
    let body: Value = serde_json::from_slice(&attempts[2].3).unwrap();
    assert_eq!(
        (body["id"].as_str(), body["status"].as_str()),
        (Some(&*id), Some("completed"))
    );
    assert!(callbacks::verify(
        SECRET.as_bytes(),
        attempts[2].1,
        &attempts[2].3,
        &attempts[2].2
    ));
    // A second report of the same outcome changes nothing and sends nothing.
    follower.taken_over(&outcome);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(seen.lock().unwrap().len(), 3);
    b.stop().await;
    bot_b.stop().await;
    let _ = emu.stop().await;
}

/// From the completion notification leaving the emulator to the callback
/// reaching the receiver, through the Redis outbox: three recordings one
/// after another (printed with `--nocapture`, asserted under 5 s). The
/// caller speaks 3.4 s after 0.6 s, then 1 s of silence ends it: a 5 s
/// recording at `VOXCAP_LATENCY_TIME_SCALE` (1.0: real time; CI's default
/// 0.01 runs it a hundred times faster).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_latency_through_the_outbox() {
    let scale = std::env::var("VOXCAP_LATENCY_TIME_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.01);
    let redis = LocalRedis::start().expect("redis-server (installed by scripts/test)");
    let emu = voxcap_testkit::emulated::start_emulator(scale).await;
    let dir = tempfile::tempdir().unwrap();
    let bot = fleet_bot(&emu, &redis, "voxcap", "latency-a").await;
    let api = api_beside(
        &bot,
        dir.path(),
        Some(CallbackConfig::new(Secret::new(SECRET))),
    )
    .await;
    let seen: Arc<Mutex<Vec<SystemTime>>> = Arc::default();
    let keep = seen.clone();
    let app = axum::Router::new().route(
        "/done",
        axum::routing::post(move || {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push(SystemTime::now());
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/done", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    let caller = json!({"seed": 3, "steps": [
        {"type": "pause", "ms": 600}, {"type": "voice", "ms": 3400}, {"type": "silence"}]});
    let mut figures = Vec::new();
    for i in 0..3 {
        let call = create_call(bot.client(), &emu, bot.callback_url(), Some(&caller))
            .await
            .unwrap();
        let posted = req(
            &http,
            &api,
            Method::POST,
            &format!("/v1/calls/{call}/recordResponse"),
        )
        .json(&json!({"maxSilenceTimeoutInSeconds": 1, "voxcap": {"callbackUrl": url}}))
        .send()
        .await
        .unwrap();
        assert_eq!(posted.status(), 202);
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.lock().unwrap().len() <= i {
            assert!(Instant::now() < deadline, "no callback {i}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let arrived = seen.lock().unwrap()[i];
        let completed = emu
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
        "fleet (Redis outbox), time scale {scale}: completion sent -> callback received: {} ms",
        figures.join(", ")
    );
    api.stop().await;
    bot.stop().await;
    let _ = emu.stop().await;
}
