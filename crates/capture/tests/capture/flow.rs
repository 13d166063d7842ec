//! End-to-end tests of voxcap-capture against voxcap-emulator: the record →
//! notification → permit → streaming download flow, and every fault the
//! issue lists (throttling, dropped downloads, refused Range, early,
//! duplicate and missing notifications, bad JWTs, expired download tokens,
//! 100 concurrent operations, no secret in trace logs).

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
use voxcap_emulator::server::TEST_CLIENT_SECRET;
use voxcap_emulator::{Credential, EmulatorConfig, NotificationJwt, Throttle};

use crate::harness::*;

async fn setup() -> (Graph, Bot) {
    setup_with(TrackerConfig::default()).await
}

/// Ends at the `#` of a [`speaker`] (up to 10 s of speech).
fn request() -> RecordResponseRequest {
    RecordResponseRequest {
        initial_silence_timeout_in_seconds: 1,
        max_record_duration_in_seconds: 10,
        stop_tones: vec!["#".into()],
        ..RecordResponseRequest::default()
    }
}

/// A 2 s deadline: 1 s initial silence + 1 s max duration.
fn short_request() -> RecordResponseRequest {
    RecordResponseRequest {
        max_record_duration_in_seconds: 1,
        ..request()
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
        policy: voxcap_capture::DownloadPolicy::loopback_http(),
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

async fn record_with(
    bot: &Bot,
    call: &str,
    req: &RecordResponseRequest,
    opts: &RecordOptions,
) -> RecordOutcome {
    bot.tracker
        .record(call, req, opts)
        .await
        .expect("record accepted")
        .completed()
        .await
}

async fn record(bot: &Bot, call: &str, opts: &RecordOptions) -> RecordOutcome {
    record_with(bot, call, &request(), opts).await
}

fn completed(o: RecordOutcome) -> CompletedRecording {
    match o {
        RecordOutcome::Completed(c) => c,
        other => panic!("expected completed, got {other:?}"),
    }
}

#[tokio::test]
async fn happy_path_downloads_with_only_the_recording_token_and_analyses_every_byte() {
    let (graph, bot) = setup().await;
    let call = graph.call(&bot.webhook_url, &speaker(5.0, 1)).await;
    let rec = completed(record(&bot, &call, &RecordOptions::default()).await);
    assert_eq!(
        rec.reason,
        Some(voxcap_capture::wire::CompletionReason::StopToneDetected)
    );
    let audio = graph.recording(&rec.operation_id);
    assert!(audio.len() > 160_000, "{} bytes", audio.len());
    let dir = tempfile::tempdir().unwrap();
    let (analysed, info) = download(&bot, &rec, dir.path(), &fast_download())
        .await
        .unwrap();
    assert_eq!(analysed, audio);
    assert_eq!(std::fs::read(&info.path).unwrap(), audio);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp file left"
    );
    // The app token went to Graph; only the recording token went to the recording host.
    let graph_posts: Vec<_> = graph
        .seen("POST", &call)
        .into_iter()
        .filter(|r| r.path.starts_with("/v1.0/"))
        .collect();
    assert!(graph_posts.len() >= 3, "{graph_posts:?}");
    for r in &graph_posts {
        assert!(
            matches!(r.credential, Credential::AppToken { .. }),
            "{} sent {:?}",
            r.path,
            r.credential
        );
    }
    let gets = graph.seen("GET", "/recordings/");
    assert_eq!(gets.len(), 1);
    let rec_id = graph.emu.state.recording_id_of(&rec.operation_id).unwrap();
    assert_eq!(
        gets[0].credential,
        Credential::RecordingToken { recording: rec_id }
    );
    // Compliance order: recording before the download, notRecording after.
    assert_eq!(graph.status_updates(), ["recording", "notRecording"]);
}

#[tokio::test]
async fn permit_for_another_call_is_refused_before_downloading() {
    let (graph, bot) = setup().await;
    let call_a = graph.call(&bot.webhook_url, &speaker(0.5, 20)).await;
    let call_b = graph.call(&bot.webhook_url, &speaker(0.5, 21)).await;
    let rec = completed(record(&bot, &call_a, &RecordOptions::default()).await);
    let permit = RecordingPermit::acquire(&bot.client, &call_b, "ctx")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.wav");
    let err = rec
        .download_and_analyze(&bot.client, &out, &permit, |_r| ())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("does not cover call {call_a}")),
        "{err}"
    );
    assert!(graph.seen("GET", "/recordings/").is_empty());
    permit
        .release(&bot.client, RecordingEnd::Finished)
        .await
        .unwrap();
    // The same call's permit works through the convenience method, whatever
    // the case of the id.
    let permit = RecordingPermit::acquire(&bot.client, &call_a.to_uppercase(), "ctx")
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
    let (graph, bot) = setup().await;
    for (seed, api) in [
        (2, RecordApi::RecordResponseBeta),
        (3, RecordApi::LegacyRecord),
    ] {
        let call = graph.call(&bot.webhook_url, &speaker(1.0, seed)).await;
        let opts = RecordOptions {
            api,
            ..RecordOptions::default()
        };
        let rec = completed(record(&bot, &call, &opts).await);
        assert!(rec.token.is_some(), "{api:?}");
        let dir = tempfile::tempdir().unwrap();
        let (analysed, _) = download(&bot, &rec, dir.path(), &fast_download())
            .await
            .unwrap();
        assert_eq!(analysed, graph.recording(&rec.operation_id), "{api:?}");
        let posts = graph.record_posts(&call);
        assert_eq!(posts.len(), 1, "{api:?}");
        let legacy = posts[0].path.ends_with("/record");
        assert_eq!(legacy, matches!(api, RecordApi::LegacyRecord), "{api:?}");
    }
}

