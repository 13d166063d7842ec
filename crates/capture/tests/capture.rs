//! End-to-end tests of voxcap-capture against the in-test mock Graph: the
//! record → notification → permit → streaming download flow, and every
//! fault the issue lists (throttling, dropped downloads, refused Range, early,
//! duplicate and missing notifications, bad JWTs, expired download tokens,
//! 100 concurrent operations, no secret in trace logs).

mod harness;

use harness::mock_graph::{Jwt, MockGraph, Notify, Scenario, APP_ID};
use harness::{start_bot, wav, Auth, Bot, Credentials};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use voxcap_capture::download::{download_and_analyze, DownloadInfo, DownloadOptions};
use voxcap_capture::tracker::CompletedRecording;
use voxcap_capture::wire::RecordResponseRequest;
use voxcap_capture::{
    CaptureError, RecordApi, RecordOptions, RecordOutcome, RecordingEnd, RecordingPermit,
    TrackerConfig,
};

const APP_TOKEN: &str = "static-app-token-do-not-leak";

async fn setup_with(config: TrackerConfig) -> (MockGraph, Bot) {
    let mock = MockGraph::start().await;
    let bot = start_bot(
        &mock.graph_url(),
        Credentials::Static(APP_TOKEN),
        Auth::Jwt {
            openid_url: mock.openid_url(),
            audience: APP_ID.into(),
        },
        config,
    )
    .await;
    mock.set_callback(&bot.webhook_url);
    (mock, bot)
}

async fn setup() -> (MockGraph, Bot) {
    setup_with(TrackerConfig::default()).await
}

fn request() -> RecordResponseRequest {
    RecordResponseRequest {
        initial_silence_timeout_in_seconds: 1,
        max_record_duration_in_seconds: 1,
        stop_tones: vec!["#".into()],
        ..RecordResponseRequest::default()
    }
}

fn short_deadline() -> RecordOptions {
    RecordOptions {
        deadline_margin: Some(Duration::ZERO),
        ..RecordOptions::default()
    }
}

fn fast_download() -> DownloadOptions {
    DownloadOptions {
        backoff: Duration::from_millis(10),
        ..DownloadOptions::default()
    }
}

/// Downloads a completed recording under a permit, reading every byte in the
/// analysis closure; releases the permit as `notRecording` or `failed`.
async fn download(
    bot: &Bot,
    rec: &CompletedRecording,
    dir: &Path,
    options: &DownloadOptions,
) -> Result<(Vec<u8>, DownloadInfo), CaptureError> {
    let ctx = rec.client_context.clone().unwrap_or_default();
    let permit = RecordingPermit::acquire(&bot.client, &rec.call_id, ctx).await?;
    let out = dir.join(format!("{}.wav", rec.operation_id));
    let result = download_and_analyze(
        bot.client.http(),
        &rec.location,
        rec.token.as_ref(),
        &out,
        &permit,
        options,
        |mut r: voxcap_capture::RecordingReader| {
            let mut v = Vec::new();
            r.read_to_end(&mut v).map(|_| v)
        },
    )
    .await;
    let end = if result.is_ok() {
        RecordingEnd::Finished
    } else {
        RecordingEnd::Failed
    };
    permit.release(&bot.client, end).await?;
    let (analysed, info) = result?;
    Ok((
        analysed.expect("analysis read error on a complete download"),
        info,
    ))
}

async fn record(bot: &Bot, call: &str, opts: &RecordOptions) -> RecordOutcome {
    bot.tracker
        .record(call, &request(), opts)
        .await
        .expect("record accepted")
        .completed()
        .await
}

fn completed(o: RecordOutcome) -> CompletedRecording {
    match o {
        RecordOutcome::Completed(c) => c,
        other => panic!("expected completed, got {other:?}"),
    }
}

