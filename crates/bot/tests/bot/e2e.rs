//! End-to-end tests of the library: the record flow against an in-process
//! `voxcap-emulator`, one test per emulator fault, plus the voice-mail
//! example, 100 concurrent operations, the notification-to-report latency
//! and a TRACE capture checked for secrets. (The `voxcap record` binary's
//! own tests are in the root's `tests/cli/record.rs`.)
//!
//! Every bot here validates notification JWTs for real (audience = the
//! emulator's app id, keys from its OpenID configuration).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use voxcap_bot::emulated::{self, EmulatedSetup};
use voxcap_bot::{ApiKind, Outcome, OutcomeKind, RecordPlan};
use voxcap_capture::wire::RecordResponseRequest;
use voxcap_dsp::verify::CompletionVerdict;
use voxcap_emulator::RunningEmulator;
use voxcap_testkit::emulated::emulator_config;
use voxcap_testkit::graph::record_completion;
use voxcap_testkit::trace::{longest_hex_run, trace_capture};
use voxcap_testkit::{base64url, wait_until_async};

use crate::shared::{assert_provenance, stop_tone_caller};

// ---- harness ----------------------------------------------------------------

async fn setup() -> EmulatedSetup {
    EmulatedSetup::start(emulator_config()).await.unwrap()
}

async fn setup_with_margin(margin: Duration) -> EmulatedSetup {
    let emu = RunningEmulator::start(([127, 0, 0, 1], 0).into(), emulator_config())
        .await
        .unwrap();
    EmulatedSetup::with_bot_config(emu, |c| c.deadline_margin = margin)
        .await
        .unwrap()
}

fn plan(dir: &Path) -> RecordPlan {
    RecordPlan {
        api: ApiKind::RecordResponse,
        request: RecordResponseRequest {
            stop_tones: vec!["#".into()],
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

async fn record(setup: &EmulatedSetup, scenario: &Value, dir: &Path) -> anyhow::Result<Outcome> {
    let call = setup.create_call(Some(scenario)).await?;
    Ok(setup.bot.record(&call, &plan(dir)).await?)
}

/// Checks a recorded outcome: files in place, JSON on disk equal to the
/// outcome's, the operation paired, and the verdict.
fn check_recorded(o: &Outcome, reason: &str, verdict: CompletionVerdict) -> Vec<u8> {
    assert_eq!(o.kind, OutcomeKind::Recorded, "{:?}", o.operation);
    assert_eq!(o.operation.status, "completed");
    assert_eq!(o.operation.completion_reason.as_deref(), Some(reason));
    let report = o.report.as_ref().expect("a report");
    assert_eq!(
        report.completion.verdict, verdict,
        "{:?}",
        report.completion
    );
    let files = o.files.as_ref().expect("files");
    let json_path = o.json_path.as_ref().expect("json");
    let on_disk: Value = serde_json::from_slice(&std::fs::read(json_path).unwrap()).unwrap();
    assert_eq!(on_disk, o.json);
    assert_eq!(on_disk["operation"]["id"], json!(o.operation.id));
    assert_eq!(
        json_path.file_name().unwrap().to_string_lossy(),
        format!("{}.json", o.operation.id.replace('-', ""))
    );
    let trimmed = std::fs::read(&files.trimmed).unwrap();
    assert!(trimmed.len() > 44 && &trimmed[..4] == b"RIFF");
    assert_provenance(o);
    std::fs::read(&files.wav).unwrap()
}

/// No partial or temp file may be left in `dir`.
fn assert_no_leftovers(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".part"), "leftover temp file {name}");
    }
}