#[tokio::test]
async fn throttled_429_and_503_are_retried_after_retry_after() {
    let (graph, bot) = setup().await;
    for status in [429, 503] {
        let sc = with_faults(speaker(0.5, 3), |f| {
            f.throttle = Some(Throttle {
                status,
                count: 1,
                retry_after_s: 1,
            })
        });
        let call = graph.call(&bot.webhook_url, &sc).await;
        let t0 = Instant::now();
        completed(record(&bot, &call, &RecordOptions::default()).await);
        assert!(
            t0.elapsed() >= Duration::from_secs(1),
            "{status}: Retry-After not honoured"
        );
        assert_eq!(graph.record_posts(&call).len(), 2, "{status}");
    }
}

#[tokio::test]
async fn persistent_throttling_gives_a_graph_error_with_request_id() {
    let (graph, bot) = setup().await;
    let sc = with_faults(speaker(0.5, 3), |f| {
        f.throttle = Some(Throttle {
            status: 429,
            count: 100,
            retry_after_s: 0,
        })
    });
    let call = graph.call(&bot.webhook_url, &sc).await;
    let err = bot
        .tracker
        .record(&call, &request(), &RecordOptions::default())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, CaptureError::Graph { status: 429, .. }),
        "{text}"
    );
    assert!(
        text.contains("(request-id ") && text.contains(&call),
        "{text}"
    );
    assert_eq!(graph.record_posts(&call).len(), 4);
}

#[tokio::test]
async fn a_post_that_graph_may_have_acted_on_is_not_repeated() {
    let (graph, bot) = setup().await;
    let sc = with_faults(speaker(0.5, 3), |f| f.record_error_status = Some(500));
    let call = graph.call(&bot.webhook_url, &sc).await;
    let err = bot
        .tracker
        .record(&call, &request(), &RecordOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, CaptureError::Graph { status: 500, .. }),
        "{err}"
    );
    assert_eq!(
        graph.record_posts(&call).len(),
        1,
        "500 on a POST must not be retried"
    );
}

#[tokio::test]
async fn invalid_request_is_refused_before_sending() {
    let (graph, bot) = setup().await;
    let call = graph.call(&bot.webhook_url, &speaker(0.5, 3)).await;
    let mut req = request();
    req.stop_tones = vec!["11".into()];
    let err = bot
        .tracker
        .record(&call, &req, &RecordOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("stopTones"), "{err}");
    assert!(graph.record_posts(&call).is_empty());
}

