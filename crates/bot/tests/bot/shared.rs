//! Set-up the bot's tests share with the root's `tests/cli` binary (which
//! includes this file by `#[path]`): the stop-tone caller, a fleet bot on a
//! [`LocalRedis`] and the fleet's record plan. The emulator itself comes
//! from `voxcap_testkit::emulated`.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use voxcap_bot::emulated::bot_config;
use voxcap_bot::{ApiKind, Bot, RecordPlan, StoreChoice};
use voxcap_capture::redis_store::RedisStoreConfig;
use voxcap_capture::wire::RecordResponseRequest;
use voxcap_emulator::RunningEmulator;
use voxcap_testkit::LocalRedis;

/// The caller answers for 1.2 s, pauses, presses `#`: `stopToneDetected`.
pub(crate) fn stop_tone_caller(faults: Value) -> Value {
    json!({
        "name": "e2e_stop_tone",
        "seed": 11,
        "faults": faults,
        "steps": [
            {"type": "pause", "ms": 600},
            {"type": "voice", "ms": 1200},
            {"type": "pause", "ms": 300},
            {"type": "press", "digit": "#", "ms": 120},
            {"type": "silence"}
        ]
    })
}

/// A bot in this process whose operations live in `redis`, as instance `id`
/// (2 s heartbeats, 10 s deadline margin).
pub(crate) async fn fleet_bot(emu: &RunningEmulator, redis: &LocalRedis, id: &str) -> Bot {
    fleet_bot_with_heartbeat(emu, redis, id, Duration::from_secs(2)).await
}

/// [`fleet_bot`] with heartbeats of `heartbeat_ttl`: a test that must see
/// no takeover gives its owners a long one, so that a loaded machine that
/// delays a heartbeat does not make them look dead.
pub(crate) async fn fleet_bot_with_heartbeat(
    emu: &RunningEmulator,
    redis: &LocalRedis,
    id: &str,
    heartbeat_ttl: Duration,
) -> Bot {
    let mut c = bot_config(emu);
    let mut rc = RedisStoreConfig::new(redis.url());
    rc.instance_id = id.into();
    rc.heartbeat_ttl = heartbeat_ttl;
    c.store = StoreChoice::Redis(rc);
    c.deadline_margin = Duration::from_secs(10);
    Bot::start(c).await.unwrap()
}

/// The fleet's record plan for operation `i`: recordResponse with a 1 s
/// max-silence timer and client context `fleet-<i>`, files into `dir`.
pub(crate) fn fleet_plan(dir: &Path, i: usize) -> RecordPlan {
    RecordPlan {
        api: ApiKind::RecordResponse,
        request: RecordResponseRequest {
            max_silence_timeout_in_seconds: 1,
            client_context: Some(format!("fleet-{i}")),
            ..RecordResponseRequest::default()
        },
        recording_status: true,
        prompt_duration: Duration::ZERO,
        out_dir: dir.to_path_buf(),
        stream_while_recording: false,
        live_events: None,
        trim: None,
    }
}

/// Checks an outcome's provenance block (see [`assert_report_provenance`]).
#[allow(dead_code)] // The root's tests check printed reports instead.
pub(crate) fn assert_provenance(o: &voxcap_bot::Outcome) {
    assert_eq!(o.json["provenance"]["operationId"], json!(o.operation.id));
    // Emulated bots verify notification JWTs: the tenant is the token's tid,
    // or none when the completion came in the POST's own response.
    let tenant = &o.json["provenance"]["tenantId"];
    assert!(
        tenant.is_null() || tenant == voxcap_emulator::server::TEST_TENANT_ID,
        "{tenant}"
    );
    let dir = o
        .files
        .as_ref()
        .map(|f| f.wav.parent().unwrap().to_path_buf());
    assert_report_provenance(&o.json, dir.as_deref());
}

/// Checks a report's provenance block: ids, version, times, the status
/// calls and, for a recording stored in `dir`, that its `sha256` and
/// `bytes` are those of the stored audio and every stored file's hash holds
/// (`voxcap_records::verify`), audit chain included.
pub(crate) fn assert_report_provenance(report: &Value, dir: Option<&Path>) {
    let p = &report["provenance"];
    assert_eq!(p["operationId"], report["operation"]["id"], "{p}");
    assert!(p["callId"].as_str().is_some_and(|c| !c.is_empty()), "{p}");
    assert_eq!(p["voxcapVersion"], env!("CARGO_PKG_VERSION"));
    assert!(
        p["notifiedAt"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{p}"
    );
    let Some(dir) = dir else { return };
    let calls: Vec<&str> = p["recordingStatusCalls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert!(calls.last() == Some(&"notRecording"), "{p}");
    assert!(
        p["downloadFinishedAt"].as_str() >= p["downloadStartedAt"].as_str(),
        "{p}"
    );
    assert_eq!(p["settingsSha256"].as_str().map(str::len), Some(64), "{p}");
    if p["encrypted"] == false && p.get("audioDeleted").is_none() {
        let wav = dir.join(p["stored"][0]["file"].as_str().unwrap());
        let audio = std::fs::read(wav).unwrap();
        assert_eq!(p["sha256"], voxcap_records::digest::sha256_hex(&audio));
        assert_eq!(p["bytes"], audio.len());
    }
    let v = voxcap_records::verify::verify_dir(dir).unwrap();
    assert!(v.mismatches.is_empty(), "{:?}", v.mismatches);
    assert!(v.files >= 2 || p.get("audioDeleted").is_some(), "{v:?}");
}
