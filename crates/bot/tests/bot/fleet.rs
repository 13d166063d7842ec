//! A bot fleet on Redis, in process: a real `redis-server` on loopback
//! (`LocalRedis`), the in-process Graph emulator and bots sharing the Redis
//! operation store, through a Redis restart that forgets everything and a
//! completion that arrives while Redis is down. (The `voxcap serve` and
//! `record --redis` processes are tested in the root's tests/cli/fleet.rs.)

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::task::JoinHandle;
use voxcap_bot::emulated::create_call;
use voxcap_bot::{Bot, Outcome, OutcomeKind};
use voxcap_emulator::RunningEmulator;
use voxcap_testkit::redis_conn::{redis_conn, wait_unfinished};
use voxcap_testkit::{two_worker_runtime as runtime, wait_until_async, LocalRedis};

use crate::shared::{fleet_bot, fleet_plan as plan};

async fn emulator_at(time_scale: f64) -> RunningEmulator {
    voxcap_testkit::emulated::log_from_env("FLEET_LOG");
    voxcap_testkit::emulated::start_emulator(time_scale).await
}

/// Creates a call on `emu` notifying `other`, whose caller (voice `seed`)
/// speaks for `voice_ms` after 0.3 s and then presses `#`, and starts
/// `owner` recording it with `#` as its stop tone into `dir`. Returns the
/// call id and the recording task.
async fn record_hash_press(
    owner: &Arc<Bot>,
    other: &Bot,
    emu: &RunningEmulator,
    seed: u64,
    voice_ms: u64,
    dir: &Path,
) -> (String, JoinHandle<voxcap_bot::Result<Outcome>>) {
    let call = create_call(
        owner.client(),
        emu,
        other.callback_url(),
        Some(&json!({"seed": seed, "steps": [
            {"type": "pause", "ms": 300}, {"type": "voice", "ms": voice_ms},
            {"type": "press", "digit": "#", "ms": 120}, {"type": "silence"}]})),
    )
    .await
    .unwrap();
    let mut p = plan(dir, 0);
    p.request.stop_tones = vec!["#".into()];
    let task = {
        let owner = owner.clone();
        let call = call.clone();
        tokio::spawn(async move { owner.record(&call, &p).await })
    };
    (call, task)
}

/// The recording `task` ended recorded, by the `#`, less than `limit`
/// after `start`.
async fn assert_recorded_by_hash(
    task: JoinHandle<voxcap_bot::Result<Outcome>>,
    start: Instant,
    limit: Duration,
) {
    let o = task.await.unwrap().unwrap();
    assert_eq!(o.kind, OutcomeKind::Recorded, "{:?}", o.operation);
    crate::shared::assert_provenance(&o);
    assert_eq!(
        o.operation.completion_reason.as_deref(),
        Some("stopToneDetected")
    );
    assert!(start.elapsed() < limit, "{:?}", start.elapsed());
}

#[test]
fn a_redis_restart_that_forgets_everything_loses_no_recording() {
    let rt = runtime();
    let redis = LocalRedis::start().expect("redis-server (installed by .ci/run)");
    rt.block_on(async {
        let emu = emulator_at(1.0).await;
        let owner = fleet_bot(&emu, &redis, "owner-r").await;
        let other = fleet_bot(&emu, &redis, "other-r").await;
        // The completion comes 2.5 s in, at the other instance.
        let dir = tempfile::tempdir().unwrap();
        let owner = Arc::new(owner);
        let (_, task) = record_hash_press(&owner, &other, &emu, 5, 2000, dir.path()).await;
        let mut conn = redis_conn(&redis).await;
        let start = Instant::now();
        wait_unfinished(&mut conn, 1, String::new).await;
        // "Restart" Redis without persistence: every key gone, every
        // subscriber disconnected.
        redis::cmd("FLUSHALL")
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
        redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("pubsub")
            .query_async::<i64>(&mut conn)
            .await
            .unwrap();
        // Well before the deadline (5 + 5 + 10 s): delivered, not found late.
        assert_recorded_by_hash(task, start, Duration::from_secs(8)).await;
        drop(other);
    });
}

#[test]
fn a_completion_arriving_while_redis_is_down_is_delivered_after_it_restarts() {
    let rt = runtime();
    let mut redis = LocalRedis::start().expect("redis-server (installed by .ci/run)");
    rt.block_on(async {
        let emu = emulator_at(1.0).await;
        let owner = Arc::new(fleet_bot(&emu, &redis, "owner-d").await);
        let other = fleet_bot(&emu, &redis, "other-d").await;
        // The completion comes 1.4 s in, at the other instance, while Redis
        // is down.
        let dir = tempfile::tempdir().unwrap();
        let (call_id, task) = record_hash_press(&owner, &other, &emu, 6, 1000, dir.path()).await;
        let start = Instant::now();
        wait_unfinished(&mut redis_conn(&redis).await, 1, String::new).await;
        let record_done = |emu: &RunningEmulator| {
            let url = format!("{}/_emulator/calls/{call_id}", emu.base_url);
            let http = owner.client().http().clone();
            async move {
                let body = http.get(url).send().await.unwrap();
                let v: Value = serde_json::from_slice(&body.bytes().await.unwrap()).unwrap();
                v["operations"].as_array().is_some_and(|ops| {
                    ops.iter()
                        .any(|o| o["kind"] == "record" && o["running"] == false)
                })
            }
        };
        redis.kill();
        let killed_at = start.elapsed();
        // Wait until the emulator has completed the operation (and so sent
        // the completion to the other instance).
        wait_until_async("the completion to be sent", Duration::from_secs(10), || {
            record_done(&emu)
        })
        .await;
        let completed_at = start.elapsed();
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Back, empty.
        tokio::task::block_in_place(|| redis.restart()).unwrap();
        eprintln!(
            "redis down at {killed_at:?}, completion at {completed_at:?}, back at {:?}",
            start.elapsed()
        );
        assert_recorded_by_hash(task, start, Duration::from_secs(15)).await;
        drop(other);
    });
}