#[tokio::test]
async fn dropped_download_is_resumed_with_range_byte_for_byte() {
    let (graph, bot) = setup().await;
    let sc = with_faults(speaker(5.0, 4), |f| {
        f.drop_after_bytes = Some(50_000);
        f.drop_times = Some(2);
    });
    let call = graph.call(&bot.webhook_url, &sc).await;
    let rec = completed(record(&bot, &call, &RecordOptions::default()).await);
    let audio = graph.recording(&rec.operation_id);
    let dir = tempfile::tempdir().unwrap();
    let (analysed, info) = download(&bot, &rec, dir.path(), &fast_download())
        .await
        .unwrap();
    assert_eq!(info.resumed, 2, "{info:?}");
    assert_eq!(info.restarted, 0);
    assert_eq!(analysed, audio, "analysis saw each byte exactly once");
    assert_eq!(std::fs::read(&info.path).unwrap(), audio);
    let ranges: Vec<_> = graph
        .seen("GET", "/recordings/")
        .into_iter()
        .map(|s| s.header("range").map(String::from))
        .collect();
    assert_eq!(ranges.len(), 3, "{ranges:?}");
    assert_eq!(ranges[0], None);
    assert!(ranges[1..].iter().all(|r| r.is_some()), "{ranges:?}");
}

#[tokio::test]
async fn refused_range_restarts_from_zero_without_feeding_analysis_twice() {
    let (graph, bot) = setup().await;
    let sc = with_faults(speaker(5.0, 5), |f| {
        f.drop_after_bytes = Some(70_000);
        f.drop_times = Some(1);
        f.range_disabled = true;
    });
    let call = graph.call(&bot.webhook_url, &sc).await;
    let rec = completed(record(&bot, &call, &RecordOptions::default()).await);
    let audio = graph.recording(&rec.operation_id);
    let dir = tempfile::tempdir().unwrap();
    let (analysed, info) = download(&bot, &rec, dir.path(), &fast_download())
        .await
        .unwrap();
    assert_eq!(info.restarted, 1, "{info:?}");
    assert_eq!(analysed, audio);
    assert_eq!(std::fs::read(&info.path).unwrap(), audio);
}

#[tokio::test]
async fn download_that_cannot_finish_is_an_error_and_leaves_no_file() {
    let (graph, bot) = setup().await;
    let sc = with_faults(speaker(5.0, 6), |f| {
        f.drop_after_bytes = Some(10_000);
        f.drop_times = Some(100);
    });
    let call = graph.call(&bot.webhook_url, &sc).await;
    let rec = completed(record(&bot, &call, &RecordOptions::default()).await);
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
    assert_eq!(graph.status_updates().last().unwrap(), "failed");
}

#[tokio::test]
async fn expired_download_token_gives_a_clear_error() {
    let (graph, bot) = setup().await;
    let sc = with_faults(speaker(1.0, 7), |f| f.expired_download_token = true);
    let call = graph.call(&bot.webhook_url, &sc).await;
    let rec = completed(record(&bot, &call, &RecordOptions::default()).await);
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
    assert!(!text.contains(rec.token.as_ref().unwrap().expose()));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn early_completion_before_post_response_is_kept() {
    let (graph, bot) = setup().await;
    let sc = with_faults(speaker(0.5, 8), |f| f.completion_before_response = true);
    let call = graph.call(&bot.webhook_url, &sc).await;
    completed(record_with(&bot, &call, &short_request(), &short_deadline()).await);
    assert_eq!(graph.completion_answers(), [Some(202)]);
}

#[tokio::test]
async fn duplicate_notification_resolves_once_and_disturbs_nothing() {
    let (graph, bot) = setup().await;
    let dup = with_faults(speaker(0.5, 9), |f| f.duplicate_completion = true);
    let call_dup = graph.call(&bot.webhook_url, &dup).await;
    let call_after = graph.call(&bot.webhook_url, &speaker(0.5, 10)).await;
    let first = completed(record(&bot, &call_dup, &RecordOptions::default()).await);
    let second = completed(record(&bot, &call_after, &RecordOptions::default()).await);
    assert_ne!(first.operation_id, second.operation_id);
    assert_eq!(second.call_id, call_after);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        graph.completion_answers(),
        [Some(202), Some(202), Some(202)]
    );
}