#[tokio::test]
async fn happy_path_downloads_with_only_the_recording_token_and_analyses_every_byte() {
    let (mock, bot) = setup().await;
    let audio = wav(5.0, 1);
    mock.script("call-happy", Scenario::normal(audio.clone()));
    let rec = completed(record(&bot, "call-happy", &RecordOptions::default()).await);
    assert_eq!(
        rec.reason,
        Some(voxcap_capture::wire::CompletionReason::StopToneDetected)
    );
    let dir = tempfile::tempdir().unwrap();
    let (analysed, info) = download(&bot, &rec, dir.path(), &fast_download())
        .await
        .unwrap();
    assert_eq!(&analysed, &*audio);
    assert_eq!(std::fs::read(&info.path).unwrap(), *audio);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp file left"
    );
    // The app token went to Graph; only the recording token went to the recording host.
    for s in mock.seen("POST") {
        if s.what.starts_with("POST record") || s.what.starts_with("POST update") {
            assert_eq!(
                s.authorization.as_deref(),
                Some(&*format!("Bearer {APP_TOKEN}"))
            );
        }
    }
    let gets = mock.seen("GET recording");
    assert_eq!(gets.len(), 1);
    let auth = gets[0].authorization.clone().unwrap();
    assert!(auth.starts_with("Bearer rec-token-"), "{auth}");
    assert!(!auth.contains(APP_TOKEN));
    // Compliance order: recording before the download, notRecording after.
    let statuses: Vec<String> = mock
        .seen("POST updateRecordingStatus")
        .iter()
        .map(|s| {
            s.body.as_ref().unwrap()["status"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(statuses, ["recording", "notRecording"]);
}

#[tokio::test]
async fn permit_for_another_call_is_refused_before_downloading() {
    let (mock, bot) = setup().await;
    mock.script("call-a", Scenario::normal(wav(0.5, 20)));
    let rec = completed(record(&bot, "call-a", &RecordOptions::default()).await);
    let permit = RecordingPermit::acquire(&bot.client, "call-b", "ctx")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.wav");
    let err = rec
        .download_and_analyze(&bot.client, &out, &permit, |_r| ())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("does not cover call call-a"),
        "{err}"
    );
    assert!(mock.seen("GET recording").is_empty());
    permit
        .release(&bot.client, RecordingEnd::Finished)
        .await
        .unwrap();
    // The same call's permit works through the convenience method.
    let permit = RecordingPermit::acquire(&bot.client, "CALL-A", "ctx")
        .await
        .unwrap();
    let (n, info) = rec
        .download_and_analyze(&bot.client, &out, &permit, |mut r| {
            std::io::copy(&mut r, &mut std::io::sink()).unwrap()
        })
        .await
        .unwrap();
    assert_eq!(n, info.bytes);
    permit
        .release(&bot.client, RecordingEnd::Finished)
        .await
        .unwrap();
}

#[tokio::test]
async fn beta_and_legacy_record_are_matched_and_legacy_field_names_accepted() {
    let (mock, bot) = setup().await;
    for (call, api) in [
        ("call-beta", RecordApi::RecordResponseBeta),
        ("call-legacy", RecordApi::LegacyRecord),
    ] {
        let audio = wav(1.0, 2);
        mock.script(call, Scenario::normal(audio.clone()));
        let opts = RecordOptions {
            api,
            ..RecordOptions::default()
        };
        let rec = completed(record(&bot, call, &opts).await);
        assert!(rec.token.is_some(), "{call}");
        let dir = tempfile::tempdir().unwrap();
        let (analysed, _) = download(&bot, &rec, dir.path(), &fast_download())
            .await
            .unwrap();
        assert_eq!(&analysed, &*audio, "{call}");
    }
    assert_eq!(mock.seen("POST record call-legacy").len(), 1);
}

#[tokio::test]
async fn throttled_429_and_503_are_retried_after_retry_after() {
    let (mock, bot) = setup().await;
    for (call, status) in [("call-429", 429), ("call-503", 503)] {
        let mut sc = Scenario::normal(wav(0.5, 3));
        sc.throttle = Some((status, 1, 1));
        mock.script(call, sc);
        let t0 = Instant::now();
        completed(record(&bot, call, &RecordOptions::default()).await);
        assert!(
            t0.elapsed() >= Duration::from_secs(1),
            "{call}: Retry-After not honoured"
        );
        assert_eq!(mock.seen(&format!("POST record {call}")).len(), 2, "{call}");
    }
}

#[tokio::test]
async fn persistent_throttling_gives_a_graph_error_with_request_id() {
    let (mock, bot) = setup().await;
    let mut sc = Scenario::normal(wav(0.5, 3));
    sc.throttle = Some((429, 100, 0));
    mock.script("call-busy", sc);
    let err = bot
        .tracker
        .record("call-busy", &request(), &RecordOptions::default())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, CaptureError::Graph { status: 429, .. }),
        "{text}"
    );
    assert!(
        text.contains("mock-request-id-42") && text.contains("call-busy"),
        "{text}"
    );
    assert_eq!(mock.seen("POST record call-busy").len(), 4);
}