async fn emulator_call(setup: &EmulatedSetup, call: &str) -> Value {
    let url = format!("{}/_emulator/calls/{call}", setup.emulator.base_url);
    let r = setup.bot.client().http().get(url).send().await.unwrap();
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

// ---- happy path and the faults ---------------------------------------------------

#[tokio::test]
async fn stop_tone_answer_is_recorded_analysed_and_marked_consistent() {
    let s = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let call = s
        .create_call(Some(&stop_tone_caller(json!({}))))
        .await
        .unwrap();
    let o = s.bot.record(&call, &plan(dir.path())).await.unwrap();
    let wav = check_recorded(&o, "stopToneDetected", CompletionVerdict::Consistent);
    let report = o.report.unwrap();
    assert_eq!(report.dtmf.len(), 1);
    assert_eq!(report.dtmf[0].digit, '#');
    assert_eq!(wav.len() as f64, 44.0 + 2.0 * 16_000.0 * report.duration_s);
    // Compliance: recording before the download, notRecording after.
    let c = emulator_call(&s, &call).await;
    assert_eq!(c["recordingStatus"], json!(["recording", "notRecording"]));
    assert_no_leftovers(dir.path());
}

#[tokio::test]
async fn throttled_429_and_503_are_retried_after_retry_after() {
    for status in [429, 503] {
        let s = setup().await;
        let dir = tempfile::tempdir().unwrap();
        let faults = json!({"throttle": {"status": status, "count": 2, "retry_after_s": 1}});
        let start = Instant::now();
        let o = record(&s, &stop_tone_caller(faults), dir.path())
            .await
            .unwrap();
        // Two refused requests, each followed by the 1 s the server asked for.
        assert!(
            start.elapsed() >= Duration::from_secs(2),
            "{status}: {:?}",
            start.elapsed()
        );
        check_recorded(&o, "stopToneDetected", CompletionVerdict::Consistent);
    }
}

#[tokio::test]
async fn dropped_download_is_resumed_with_range_byte_for_byte() {
    let s = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let clean = record(&s, &stop_tone_caller(json!({})), dir.path())
        .await
        .unwrap();
    let expected = check_recorded(&clean, "stopToneDetected", CompletionVerdict::Consistent);
    let faults = json!({"drop_after_bytes": 20_000, "drop_times": 2});
    let o = record(&s, &stop_tone_caller(faults), dir.path())
        .await
        .unwrap();
    let got = check_recorded(&o, "stopToneDetected", CompletionVerdict::Consistent);
    let info = o.download.unwrap();
    assert_eq!(info.resumed, 2, "{info:?}");
    assert_eq!(info.restarted, 0);
    // The same script with the same seed renders the same bytes.
    assert_eq!(
        got, expected,
        "resumed file differs from what the emulator served"
    );
    assert_eq!(o.report.unwrap(), {
        let mut r = clean.report.unwrap();
        r.file = format!("{}.wav", o.operation.id.replace('-', ""));
        r
    });
    assert_no_leftovers(dir.path());
}

#[tokio::test]
async fn refused_range_restarts_the_download_from_zero() {
    let s = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let clean = record(&s, &stop_tone_caller(json!({})), dir.path())
        .await
        .unwrap();
    let expected = check_recorded(&clean, "stopToneDetected", CompletionVerdict::Consistent);
    let faults = json!({"drop_after_bytes": 20_000, "range_disabled": true});
    let o = record(&s, &stop_tone_caller(faults), dir.path())
        .await
        .unwrap();
    let got = check_recorded(&o, "stopToneDetected", CompletionVerdict::Consistent);
    let info = o.download.unwrap();
    assert_eq!((info.resumed, info.restarted), (0, 1), "{info:?}");
    assert_eq!(got, expected);
    assert_no_leftovers(dir.path());
}

#[tokio::test]
async fn early_duplicate_interleaved_and_in_response_completions_resolve_once() {
    let cases = [
        json!({"completion_before_response": true}),
        json!({"duplicate_completion": true}),
        json!({"interleave_unrelated": true}),
        json!({"completed_in_response": true}),
        json!({"pascal_case_status": true}),
        json!({"duplicate_completion": true, "completion_before_response": true}),
    ];
    let s = setup().await;
    let dir = tempfile::tempdir().unwrap();
    for faults in cases {
        let o = record(&s, &stop_tone_caller(faults.clone()), dir.path())
            .await
            .unwrap_or_else(|e| panic!("{faults}: {e:#}"));
        check_recorded(&o, "stopToneDetected", CompletionVerdict::Consistent);
    }
    // One set of files per operation and the audit trail, nothing else.
    let n = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(n, 3 * 6 + 1);
}

#[tokio::test]
async fn lying_service_is_caught_as_inconsistent() {
    let s = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let faults = json!({"lie_completion_reason": "maxSilenceTimeout"});
    let o = record(&s, &stop_tone_caller(faults), dir.path())
        .await
        .unwrap();
    check_recorded(&o, "maxSilenceTimeout", CompletionVerdict::Inconsistent);
    assert_eq!(o.operation.result_info.subcode, Some(8509));
}

#[tokio::test]
async fn expired_download_token_is_a_clear_error_and_leaves_no_file() {
    let s = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let faults = json!({"expired_download_token": true});
    let err = record(&s, &stop_tone_caller(faults), dir.path())
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("downloading the recording"), "{msg}");
    assert!(msg.contains("401"), "{msg}");
    assert!(msg.to_lowercase().contains("token"), "{msg}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "files left: {left:?}");
}

#[tokio::test]
async fn graph_reported_failure_is_failed_with_result_info_and_a_report() {
    let s = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let silent = json!({"seed": 3, "steps": [{"type": "silence"}]});
    let call = s.create_call(Some(&silent)).await.unwrap();
    let mut p = plan(dir.path());
    // Below max record: a tie would go to maxRecordDurationReached.
    p.request.initial_silence_timeout_in_seconds = 2;
    let o = s.bot.record(&call, &p).await.unwrap();
    assert_eq!(o.kind, OutcomeKind::Failed, "{:#}", o.json);
    assert_eq!(
        o.operation.completion_reason.as_deref(),
        Some("initialSilenceTimeout")
    );
    assert_eq!(o.operation.result_info.subcode, Some(8510));
    assert_provenance(&o);
    let on_disk: Value =
        serde_json::from_slice(&std::fs::read(o.json_path.unwrap()).unwrap()).unwrap();
    assert_eq!(on_disk["operation"]["status"], "failed");
}

#[tokio::test]
async fn forged_unsigned_or_expired_jwt_is_refused_with_401_and_ignored() {
    let s = setup_with_margin(Duration::from_secs(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let call = s
        .create_call(Some(&stop_tone_caller(
            json!({"suppress_completion": true}),
        )))
        .await
        .unwrap();
    let mut p = plan(dir.path());
    p.request.initial_silence_timeout_in_seconds = 1;
    p.request.max_record_duration_in_seconds = 1;
    let forge = async {
        // Wait for the operation, then forge its completion three ways.
        let op = loop {
            let c = emulator_call(&s, &call).await;
            let ops = c["operations"].as_array().cloned().unwrap_or_default();
            if let Some(id) = ops
                .iter()
                .find(|o| {
                    o["kind"] == "recordResponse"
                        || o["body"]["@odata.type"] == "#microsoft.graph.recordOperation"
                })
                .and_then(|o| o["body"]["id"].as_str().map(String::from))
            {
                break id;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let body = json!({
            "@odata.type": "#microsoft.graph.commsNotifications",
            "value": [record_completion(&call, &op, json!({
                "recordingLocation": format!("{}/recordings/forged", s.emulator.base_url),
                "recordingAccessToken": "forged",
                "resultInfo": {"code": 200, "subcode": 8514, "message": "forged"}
            }))]
        });
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = |iat: u64, exp: u64| {
            json!({"aud": voxcap_emulator::server::TEST_CLIENT_ID,
                   "iss": "https://graph.microsoft.com",
                   "tid": voxcap_emulator::server::TEST_TENANT_ID,
                   "iat": iat, "nbf": iat, "exp": exp})
        };
        let other_key = voxcap_emulator::signing::EmulatorKey::generate().unwrap();
        let forged = other_key.sign(&claims(now, now + 3600));
        let expired = s.emulator.state.key().sign(&claims(now - 7200, now - 3600));
        let unsigned = format!(
            "{}.{}.",
            base64url::encode(br#"{"alg":"none","typ":"JWT"}"#),
            base64url::encode(claims(now, now + 3600).to_string().as_bytes())
        );
        // Signed correctly but for another app.
        let mut other_aud = claims(now, now + 3600);
        other_aud["aud"] = json!("00000000-0000-0000-0000-00000000beef");
        let wrong_audience = s.emulator.state.key().sign(&other_aud);
        for (what, token) in [
            ("forged", Some(forged)),
            ("expired", Some(expired)),
            ("unsigned", Some(unsigned)),
            ("wrong audience", Some(wrong_audience)),
            ("missing", None),
        ] {
            let mut req = s
                .bot
                .client()
                .http()
                .post(s.bot.callback_url())
                .header("content-type", "application/json")
                .body(body.to_string());
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let status = req.send().await.unwrap().status().as_u16();
            assert_eq!(status, 401, "{what} token was not refused");
        }
    };
    let (outcome, ()) = tokio::join!(s.bot.record(&call, &p), forge);
    let o = outcome.unwrap();
    // The forged completions were ignored: the operation is lost, not completed.
    assert_eq!(o.kind, OutcomeKind::Lost, "{:?}", o.operation);
    assert!(o.files.is_none());
}

// ---- the example ----------------------------------------------------------------

#[tokio::test]
async fn voicemail_bot_example_records_and_stores_a_message() {
    use voxcap_capture::{GraphClient, JwtConfig, NotificationAuth, OperationTracker};
    let emu = RunningEmulator::start(([127, 0, 0, 1], 0).into(), emulator_config())
        .await
        .unwrap();
    let graph = GraphClient::builder()
        .base_url(format!("{}/v1.0", emu.base_url))
        .client_credentials(emulated::test_credentials(&emu))
        .build()
        .unwrap();
    let mut jwt = JwtConfig::new(voxcap_emulator::server::TEST_CLIENT_ID);
    jwt.openid_config_url = emu.state.openid_config_url();
    let auth = NotificationAuth::jwt(graph.http().clone(), jwt);
    let dir = tempfile::tempdir().unwrap();
    let bot = crate::voicemail_bot::Bot {
        tracker: OperationTracker::new(graph.clone(), Default::default()),
        out_dir: Arc::new(dir.path().to_path_buf()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = crate::voicemail_bot::app(bot.clone(), auth)
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let call = emulated::create_call(
        &graph,
        &emu,
        &format!("http://{addr}/api/calls"),
        Some(&stop_tone_caller(json!({}))),
    )
    .await
    .unwrap();
    // Through the bot's own route, as its users would.
    let r = graph
        .http()
        .post(format!("http://{addr}/calls/{call}/voicemail"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let stored = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "json"))
    };
    wait_until_async("a stored message", Duration::from_secs(20), || {
        std::future::ready(stored().is_some())
    })
    .await;
    let json = stored().expect("a stored message");
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["dtmf"][0]["digit"], "#");
    assert!(json.with_extension("wav").is_file());
    // And the core function directly.
    let call2 = emulated::create_call(
        &graph,
        &emu,
        &format!("http://{addr}/api/calls"),
        Some(&stop_tone_caller(json!({}))),
    )
    .await
    .unwrap();
    let report = crate::voicemail_bot::take(&bot, &call2).await.unwrap();
    assert!(report.quality.speech_s > 1.0);
}

// ---- scale, latency, secrets --------------------------------------------------------

/// Caller `i` speaks for 1 s + 20 ms * i, then stays silent: with a 1 s
/// max-silence timer its recording lasts 2.6 s + 20 ms * i, which tells
/// every operation's file apart.
fn numbered_caller(i: usize) -> Value {
    json!({"seed": i, "steps": [
        {"type": "pause", "ms": 600},
        {"type": "voice", "ms": 1000 + 20 * i},
        {"type": "silence"}
    ]})
}

#[test]
fn hundred_concurrent_record_operations_complete_correctly_paired() {
    let rt = voxcap_testkit::two_worker_runtime();
    rt.block_on(async {
        let s = Arc::new(setup().await);
        let dir = tempfile::tempdir().unwrap();
        let mut tasks = Vec::new();
        for i in 0..100 {
            let s = s.clone();
            let d = dir.path().to_path_buf();
            tasks.push(tokio::spawn(async move {
                let call = s.create_call(Some(&numbered_caller(i))).await.unwrap();
                let mut p = plan(&d);
                p.request.max_silence_timeout_in_seconds = 1;
                p.request.client_context = Some(format!("op-{i}"));
                let o = s.bot.record(&call, &p).await.unwrap();
                (i, o)
            }));
        }
        let mut ids = std::collections::HashSet::new();
        for t in tasks {
            let (i, o) = t.await.unwrap();
            assert_eq!(o.kind, OutcomeKind::Recorded, "{i}: {:?}", o.operation);
            assert_eq!(
                o.operation.client_context.as_deref(),
                Some(&*format!("op-{i}"))
            );
            assert_eq!(
                o.operation.completion_reason.as_deref(),
                Some("maxSilenceTimeout")
            );
            let r = o.report.as_ref().unwrap();
            let expected = 2.6 + 0.02 * i as f64;
            assert!(
                (r.duration_s - expected).abs() < 0.005,
                "{i}: {} s",
                r.duration_s
            );
            assert!(ids.insert(o.operation.id.clone()));
        }
        // Three files per operation, and the audit trail.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 301);
    });
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        for line in status.lines().filter(|l| l.starts_with("VmHWM")) {
            eprintln!("hundred_concurrent: {line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_to_report_on_a_five_second_recording() {
    let s = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let talker = json!({"seed": 5, "steps": [
        {"type": "pause", "ms": 300}, {"type": "voice", "ms": 6000}, {"type": "silence"}
    ]});
    let mut lat = Vec::new();
    for _ in 0..10 {
        let o = record(&s, &talker, dir.path()).await.unwrap();
        check_recorded(
            &o,
            "maxRecordDurationReached",
            CompletionVerdict::Consistent,
        );
        assert_eq!(o.download.as_ref().unwrap().bytes, 160_044);
        lat.push(o.notification_to_report.unwrap());
    }
    lat.sort();
    // Reported, not asserted: timing belongs in benches, not in pass/fail.
    eprintln!(
        "notification -> report on a 5 s recording: min {:.1} ms, median {:.1} ms, max {:.1} ms",
        lat[0].as_secs_f64() * 1e3,
        lat[lat.len() / 2].as_secs_f64() * 1e3,
        lat[lat.len() - 1].as_secs_f64() * 1e3
    );
}

#[test]
fn no_token_or_secret_appears_in_trace_output_of_a_full_record_run() {
    // The emulator runs on its own runtime outside the capture, so only the
    // bot's output is checked.
    let emu_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let emu = emu_rt
        .block_on(RunningEmulator::start(
            ([127, 0, 0, 1], 0).into(),
            emulator_config(),
        ))
        .unwrap();
    let (captured, subscriber) = trace_capture();
    let errors = tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let s =
                EmulatedSetup::with_bot_config(emu, |c| c.deadline_margin = Duration::from_secs(1))
                    .await
                    .unwrap();
            let dir = tempfile::tempdir().unwrap();
            let mut errors = Vec::new();
            // A full run with a retry and a resumed download.
            let faults = json!({"throttle": {"status": 429, "count": 1, "retry_after_s": 0},
                                "drop_after_bytes": 5000});
            let o = record(&s, &stop_tone_caller(faults), dir.path())
                .await
                .unwrap();
            check_recorded(&o, "stopToneDetected", CompletionVerdict::Consistent);
            // Hashes of the audio and settings are 64 hex digits too, and
            // public: taken out before the token check.
            let p = &o.json["provenance"];
            // The tenant of the verified notification token.
            assert_eq!(p["tenantId"], voxcap_emulator::server::TEST_TENANT_ID);
            let mut text = format!("{o:?}");
            let stored = p["stored"].as_array().unwrap().iter().map(|f| &f["sha256"]);
            for h in [&p["sha256"], &p["settingsSha256"]]
                .into_iter()
                .chain(stored)
            {
                text = text.replace(h.as_str().unwrap(), "<sha256>");
            }
            errors.push(text);
            // Failure paths format errors too.
            let e = record(
                &s,
                &stop_tone_caller(json!({"expired_download_token": true})),
                dir.path(),
            )
            .await
            .unwrap_err();
            errors.push(format!("{e:#} {e:?}"));
            errors.push(format!("{:?}", s.bot));
            s.stop().await;
            errors
        })
    });
    drop(emu_rt);
    let log = captured.text();
    assert!(
        log.contains("TRACE") && log.contains("DEBUG"),
        "nothing captured"
    );
    for text in std::iter::once(&log).chain(&errors) {
        // JWTs (app tokens, notification tokens) all start with a base64 `{"`.
        assert!(!text.contains("eyJ"), "a JWT leaked");
        assert!(
            !text.contains(voxcap_emulator::server::TEST_CLIENT_SECRET),
            "client secret leaked"
        );
        assert!(longest_hex_run(text) < 48, "a recording token leaked");
    }
}

#[tokio::test]
async fn beta_and_legacy_record_apis_complete_and_verify() {
    // Beta: the bot's Graph URL ends in /beta.
    let emu = RunningEmulator::start(([127, 0, 0, 1], 0).into(), emulator_config())
        .await
        .unwrap();
    let beta_url = format!("{}/beta", emu.base_url);
    let s = EmulatedSetup::with_bot_config(emu, |c| c.graph_url = beta_url)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let o = record(&s, &stop_tone_caller(json!({})), dir.path())
        .await
        .unwrap();
    check_recorded(&o, "stopToneDetected", CompletionVerdict::Consistent);
    // Legacy beta `record`, whose notifications use the old field names.
    let call = s
        .create_call(Some(&stop_tone_caller(json!({}))))
        .await
        .unwrap();
    let mut p = plan(dir.path());
    p.api = ApiKind::LegacyRecord;
    let o = s.bot.record(&call, &p).await.unwrap();
    check_recorded(&o, "stopToneDetected", CompletionVerdict::Consistent);
}

#[tokio::test]
async fn without_recording_status_nothing_is_persisted() {
    let s = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let call = s
        .create_call(Some(&stop_tone_caller(json!({}))))
        .await
        .unwrap();
    let mut p = plan(dir.path());
    p.recording_status = false;
    let o = s.bot.record(&call, &p).await.unwrap();
    assert_eq!(o.kind, OutcomeKind::Recorded);
    assert_eq!(
        o.operation.completion_reason.as_deref(),
        Some("stopToneDetected")
    );
    assert!(o.files.is_none() && o.json_path.is_none() && o.report.is_none());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let c = emulator_call(&s, &call).await;
    assert_eq!(c["recordingStatus"], json!([]));
}