#[tokio::test]
async fn completion_in_the_post_response_needs_no_notification() {
    let (graph, bot) = setup().await;
    let sc = with_faults(speaker(0.5, 11), |f| f.completed_in_response = true);
    let call = graph.call(&bot.webhook_url, &sc).await;
    completed(record_with(&bot, &call, &short_request(), &short_deadline()).await);
    assert!(graph.completion_answers().is_empty());
}

#[tokio::test]
async fn graph_reported_failure_is_failed_not_lost() {
    let (graph, bot) = setup().await;
    let call = graph.call(&bot.webhook_url, &silent()).await;
    match record(&bot, &call, &RecordOptions::default()).await {
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
    let (graph, bot) = setup().await;
    let sc = with_faults(speaker(0.5, 13), |f| f.suppress_completion = true);
    let call = graph.call(&bot.webhook_url, &sc).await;
    let handle = bot
        .tracker
        .record(&call, &short_request(), &short_deadline())
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
    let (graph, bot) = setup().await;
    let modes = [
        NotificationJwt::Forged,
        NotificationJwt::Unsigned,
        NotificationJwt::Expired,
        NotificationJwt::Missing,
    ];
    let mut tasks = Vec::new();
    for (i, mode) in modes.into_iter().enumerate() {
        let sc = with_faults(speaker(0.5, 14 + i as u64), |f| {
            f.notification_jwt = Some(mode)
        });
        let call = graph.call(&bot.webhook_url, &sc).await;
        let handle = bot
            .tracker
            .record(&call, &short_request(), &short_deadline())
            .await
            .unwrap();
        tasks.push(tokio::spawn(handle.completed()));
    }
    for t in tasks {
        let outcome = t.await.unwrap();
        assert!(matches!(outcome, RecordOutcome::Lost(_)), "{outcome:?}");
    }
    assert_eq!(graph.completion_answers(), [Some(401); 4]);
}

#[tokio::test]
async fn jwt_claims_audience_issuer_forms_and_unknown_kid_refetch_is_rate_limited() {
    let (graph, bot) = setup().await;
    let st = &graph.emu.state;
    let body = serde_json::json!({"value": []});
    let cases = [
        (NotificationJwt::Valid, 202),
        (NotificationJwt::WrongAudience, 401),
        (NotificationJwt::UnknownKid, 401),
    ];
    for (mode, want) in cases {
        let got = st.send_notification(&bot.webhook_url, &body, mode).await;
        assert_eq!(got, Some(want), "{mode:?}");
    }
    // The first token fetched the keys; an unknown kid within
    // min_refetch_interval (1 s) of that fetch triggers no new fetch ...
    assert_eq!(graph.seen("GET", "/.well-known/keys").len(), 1);
    // ... after it, exactly one refetch however many unknown kids arrive.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..5 {
        let got = st
            .send_notification(&bot.webhook_url, &body, NotificationJwt::UnknownKid)
            .await;
        assert_eq!(got, Some(401));
    }
    assert_eq!(graph.seen("GET", "/.well-known/keys").len(), 2);
    let got = st
        .send_notification(&bot.webhook_url, &body, NotificationJwt::Valid)
        .await;
    assert_eq!(got, Some(202));
    // Other issuer forms Graph uses are accepted on real completions.
    for (seed, iss) in [
        (40, "https://api.botframework.com/"),
        (41, "https://graph.microsoft.com/"),
    ] {
        let sc = with_faults(speaker(0.5, seed), |f| {
            f.notification_issuer = Some(iss.into())
        });
        let call = graph.call(&bot.webhook_url, &sc).await;
        completed(record(&bot, &call, &RecordOptions::default()).await);
    }
}