#[tokio::test]
async fn a_post_that_graph_may_have_acted_on_is_not_repeated() {
    let (mock, bot) = setup().await;
    let mut sc = Scenario::normal(wav(0.5, 3));
    sc.error_status = Some(500);
    mock.script("call-500", sc);
    let err = bot
        .tracker
        .record("call-500", &request(), &RecordOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, CaptureError::Graph { status: 500, .. }),
        "{err}"
    );
    assert_eq!(
        mock.seen("POST record call-500").len(),
        1,
        "500 on a POST must not be retried"
    );
}

#[tokio::test]
async fn invalid_request_is_refused_before_sending() {
    let (mock, bot) = setup().await;
    mock.script("call-bad", Scenario::normal(wav(0.5, 3)));
    let mut req = request();
    req.stop_tones = vec!["11".into()];
    let err = bot
        .tracker
        .record("call-bad", &req, &RecordOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("stopTones"), "{err}");
    assert!(mock.seen("POST record").is_empty());
}

#[tokio::test]
async fn dropped_download_is_resumed_with_range_byte_for_byte() {
    let (mock, bot) = setup().await;
    let audio = wav(5.0, 4);
    let mut sc = Scenario::normal(audio.clone());
    sc.drop_after = 50_000;
    sc.drops = 2;
    mock.script("call-drop", sc);
    let rec = completed(record(&bot, "call-drop", &RecordOptions::default()).await);
    let dir = tempfile::tempdir().unwrap();
    let (analysed, info) = download(&bot, &rec, dir.path(), &fast_download())
        .await
        .unwrap();
    assert_eq!(info.resumed, 2, "{info:?}");
    assert_eq!(info.restarted, 0);
    assert_eq!(&analysed, &*audio, "analysis saw each byte exactly once");
    assert_eq!(std::fs::read(&info.path).unwrap(), *audio);
    let ranges: Vec<_> = mock
        .seen("GET recording")
        .into_iter()
        .map(|s| s.range)
        .collect();
    assert_eq!(ranges[0], None);
    assert!(ranges[1..].iter().all(|r| r.is_some()), "{ranges:?}");
}

#[tokio::test]
async fn refused_range_restarts_from_zero_without_feeding_analysis_twice() {
    let (mock, bot) = setup().await;
    let audio = wav(5.0, 5);
    let mut sc = Scenario::normal(audio.clone());
    sc.drop_after = 70_000;
    sc.drops = 1;
    sc.range_supported = false;
    mock.script("call-norange", sc);
    let rec = completed(record(&bot, "call-norange", &RecordOptions::default()).await);
    let dir = tempfile::tempdir().unwrap();
    let (analysed, info) = download(&bot, &rec, dir.path(), &fast_download())
        .await
        .unwrap();
    assert_eq!(info.restarted, 1, "{info:?}");
    assert_eq!(&analysed, &*audio);
    assert_eq!(std::fs::read(&info.path).unwrap(), *audio);
}

