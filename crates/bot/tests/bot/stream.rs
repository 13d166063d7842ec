//! `streamWhileRecording` end to end (issue 16): the legacy `record` asks
//! for it, the emulator announces the location when recording starts and
//! serves the recording as it grows, and the bot analyses it live. Ordering
//! is asserted with the emulator's delivery log (when each notification
//! POST started), never with a timing threshold.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use voxcap_bot::emulated::EmulatedSetup;
use voxcap_bot::{ApiKind, LiveEvent, LiveEvents, Outcome, OutcomeKind, RecordPlan, RecordSpec};
use voxcap_emulator::{EmulatorConfig, RunningEmulator};
use voxcap_testkit::emulated::emulator_config;

/// An emulator at half real time: a 3 s recording takes 1.5 s, long
/// enough for "during the recording" to mean something, short for CI.
async fn half_speed() -> EmulatedSetup {
    let config = EmulatorConfig {
        time_scale: 0.5,
        ..emulator_config()
    };
    let emu = RunningEmulator::start(([127, 0, 0, 1], 0).into(), config)
        .await
        .unwrap();
    EmulatedSetup::with_bot_config(emu, |c| c.deadline_margin = Duration::from_secs(1))
        .await
        .unwrap()
}

/// A caller who presses 5, speaks, then presses the stop tone #.
fn caller(tail: Value) -> Value {
    json!({"seed": 21, "steps": [
        {"type": "pause", "ms": 300},
        {"type": "press", "digit": "5", "ms": 150},
        {"type": "pause", "ms": 200},
        {"type": "voice", "ms": 1200},
        {"type": "pause", "ms": 300},
        tail,
        {"type": "silence"}
    ]})
}

/// Each live event with the moment the bot's callback saw it.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(SystemTime, LiveEvent)>>>;

fn streaming_plan(api: ApiKind, dir: &Path, seen: &Seen) -> RecordPlan {
    // Short timers: a hang-up is only noticed at the deadline, initial
    // silence + max record + the 1 s margin (6 s).
    let spec = RecordSpec {
        stop_tones: "#".into(),
        initial_silence_s: 1,
        max_record_s: 4,
        ..RecordSpec::default()
    };
    let seen = seen.clone();
    RecordPlan {
        stream_while_recording: true,
        live_events: Some(LiveEvents::new(move |e| {
            seen.lock().unwrap().push((SystemTime::now(), e.clone()));
        })),
        ..RecordPlan::new(api, &spec, dir)
    }
}

async fn record(s: &EmulatedSetup, scenario: &Value, plan: &RecordPlan) -> Outcome {
    let call = s.create_call(Some(scenario)).await.unwrap();
    s.bot.record(&call, plan).await.unwrap()
}

fn digits(seen: &Seen) -> Vec<(SystemTime, char)> {
    seen.lock()
        .unwrap()
        .iter()
        .filter_map(|(at, e)| match e {
            LiveEvent::Digit { digit, .. } => Some((*at, *digit)),
            _ => None,
        })
        .collect()
}

/// When the emulator started POSTing each record-operation notification.
fn record_deliveries(s: &EmulatedSetup) -> Vec<SystemTime> {
    s.emulator
        .deliveries()
        .iter()
        .filter(|d| d.has_record_operation())
        .map(|d| d.at)
        .collect()
}

#[tokio::test]
async fn digits_are_reported_while_the_recording_is_still_in_progress() {
    let s = half_speed().await;
    let dir = tempfile::tempdir().unwrap();
    let seen = Seen::default();
    let plan = streaming_plan(ApiKind::LegacyRecord, dir.path(), &seen);
    let o = record(
        &s,
        &caller(json!({"type": "press", "digit": "#", "ms": 120})),
        &plan,
    )
    .await;
    assert_eq!(o.kind, OutcomeKind::Recorded, "{:?}", o.operation);
    assert!(o.streamed, "the analysed copy is the streamed one");
    assert_eq!(o.json["streamed"], json!(true));
    assert_eq!(
        o.operation.completion_reason.as_deref(),
        Some("stopToneDetected")
    );
    let report = o.report.as_ref().unwrap();
    let reported: Vec<char> = report.dtmf.iter().map(|d| d.digit).collect();
    assert_eq!(reported, vec!['5', '#']);
    // The live digits are the report's, and the first came while the
    // caller was still on: before the emulator even sent the completion.
    let live = digits(&seen);
    assert_eq!(live.iter().map(|d| d.1).collect::<Vec<_>>(), reported);
    let posts = record_deliveries(&s);
    assert_eq!(posts.len(), 2, "the early location, then the completion");
    let (early, completion) = (posts[0], posts[1]);
    assert!(
        early < live[0].0,
        "the download began at the early location"
    );
    assert!(
        live[0].0 < completion,
        "digit 5 seen before the completion was sent"
    );
    // Speech hints and progress came too, in stream order.
    let events: Vec<LiveEvent> = seen.lock().unwrap().iter().map(|e| e.1.clone()).collect();
    let start = events
        .iter()
        .position(|e| matches!(e, LiveEvent::SpeechStart { .. }));
    let five = events
        .iter()
        .position(|e| matches!(e, LiveEvent::Digit { digit: '5', .. }));
    assert!(five < start && start.is_some(), "{events:?}");
    assert!(events
        .iter()
        .any(|e| matches!(e, LiveEvent::Progress { .. })));
    // The file kept is the bytes served, streaming header and all; its
    // analysis is the report's.
    let wav = std::fs::read(&o.files.as_ref().unwrap().wav).unwrap();
    assert_eq!(&wav[40..44], &[0xFF; 4]);
    assert_eq!(o.download.as_ref().unwrap().bytes, wav.len() as u64);
    // One download only: the completion's location was the streamed one.
    let downloads = s.emulator.state.download_counts();
    let total: u64 = downloads.values().map(|c| c.from_start + c.resumed).sum();
    assert_eq!(total, 1);
    s.stop().await;
}