#[tokio::test]
async fn client_credentials_token_is_cached_single_flight_and_refreshed_before_expiry() {
    use voxcap_capture::client::{ClientCredentials, TokenProvider};
    let graph = Graph::start().await;
    graph.emu.state.clear_logs();
    let short = voxcap_emulator::Faults {
        app_token_lifetime_s: Some(2),
        token_expires_in_as_string: true,
        ..voxcap_emulator::Faults::default()
    };
    let r = reqwest::Client::new()
        .put(format!("{}/_emulator/faults", graph.emu.base_url))
        .json(&short)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let cfg = test_app(&graph.emu.base_url, TEST_CLIENT_SECRET);
    let provider = Arc::new(ClientCredentials::new(reqwest::Client::new(), cfg.clone()));
    let tokens = futures_util::future::join_all((0..20).map(|_| provider.token())).await;
    let first = tokens[0].as_ref().unwrap().expose().to_string();
    assert!(tokens.iter().all(|t| t.as_ref().unwrap().expose() == first));
    assert_eq!(graph.token_requests(), 1, "single flight");
    // Lifetime 2 s (sent as a string): refreshed after half of it, before
    // it expires.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = provider.token().await.unwrap();
    assert_ne!(second.expose(), first);
    assert_eq!(graph.token_requests(), 2);
    // A wrong secret gives a clear error that does not contain the secret.
    let bad = ClientCredentials::new(
        reqwest::Client::new(),
        test_app(&graph.emu.base_url, "wrong-secret-value"),
    );
    let err = bad.token().await.unwrap_err().to_string();
    assert!(
        err.contains("invalid_client") && err.contains("oauth2/v2.0/token"),
        "{err}"
    );
    assert!(!err.contains("wrong-secret-value"));
}

#[tokio::test]
async fn rejected_app_token_is_refreshed_once_and_the_post_repeated() {
    let graph = Graph::start().await;
    let bot = start_bot(
        &graph.graph_url(),
        Credentials::ClientCredentials {
            authority: graph.emu.base_url.clone(),
            secret: TEST_CLIENT_SECRET.into(),
        },
        Auth::Jwt {
            openid_url: graph.openid_url(),
            audience: APP_ID.into(),
        },
        TrackerConfig::default(),
    )
    .await;
    let call = graph.call(&bot.webhook_url, &speaker(0.5, 21)).await;
    graph.emu.state.clear_logs();
    // Warm the cache, then have Graph reject that token.
    RecordingPermit::acquire(&bot.client, &call, "c")
        .await
        .unwrap()
        .release(&bot.client, RecordingEnd::Finished)
        .await
        .unwrap();
    graph.emu.state.revoke_app_tokens();
    completed(record(&bot, &call, &RecordOptions::default()).await);
    let posts = graph.record_posts(&call);
    assert_eq!(posts.len(), 2);
    assert_ne!(
        posts[0].credential, posts[1].credential,
        "token not refreshed"
    );
    assert_eq!(graph.token_requests(), 2);
}

#[tokio::test]
async fn unrelated_notifications_are_accepted_and_ignored() {
    let (graph, bot) = setup().await;
    let body = serde_json::json!({"value": [
        {"changeType": "updated", "resourceUrl": "/communications/calls/abc",
         "resourceData": {"@odata.type": "#microsoft.graph.call", "state": "established"}},
        {"changeType": "updated", "resourceUrl": "/communications/calls/abc/participants",
         "resourceData": [{"id": "p1"}]}
    ]});
    let got = graph
        .emu
        .state
        .send_notification(&bot.webhook_url, &body, NotificationJwt::Valid)
        .await;
    assert_eq!(got, Some(202));
    let sc = with_faults(speaker(0.5, 15), |f| f.interleave_unrelated = true);
    let call = graph.call(&bot.webhook_url, &sc).await;
    completed(record(&bot, &call, &RecordOptions::default()).await);
}

