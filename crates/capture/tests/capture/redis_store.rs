//! The Redis operation store against a real `redis-server` on loopback:
//! cross-instance delivery, early completions, duplicates, the download
//! claim, takeover of a dead instance's operations, and a clear error when
//! Redis is unreachable.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use voxcap_capture::redis_store::{RedisStore, RedisStoreConfig};
use voxcap_capture::store::{
    Abandoned, DeliveryTarget, Disposition, OperationStore, PendingOperation, Registration,
};
use voxcap_capture::wire::{OperationKey, RecordOperation};
use voxcap_testkit::LocalRedis;

#[derive(Default)]
struct Collect {
    got: Mutex<Vec<(OperationKey, RecordOperation)>>,
    resyncs: Mutex<u32>,
}

impl DeliveryTarget for Collect {
    fn deliver(&self, key: &OperationKey, op: RecordOperation) {
        self.got.lock().unwrap().push((key.clone(), op));
    }
    fn resync(&self) {
        *self.resyncs.lock().unwrap() += 1;
    }
}

async fn store(redis: &LocalRedis, id: &str) -> (Arc<RedisStore>, Arc<Collect>) {
    let mut c = RedisStoreConfig::new(redis.url());
    c.instance_id = id.into();
    c.heartbeat_ttl = Duration::from_millis(600);
    let s = RedisStore::connect(c).await.expect("connect");
    let target = Arc::new(Collect::default());
    let weak: Weak<dyn DeliveryTarget> = Arc::downgrade(&target) as Weak<Collect>;
    s.attach(weak);
    (s, target)
}

// Adopted records must carry GUID operation ids (issue 14: ids from Redis
// are validated on adoption), so the takeover tests name theirs so.
const COMPLETED: &str = "c0000000-0000-4000-8000-000000000001";
const EXPIRED: &str = "e0000000-0000-4000-8000-000000000002";
const WAITING: &str = "f0000000-0000-4000-8000-000000000003";
const SLOW: &str = "50000000-0000-4000-8000-000000000004";
const RELEASED: &str = "a0000000-0000-4000-8000-000000000005";

fn pending(call: &str, op: &str, deadline_ms: u64) -> PendingOperation {
    PendingOperation {
        call_id: call.into(),
        operation_id: op.into(),
        client_context: Some(format!("ctx-{op}")),
        deadline_ms,
        settings: serde_json::json!({"request": {"maxRecordDurationInSeconds": 5}}),
    }
}

fn completion(op: &str, token: &str) -> RecordOperation {
    serde_json::from_value(serde_json::json!({
        "@odata.type": "#microsoft.graph.recordOperation",
        "id": op,
        "status": "completed",
        "resultInfo": {"code": 200, "subcode": 8514},
        "recordingLocation": format!("https://file.location/{op}"),
        "recordingAccessToken": token,
    }))
    .unwrap()
}