#[tokio::test]
async fn download_that_cannot_finish_is_an_error_and_leaves_no_file() {
    let (mock, bot) = setup().await;
    let mut sc = Scenario::normal(wav(5.0, 6));
    sc.drop_after = 10_000;
    sc.drops = 100;
    mock.script("call-flaky", sc);
    let rec = completed(record(&bot, "call-flaky", &RecordOptions::default()).await);
    let dir = tempfile::tempdir().unwrap();
    let opts = DownloadOptions {
        max_attempts: 3,
        ..fast_download()
    };
    let err = download(&bot, &rec, dir.path(), &opts).await.unwrap_err();
    assert!(
        matches!(err, CaptureError::DownloadIncomplete { attempts: 3, .. }),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "partial file kept"
    );
    let last = mock.seen("POST updateRecordingStatus").pop().unwrap();
    assert_eq!(last.body.unwrap()["status"], "failed");
}

#[tokio::test]
async fn expired_download_token_gives_a_clear_error() {
    let (mock, bot) = setup().await;
    let mut sc = Scenario::normal(wav(1.0, 7));
    sc.token_expired = true;
    mock.script("call-expired", sc);
    let rec = completed(record(&bot, "call-expired", &RecordOptions::default()).await);
    let dir = tempfile::tempdir().unwrap();
    let err = download(&bot, &rec, dir.path(), &fast_download())
        .await
        .unwrap_err();
    assert!(
        matches!(err, CaptureError::DownloadTokenRejected { status: 401, .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("expired") && text.contains("/recordings/"),
        "{text}"
    );
    assert!(!text.contains("rec-token-"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn early_completion_before_post_response_is_kept() {
    let (mock, bot) = setup().await;
    let mut sc = Scenario::normal(wav(0.5, 8));
    sc.notify = Notify::Early;
    mock.script("call-early", sc);
    completed(record(&bot, "call-early", &short_deadline()).await);
    assert_eq!(*mock.state.webhook_statuses.lock().unwrap(), [202]);
}

#[tokio::test]
async fn duplicate_notification_resolves_once_and_disturbs_nothing() {
    let (mock, bot) = setup().await;
    let mut sc = Scenario::normal(wav(0.5, 9));
    sc.notify = Notify::Duplicate;
    mock.script("call-dup", sc);
    mock.script("call-after-dup", Scenario::normal(wav(0.5, 10)));
    let first = completed(record(&bot, "call-dup", &RecordOptions::default()).await);
    let second = completed(record(&bot, "call-after-dup", &RecordOptions::default()).await);
    assert_ne!(first.operation_id, second.operation_id);
    assert_eq!(second.call_id, "call-after-dup");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        *mock.state.webhook_statuses.lock().unwrap(),
        [202, 202, 202]
    );
}

#[tokio::test]
async fn completion_in_the_post_response_needs_no_notification() {
    let (mock, bot) = setup().await;
    let mut sc = Scenario::normal(wav(0.5, 11));
    sc.notify = Notify::InResponse;
    mock.script("call-sync", sc);
    completed(record(&bot, "call-sync", &short_deadline()).await);
}

#[tokio::test]
async fn graph_reported_failure_is_failed_not_lost() {
    let (mock, bot) = setup().await;
    let mut sc = Scenario::normal(wav(0.5, 12));
    sc.notify = Notify::Failed;
    mock.script("call-fail", sc);
    match record(&bot, "call-fail", &RecordOptions::default()).await {
        RecordOutcome::Failed(f) => {
            assert_eq!(f.result_info.unwrap().subcode, Some(8510));
            assert_eq!(
                f.reason,
                Some(voxcap_capture::wire::CompletionReason::InitialSilenceTimeout)
            );
        }
        other => panic!("expected failed, got {other:?}"),
    }
}

#[tokio::test]
async fn missing_notification_is_lost_within_the_deadline() {
    let (mock, bot) = setup().await;
    let mut sc = Scenario::normal(wav(0.5, 13));
    sc.notify = Notify::Never;
    mock.script("call-silent", sc);
    let handle = bot
        .tracker
        .record("call-silent", &request(), &short_deadline())
        .await
        .unwrap();
    assert_eq!(handle.deadline(), Duration::from_secs(2));
    let t0 = Instant::now();
    let outcome = handle.completed().await;
    let waited = t0.elapsed();
    assert!(matches!(outcome, RecordOutcome::Lost(_)), "{outcome:?}");
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_millis(2750),
        "{waited:?}"
    );
    let err = outcome.into_result().unwrap_err();
    assert!(matches!(err, CaptureError::OperationLost { .. }), "{err}");
}

#[tokio::test]
async fn forged_unsigned_expired_or_missing_jwt_is_refused_with_401_and_ignored() {
    let (mock, bot) = setup().await;
    let modes = [Jwt::Forged, Jwt::Unsigned, Jwt::Expired, Jwt::Missing];
    let mut tasks = Vec::new();
    for (i, mode) in modes.into_iter().enumerate() {
        let call = format!("call-jwt-{i}");
        let mut sc = Scenario::normal(wav(0.5, 14));
        sc.jwt = mode;
        mock.script(&call, sc);
        let handle = bot
            .tracker
            .record(&call, &request(), &short_deadline())
            .await
            .unwrap();
        tasks.push(tokio::spawn(handle.completed()));
    }
    for t in tasks {
        let outcome = t.await.unwrap();
        assert!(matches!(outcome, RecordOutcome::Lost(_)), "{outcome:?}");
    }
    assert_eq!(
        *mock.state.webhook_statuses.lock().unwrap(),
        [401, 401, 401, 401]
    );
}

#[tokio::test]
async fn jwt_claims_audience_issuer_forms_and_unknown_kid_refetch_is_rate_limited() {
    let (mock, _bot) = setup().await;
    let body = serde_json::json!({"value": []});
    let cases = [
        (Jwt::Valid, 202),
        (Jwt::IssuerWithSlash, 202),
        (Jwt::WrongAudience, 401),
        (Jwt::UnknownKid, 401),
    ];
    for (mode, want) in cases {
        assert_eq!(
            mock.post_raw_notification(body.clone(), mode).await,
            want,
            "{mode:?}"
        );
    }
    // The first token fetched the keys; an unknown kid within
    // min_refetch_interval (1 s) of that fetch triggers no new fetch ...
    assert_eq!(mock.seen("GET jwks").len(), 1);
    // ... after it, exactly one refetch however many unknown kids arrive.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..5 {
        assert_eq!(
            mock.post_raw_notification(body.clone(), Jwt::UnknownKid)
                .await,
            401
        );
    }
    assert_eq!(mock.seen("GET jwks").len(), 2);
    assert_eq!(mock.post_raw_notification(body, Jwt::Valid).await, 202);
}

#[tokio::test]
async fn client_credentials_token_is_cached_single_flight_and_refreshed_before_expiry() {
    use voxcap_capture::client::{ClientCredentials, TokenProvider};
    let mock = MockGraph::start().await;
    mock.state
        .token_lifetime
        .store(2, std::sync::atomic::Ordering::SeqCst);
    let mut cfg = voxcap_capture::ClientCredentialsConfig::new(
        "tenant-1234",
        "client-5678",
        voxcap_capture::Secret::new("mock/client+secret="),
    );
    cfg.authority = mock.root.clone();
    let provider = Arc::new(ClientCredentials::new(reqwest::Client::new(), cfg.clone()));
    let tokens = futures_util::future::join_all((0..20).map(|_| provider.token())).await;
    let first = tokens[0].as_ref().unwrap().expose().to_string();
    assert!(tokens.iter().all(|t| t.as_ref().unwrap().expose() == first));
    let count = || {
        mock.state
            .token_requests
            .load(std::sync::atomic::Ordering::SeqCst)
    };
    assert_eq!(count(), 1, "single flight");
    // Lifetime 2 s: refreshed after half of it, before it expires.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = provider.token().await.unwrap();
    assert_ne!(second.expose(), first);
    assert_eq!(count(), 2);
    // A wrong secret gives a clear error that does not contain the secret.
    cfg.client_secret = voxcap_capture::Secret::new("wrong-secret-value");
    let bad = ClientCredentials::new(reqwest::Client::new(), cfg);
    let err = bad.token().await.unwrap_err().to_string();
    assert!(
        err.contains("invalid_client") && err.contains("oauth2/v2.0/token"),
        "{err}"
    );
    assert!(!err.contains("wrong-secret-value"));
}

#[tokio::test]
async fn rejected_app_token_is_refreshed_once_and_the_post_repeated() {
    let mock = MockGraph::start().await;
    let bot = start_bot(
        &mock.graph_url(),
        Credentials::ClientCredentials {
            authority: mock.root.clone(),
            secret: "mock/client+secret=".into(),
        },
        Auth::Jwt {
            openid_url: mock.openid_url(),
            audience: APP_ID.into(),
        },
        TrackerConfig::default(),
    )
    .await;
    mock.set_callback(&bot.webhook_url);
    mock.script("call-revoked", Scenario::normal(wav(0.5, 21)));
    // Warm the cache, then have Graph reject that token once.
    RecordingPermit::acquire(&bot.client, "call-revoked", "c")
        .await
        .unwrap()
        .release(&bot.client, RecordingEnd::Finished)
        .await
        .unwrap();
    mock.state
        .reject_app_token_once
        .store(true, std::sync::atomic::Ordering::SeqCst);
    completed(record(&bot, "call-revoked", &RecordOptions::default()).await);
    let posts = mock.seen("POST record call-revoked");
    assert_eq!(posts.len(), 2);
    assert_ne!(
        posts[0].authorization, posts[1].authorization,
        "token not refreshed"
    );
    assert_eq!(
        mock.state
            .token_requests
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
}

#[tokio::test]
async fn unrelated_notifications_are_accepted_and_ignored() {
    let (mock, bot) = setup().await;
    let body = serde_json::json!({"value": [
        {"changeType": "updated", "resourceUrl": "/communications/calls/abc",
         "resourceData": {"@odata.type": "#microsoft.graph.call", "state": "established"}},
        {"changeType": "updated", "resourceUrl": "/communications/calls/abc/participants",
         "resourceData": [{"id": "p1"}]}
    ]});
    assert_eq!(mock.post_raw_notification(body, Jwt::Valid).await, 202);
    mock.script("call-after-noise", Scenario::normal(wav(0.5, 15)));
    completed(record(&bot, "call-after-noise", &RecordOptions::default()).await);
}

#[tokio::test]
async fn insecure_mode_refuses_non_loopback_listeners() {
    let mock = MockGraph::start().await;
    let bot = start_bot(
        &mock.graph_url(),
        Credentials::Static(APP_TOKEN),
        Auth::InsecureLoopback,
        TrackerConfig::default(),
    )
    .await;
    // Loopback peer without JWT: accepted.
    mock.set_callback(&bot.webhook_url);
    let mut sc = Scenario::normal(wav(0.5, 16));
    sc.jwt = Jwt::Missing;
    mock.script("call-insecure", sc);
    completed(record(&bot, "call-insecure", &RecordOptions::default()).await);
    // A non-loopback bind is refused.
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let state = voxcap_capture::WebhookState::new(
        voxcap_capture::NotificationAuth::InsecureLoopbackOnly,
        bot.tracker.notification_sink(),
    );
    let err = voxcap_capture::webhook::serve(listener, state, async {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_operations_are_paired_correctly() {
    let (mock, bot) = setup().await;
    let bot = Arc::new(bot);
    let dir = tempfile::tempdir().unwrap();
    let mut tasks = Vec::new();
    for i in 0..100u64 {
        let call = format!("call-many-{i:03}");
        let audio = wav(5.0, 100 + i);
        let mut sc = Scenario::normal(audio.clone());
        // Mix the fault modes in so pairing is tested under reordering.
        sc.notify = match i % 4 {
            0 => Notify::Early,
            1 => Notify::Duplicate,
            _ => Notify::Normal,
        };
        sc.notify_delay = Duration::from_millis(i % 7 * 5);
        if i % 5 == 0 {
            sc.drop_after = 9_000;
            sc.drops = 1;
        }
        mock.script(&call, sc);
        let bot = bot.clone();
        let path = dir.path().to_path_buf();
        tasks.push(tokio::spawn(async move {
            let outcome = record(&bot, &call, &RecordOptions::default()).await;
            let rec = completed(outcome);
            assert_eq!(rec.call_id, call);
            let (analysed, info) = download(&bot, &rec, &path, &fast_download()).await.unwrap();
            (call, audio, analysed, std::fs::read(info.path).unwrap())
        }));
    }
    let mut ops = std::collections::HashSet::new();
    for t in tasks {
        let (call, audio, analysed, file) = t.await.unwrap();
        assert!(
            analysed == *audio,
            "{call}: analysis got another call's audio"
        );
        assert!(file == *audio, "{call}: file holds another call's audio");
        ops.insert(call);
    }
    assert_eq!(ops.len(), 100);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 100);
}

/// A `Write` into a shared buffer, for capturing tracing output.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn no_secret_appears_in_trace_output_of_a_full_run() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let client_secret = "mock/client+secret=";
    let _guard = tracing::subscriber::set_default(subscriber);
    // Current-thread runtime: every task logs through this thread's subscriber.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mock, errors) = rt.block_on(async {
        let mock = MockGraph::start().await;
        let bot = start_bot(
            &mock.graph_url(),
            Credentials::ClientCredentials {
                authority: mock.root.clone(),
                secret: client_secret.into(),
            },
            Auth::Jwt {
                openid_url: mock.openid_url(),
                audience: APP_ID.into(),
            },
            TrackerConfig::default(),
        )
        .await;
        mock.set_callback(&bot.webhook_url);
        let mut errors = Vec::new();
        let audio = wav(1.0, 17);
        let mut sc = Scenario::normal(audio.clone());
        sc.drop_after = 5_000;
        sc.drops = 1;
        sc.throttle = Some((429, 1, 0));
        mock.script("call-secret", sc);
        let rec = completed(record(&bot, "call-secret", &RecordOptions::default()).await);
        errors.push(format!("{rec:?}"));
        let dir = tempfile::tempdir().unwrap();
        let (analysed, _) = download(&bot, &rec, dir.path(), &fast_download())
            .await
            .unwrap();
        assert_eq!(&analysed, &*audio);
        // Failure paths format errors too: expired token, forged JWT.
        let mut sc = Scenario::normal(audio.clone());
        sc.token_expired = true;
        mock.script("call-secret-2", sc);
        let rec2 = completed(record(&bot, "call-secret-2", &RecordOptions::default()).await);
        let err = download(&bot, &rec2, dir.path(), &fast_download())
            .await
            .unwrap_err();
        errors.push(format!("{err} {err:?}"));
        let mut sc = Scenario::normal(audio);
        sc.jwt = Jwt::Forged;
        mock.script("call-secret-3", sc);
        let lost = record(&bot, "call-secret-3", &short_deadline()).await;
        errors.push(format!("{lost:?}"));
        errors.push(format!("{:?} {:?}", bot.client, bot.tracker));
        (mock, errors)
    });
    drop(rt);
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "nothing captured"
    );
    assert_eq!(
        mock.state
            .token_requests
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    let mut secrets = mock.state.issued_secrets.lock().unwrap().clone();
    secrets.push(client_secret.to_string());
    secrets.push("client%2Bsecret".to_string());
    assert!(secrets.len() >= 6, "{secrets:?}");
    for s in &secrets {
        // JWTs: check the signature part too, not just the whole token.
        for part in std::iter::once(s.as_str()).chain(s.rsplit('.').next()) {
            if part.len() < 8 {
                continue;
            }
            assert!(!log.contains(part), "secret leaked into trace output");
            for e in &errors {
                assert!(
                    !e.contains(part),
                    "secret leaked into an error or Debug: {e}"
                );
            }
        }
    }
}