#[tokio::test]
async fn insecure_mode_refuses_non_loopback_listeners() {
    let graph = Graph::start().await;
    let bot = start_bot(
        &graph.graph_url(),
        Credentials::Static(graph.app_token().await),
        Auth::InsecureLoopback,
        TrackerConfig::default(),
    )
    .await;
    // Loopback peer without JWT: accepted.
    let sc = with_faults(speaker(0.5, 16), |f| {
        f.notification_jwt = Some(NotificationJwt::Missing)
    });
    let call = graph.call(&bot.webhook_url, &sc).await;
    completed(record(&bot, &call, &RecordOptions::default()).await);
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
    let (graph, bot) = setup().await;
    let graph = Arc::new(graph);
    let bot = Arc::new(bot);
    let dir = tempfile::tempdir().unwrap();
    let mut tasks = Vec::new();
    for i in 0..100u64 {
        // Mix the fault modes in so pairing is tested under reordering.
        let sc = with_faults(speaker(2.0 + (i % 7) as f64 * 0.25, 100 + i), |f| {
            match i % 4 {
                0 => f.completion_before_response = true,
                1 => f.duplicate_completion = true,
                _ => {}
            }
            if i % 5 == 0 {
                f.drop_after_bytes = Some(9_000);
            }
        });
        let call = graph.call(&bot.webhook_url, &sc).await;
        let (graph, bot) = (graph.clone(), bot.clone());
        let path = dir.path().to_path_buf();
        tasks.push(tokio::spawn(async move {
            let rec = completed(record(&bot, &call, &RecordOptions::default()).await);
            assert_eq!(rec.call_id, call);
            let (analysed, info) = download(&bot, &rec, &path, &fast_download()).await.unwrap();
            let audio = graph.recording(&rec.operation_id);
            (call, audio, analysed, std::fs::read(info.path).unwrap())
        }));
    }
    let mut calls = std::collections::HashSet::new();
    let mut recordings = std::collections::HashSet::new();
    for t in tasks {
        let (call, audio, analysed, file) = t.await.unwrap();
        assert!(
            analysed == audio,
            "{call}: analysis got another call's audio"
        );
        assert!(file == audio, "{call}: file holds another call's audio");
        calls.insert(call);
        recordings.insert(audio);
    }
    assert_eq!(calls.len(), 100);
    assert_eq!(recordings.len(), 100, "every call's audio is distinct");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 100);
}

#[test]
fn no_secret_appears_in_trace_output_of_a_full_run() {
    let (captured, subscriber) = voxcap_testkit::trace::trace_capture();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Current-thread runtime: every task logs through this thread's subscriber.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (graph, errors) = rt.block_on(async {
        let graph = Graph::start_with(EmulatorConfig::default()).await;
        let bot = start_bot(
            &graph.graph_url(),
            Credentials::ClientCredentials {
                authority: graph.emu.base_url.clone(),
                secret: TEST_CLIENT_SECRET.into(),
            },
            Auth::Jwt {
                openid_url: graph.openid_url(),
                audience: APP_ID.into(),
            },
            TrackerConfig::default(),
        )
        .await;
        let mut errors = Vec::new();
        let sc = with_faults(speaker(1.0, 17), |f| {
            f.drop_after_bytes = Some(5_000);
            f.throttle = Some(Throttle {
                status: 429,
                count: 1,
                retry_after_s: 0,
            });
        });
        let call = graph.call(&bot.webhook_url, &sc).await;
        let rec = completed(record(&bot, &call, &RecordOptions::default()).await);
        errors.push(format!("{rec:?}"));
        let dir = tempfile::tempdir().unwrap();
        let (analysed, _) = download(&bot, &rec, dir.path(), &fast_download())
            .await
            .unwrap();
        assert_eq!(analysed, graph.recording(&rec.operation_id));
        // Failure paths format errors too: expired token, forged JWT.
        let sc = with_faults(speaker(1.0, 18), |f| f.expired_download_token = true);
        let call2 = graph.call(&bot.webhook_url, &sc).await;
        let rec2 = completed(record(&bot, &call2, &RecordOptions::default()).await);
        let err = download(&bot, &rec2, dir.path(), &fast_download())
            .await
            .unwrap_err();
        errors.push(format!("{err} {err:?}"));
        let sc = with_faults(speaker(1.0, 19), |f| {
            f.notification_jwt = Some(NotificationJwt::Forged)
        });
        let call3 = graph.call(&bot.webhook_url, &sc).await;
        let lost = record_with(&bot, &call3, &short_request(), &short_deadline()).await;
        errors.push(format!("{lost:?}"));
        errors.push(format!("{:?} {:?}", bot.client, bot.tracker));
        (graph, errors)
    });
    drop(rt);
    let log = captured.text();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "nothing captured"
    );
    // The bot's one token request (the harness fetched one before).
    assert_eq!(graph.token_requests(), 2);
    let mut secrets = graph.emu.state.issued_secrets();
    secrets.push(TEST_CLIENT_SECRET.to_string());
    assert!(secrets.len() >= 6, "{} secrets", secrets.len());
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