async fn wait_for<F: Fn() -> bool>(what: &str, f: F) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_received_elsewhere_reaches_the_owner_once() {
    let redis = LocalRedis::start().unwrap();
    let (a, a_got) = store(&redis, "inst-a").await;
    let (b, b_got) = store(&redis, "inst-b").await;
    // Registered with dashed upper-case ids, completed with normalised ones.
    let k_owner = OperationKey::new("CALL-1", "OP-1");
    let k_seen = OperationKey::new("call1", "op1");
    assert!(matches!(
        a.register(&k_owner, &pending("CALL-1", "OP-1", 60_000))
            .await
            .unwrap(),
        Registration::Pending
    ));
    let ttl = Duration::from_secs(60);
    let op = completion("op1", "secret-token");
    assert_eq!(
        b.complete(&k_seen, &op, ttl).await.unwrap(),
        Disposition::Deliver
    );
    wait_for("forwarded delivery", || {
        a_got.got.lock().unwrap().len() == 1
    })
    .await;
    let (k, delivered) = a_got.got.lock().unwrap()[0].clone();
    assert_eq!(k, k_owner);
    assert_eq!(delivered, op, "the token and fields survive the trip");
    // Duplicates from either instance are ignored.
    assert_eq!(
        b.complete(&k_seen, &op, ttl).await.unwrap(),
        Disposition::Duplicate
    );
    assert_eq!(
        a.complete(&k_seen, &op, ttl).await.unwrap(),
        Disposition::Duplicate
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(a_got.got.lock().unwrap().len(), 1);
    assert!(b_got.got.lock().unwrap().is_empty());
    // Poll finds it too (what a resync does).
    assert_eq!(a.poll(&k_owner).await.unwrap(), Some(op.clone()));
    assert_eq!(
        b.poll(&k_owner).await.unwrap(),
        None,
        "only the owner polls it"
    );
    // One claim wins while the owner lives.
    assert!(a.claim_download(&k_owner).await.unwrap());
    assert!(!b.claim_download(&k_owner).await.unwrap());
    a.finish(&k_owner, "done", &serde_json::json!({"ok": true}))
        .await
        .unwrap();
    let rec = a.inspect(&k_owner).await.unwrap();
    assert_eq!(rec.get("state").map(String::as_str), Some("done"));
    assert!(
        !rec.contains_key("completion"),
        "the token is dropped when done"
    );
    assert_eq!(a.unfinished().await.unwrap(), 0);
    assert!(
        !b.claim_download(&k_owner).await.unwrap(),
        "nothing to claim once done"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_completion_is_handed_to_the_registration() {
    let redis = LocalRedis::start().unwrap();
    let (a, _) = store(&redis, "inst-a").await;
    let (b, _) = store(&redis, "inst-b").await;
    let k = OperationKey::new("c2", "o2");
    let op = completion("o2", "t");
    let ttl = Duration::from_secs(60);
    assert_eq!(
        b.complete(&k, &op, ttl).await.unwrap(),
        Disposition::Buffered
    );
    assert_eq!(
        a.complete(&k, &op, ttl).await.unwrap(),
        Disposition::Duplicate
    );
    match a.register(&k, &pending("c2", "o2", 60_000)).await.unwrap() {
        Registration::AlreadyCompleted(got) => assert_eq!(*got, op),
        other => panic!("expected the buffered completion, got {other:?}"),
    }
    assert!(
        a.register(&k, &pending("c2", "o2", 60_000)).await.is_err(),
        "a second registration of one operation is refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_instance_is_taken_over() {
    let redis = LocalRedis::start().unwrap();
    let (a, _) = store(&redis, "inst-a").await;
    let (b, b_got) = store(&redis, "inst-b").await;
    let waiting = OperationKey::new("c", WAITING);
    let done = OperationKey::new("c", COMPLETED);
    let expired = OperationKey::new("c", EXPIRED);
    a.register(&waiting, &pending("c", WAITING, 60_000))
        .await
        .unwrap();
    a.register(&done, &pending("c", COMPLETED, 60_000))
        .await
        .unwrap();
    a.register(&expired, &pending("c", EXPIRED, 1))
        .await
        .unwrap();
    let ttl = Duration::from_secs(60);
    let op = completion(COMPLETED, "tok");
    assert_eq!(
        b.complete(&done, &op, ttl).await.unwrap(),
        Disposition::Deliver
    );
    // A live owner keeps its operations.
    assert!(b.adopt_orphans().await.unwrap().is_empty());
    assert!(a.claim_download(&done).await.unwrap(), "the owner claims");
    // Kill A without a goodbye: its heartbeat expires.
    drop(a);
    tokio::time::sleep(Duration::from_millis(900)).await;
    let mut orphans = b.adopt_orphans().await.unwrap();
    orphans.sort_by(|x, y| x.key.operation_id.as_str().cmp(y.key.operation_id.as_str()));
    let ids: Vec<&str> = orphans
        .iter()
        .map(|o| o.key.operation_id.as_str())
        .collect();
    let want: Vec<String> = [COMPLETED, EXPIRED, WAITING]
        .iter()
        .map(|s| voxcap_capture::wire::NormalizedId::new(s).to_string())
        .collect();
    assert_eq!(ids, want);
    assert!(orphans.iter().all(|o| o.previous_owner == "inst-a"));
    assert_eq!(orphans[0].completion.as_deref(), Some(&op));
    assert_eq!(
        orphans[0].pending.client_context.as_deref(),
        Some(format!("ctx-{COMPLETED}").as_str())
    );
    assert_eq!(orphans[1].remaining, Duration::ZERO);
    assert!(orphans[2].remaining > Duration::from_secs(50));
    assert!(orphans[2].completion.is_none());
    // The dead holder's claim passes to the adopter.
    assert!(b.claim_download(&done).await.unwrap());
    // Nothing is adopted twice.
    assert!(b.adopt_orphans().await.unwrap().is_empty());
    // Past its deadline: lost.
    assert!(matches!(
        b.abandon(&expired).await.unwrap(),
        Abandoned::Lost
    ));
    // A completion for an adopted operation now goes to the adopter.
    let late = completion(WAITING, "tok2");
    assert_eq!(
        b.complete(&waiting, &late, ttl).await.unwrap(),
        Disposition::Deliver
    );
    wait_for("delivery to the adopter", || {
        b_got.got.lock().unwrap().len() == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_owner_learns_it_was_taken_over() {
    let redis = LocalRedis::start().unwrap();
    let (a, _) = store(&redis, "inst-a").await;
    let (b, _) = store(&redis, "inst-b").await;
    let k = OperationKey::new("c", SLOW);
    a.register(&k, &pending("c", SLOW, 60_000)).await.unwrap();
    // A's heartbeat goes away (a long pause), B adopts.
    a.shutdown().await;
    assert_eq!(b.adopt_orphans().await.unwrap().len(), 1);
    match a.abandon(&k).await.unwrap() {
        Abandoned::TakenOver { by } => assert_eq!(by, "inst-b"),
        other => panic!("expected TakenOver, got {other:?}"),
    }
    assert!(
        a.finish(&k, "done", &serde_json::json!({})).await.is_err(),
        "a former owner cannot finish"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_redis_is_a_clear_error() {
    let port = voxcap_testkit::free_port(); // nothing listens there
    let mut c = RedisStoreConfig::new(format!("redis://user:hunter2@127.0.0.1:{port}/"));
    c.timeout = Duration::from_millis(500);
    let started = std::time::Instant::now();
    let e = RedisStore::connect(c).await.unwrap_err().to_string();
    assert!(started.elapsed() < Duration::from_secs(10), "no hang");
    assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
    assert!(e.contains("connecting"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
    let bad = RedisStore::connect(RedisStoreConfig::new("http://nope"))
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("URL"), "{bad}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_operation_is_adopted_by_the_fleet() {
    let redis = LocalRedis::start().unwrap();
    let (a, _) = store(&redis, "inst-a").await;
    let (b, _) = store(&redis, "inst-b").await;
    let k = OperationKey::new("c", RELEASED);
    a.register(&k, &pending("c", RELEASED, 60_000))
        .await
        .unwrap();
    assert!(
        b.adopt_orphans().await.unwrap().is_empty(),
        "A is alive and holds it"
    );
    a.release(&k).await.unwrap();
    // A is alive, yet the released operation is up for adoption.
    let got = b.adopt_orphans().await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].previous_owner, "");
    let rec = b.inspect(&k).await.unwrap();
    assert_eq!(rec.get("owner").map(String::as_str), Some("inst-b"));
    assert_eq!(rec.get("released_by").map(String::as_str), Some("inst-a"));
}

async fn raw(redis: &LocalRedis) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_forgotten_by_redis_is_registered_again() {
    let redis = LocalRedis::start().unwrap();
    let (a, a_got) = store(&redis, "inst-a").await;
    let (b, _) = store(&redis, "inst-b").await;
    let mut c = raw(&redis).await;
    let ttl = Duration::from_secs(60);
    // 1: Redis restarts empty, then the completion comes: it is buffered,
    //    and the owner's re-registration picks it up.
    let k1 = OperationKey::new("c", "one");
    let p1 = pending("c", "one", 60_000);
    a.register(&k1, &p1).await.unwrap();
    redis::cmd("FLUSHALL")
        .query_async::<()>(&mut c)
        .await
        .unwrap();
    let op1 = completion("one", "t1");
    assert_eq!(
        b.complete(&k1, &op1, ttl).await.unwrap(),
        Disposition::Buffered
    );
    assert_eq!(a.reregister(&k1, &p1).await.unwrap(), Some(op1));
    // 2: re-registered first, the completion is then delivered as usual.
    let k2 = OperationKey::new("c", "two");
    let p2 = pending("c", "two", 60_000);
    a.register(&k2, &p2).await.unwrap();
    redis::cmd("FLUSHALL")
        .query_async::<()>(&mut c)
        .await
        .unwrap();
    assert_eq!(a.reregister(&k2, &p2).await.unwrap(), None);
    let op2 = completion("two", "t2");
    assert_eq!(
        b.complete(&k2, &op2, ttl).await.unwrap(),
        Disposition::Deliver
    );
    // 3: nothing lost: reregister of a known key is only a poll.
    assert_eq!(a.reregister(&k2, &p2).await.unwrap(), Some(op2));
    // (The heartbeats were flushed too; they come back on the next beat.)
    wait_for("forwarded delivery after the re-registration", || {
        a_got.got.lock().unwrap().len() == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_subscription_is_restored_and_resynced() {
    let redis = LocalRedis::start().unwrap();
    let (a, a_got) = store(&redis, "inst-a").await;
    let (b, _) = store(&redis, "inst-b").await;
    let mut c = raw(&redis).await;
    let k = OperationKey::new("c", "sub");
    a.register(&k, &pending("c", "sub", 60_000)).await.unwrap();
    let before = *a_got.resyncs.lock().unwrap();
    redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async::<i64>(&mut c)
        .await
        .unwrap();
    wait_for("a resync after resubscribing", || {
        *a_got.resyncs.lock().unwrap() > before && a.is_healthy()
    })
    .await;
    let op = completion("sub", "t");
    assert_eq!(
        b.complete(&k, &op, Duration::from_secs(60)).await.unwrap(),
        Disposition::Deliver
    );
    wait_for("delivery over the new subscription", || {
        a_got.got.lock().unwrap().len() == 1
    })
    .await;
}