#[tokio::test]
async fn a_hang_up_ends_the_stream_and_the_operation_is_lost_with_nothing_kept() {
    let s = half_speed().await;
    let dir = tempfile::tempdir().unwrap();
    let seen = Seen::default();
    let plan = streaming_plan(ApiKind::LegacyRecord, dir.path(), &seen);
    let o = record(&s, &caller(json!({"type": "hangup"})), &plan).await;
    assert_eq!(o.kind, OutcomeKind::Lost, "{:?}", o.operation);
    // The digit was seen live, but without a completion nothing but the
    // outcome's JSON is kept.
    assert_eq!(
        digits(&seen).iter().map(|d| d.1).collect::<Vec<_>>(),
        vec!['5']
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with(".json"), "{names:?}");
    s.stop().await;
}

#[tokio::test]
async fn record_response_has_no_stream_and_downloads_after_the_completion() {
    let s = half_speed().await;
    let dir = tempfile::tempdir().unwrap();
    let seen = Seen::default();
    let plan = streaming_plan(ApiKind::RecordResponse, dir.path(), &seen);
    let o = record(
        &s,
        &caller(json!({"type": "press", "digit": "#", "ms": 120})),
        &plan,
    )
    .await;
    assert_eq!(o.kind, OutcomeKind::Recorded);
    assert!(!o.streamed);
    assert!(o.json.get("streamed").is_none());
    assert!(
        seen.lock().unwrap().is_empty(),
        "no live events without a stream"
    );
    assert_eq!(record_deliveries(&s).len(), 1);
    s.stop().await;
}

/// A stream cut mid-way: once, the download asks again (the growing file
/// ignores `Range`, so the new body's prefix is skipped) and the streamed
/// copy is used; on every attempt, the stream fails and the recording is
/// downloaded again from the completion's location.
#[tokio::test]
async fn a_broken_stream_is_resumed_or_downloaded_again_after_the_completion() {
    struct Case {
        name: &'static str,
        drop_after: u64,
        drop_times: u32,
        streamed: bool,
    }
    let cases = [
        Case {
            name: "cut once at 0.6 s",
            drop_after: 20_000,
            drop_times: 1,
            streamed: true,
        },
        Case {
            name: "cut on all five attempts",
            drop_after: 2_000,
            drop_times: 5,
            streamed: false,
        },
    ];
    let s = half_speed().await;
    for case in cases {
        let dir = tempfile::tempdir().unwrap();
        let seen = Seen::default();
        let plan = streaming_plan(ApiKind::LegacyRecord, dir.path(), &seen);
        let mut scenario = caller(json!({"type": "press", "digit": "#", "ms": 120}));
        scenario["faults"] =
            json!({"drop_after_bytes": case.drop_after, "drop_times": case.drop_times});
        let o = record(&s, &scenario, &plan).await;
        assert_eq!(
            o.kind,
            OutcomeKind::Recorded,
            "{}: {:?}",
            case.name,
            o.operation
        );
        assert_eq!(o.streamed, case.streamed, "{}", case.name);
        let report = o.report.as_ref().unwrap();
        let reported: Vec<char> = report.dtmf.iter().map(|d| d.digit).collect();
        assert_eq!(reported, vec!['5', '#'], "{}", case.name);
        let info = o.download.as_ref().unwrap();
        let wav = std::fs::read(&o.files.as_ref().unwrap().wav).unwrap();
        assert_eq!(info.bytes, wav.len() as u64, "{}", case.name);
        if case.streamed {
            assert_eq!((info.attempts, info.restarted), (2, 1), "{}", case.name);
            assert_eq!(digits(&seen).len(), 2, "{}", case.name);
        } else {
            // The completed recording, downloaded whole: its true sizes.
            assert_ne!(&wav[40..44], &[0xFF; 4], "{}", case.name);
        }
    }
    s.stop().await;
}
