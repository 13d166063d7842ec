//! A voice-mail bot, built from voxcap's pieces: a first read for newcomers.
//!
//! The bot serves two routes on one port:
//!
//! - voxcap's verified notification webhook at `/api/calls` (the calls'
//!   `callbackUri`), which Graph posts completions to;
//! - its own `POST /calls/{id}/voicemail`, which records the caller on call
//!   `{id}` (`#` ends the message) and stores `<OUT_DIR>/<operation>.wav`
//!   with its analysis beside it as `<operation>.json` (`<operation>`: the
//!   operation id as 32 lower-case hex digits, never a path).
//!
//! Run it with these environment variables: `TENANT`, `CLIENT_ID`,
//! `CLIENT_SECRET`, `GRAPH_URL`, `LISTEN`, `OUT_DIR`, and optionally
//! `AUTHORITY` and `OPENID_CONFIG` (to point it at `voxcap emulate`).

// An example program: it reports to its terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use voxcap_capture::atomic_file::write_json_atomically;
use voxcap_capture::wire::RecordResponseRequest;
use voxcap_capture::{
    webhook, ClientCredentialsConfig, GraphClient, JwtConfig, NotificationAuth, OperationId,
    OperationTracker, RecordOptions, RecordingEnd, RecordingPermit, RecordingReader, Secret,
    TrackerConfig, WebhookState,
};
use voxcap_dsp::{analyze_reader, AnalysisConfig, Report};

/// What every request handler shares.
#[derive(Clone)]
pub(crate) struct Bot {
    /// Places recordings and pairs them with their notifications; it holds
    /// the Graph client.
    pub tracker: OperationTracker,
    /// Where messages are stored.
    pub out_dir: Arc<PathBuf>,
}

/// The bot's own route plus voxcap's webhook at `/api/calls`.
pub(crate) fn app(bot: Bot, auth: NotificationAuth) -> Router {
    let notifications = WebhookState::new(auth, bot.tracker.notification_sink());
    let webhook = webhook::router(notifications);
    let own = Router::new()
        .route("/calls/{id}/voicemail", post(voicemail))
        .with_state(bot);
    own.merge(webhook)
}

/// `POST /calls/{id}/voicemail`: starts taking a message and answers at
/// once; the message arrives later, as files in `OUT_DIR`.
async fn voicemail(State(bot): State<Bot>, Path(call_id): Path<String>) -> StatusCode {
    tokio::spawn(async move {
        if let Err(e) = take(&bot, &call_id).await {
            eprintln!("call {call_id}: no message stored: {e:#}");
        }
    });
    StatusCode::ACCEPTED
}

/// Records one message on `call_id`; the audio is analysed while it
/// downloads. Returns the analysis, also stored as JSON beside the WAV.
pub(crate) async fn take(bot: &Bot, call_id: &str) -> anyhow::Result<Report> {
    let graph: &GraphClient = bot.tracker.client();

    // Compliance: persist nothing before Graph accepts the "recording" status.
    let permit = RecordingPermit::acquire(graph, call_id, "voicemail").await?;

    let request = RecordResponseRequest {
        stop_tones: vec!["#".to_string()],
        max_record_duration_in_seconds: 60,
        ..RecordResponseRequest::default()
    };
    let operation = bot
        .tracker
        .record(call_id, &request, &RecordOptions::default())
        .await?;
    // A failed or lost operation becomes an error here.
    let recording = operation.completed().await.into_result()?;

    // File names come from the normalised operation id (32 hex digits), so
    // no id Graph or anyone else sends can name a path outside OUT_DIR.
    let id = OperationId::parse(&recording.operation_id, "the completion")?;
    let wav = bot.out_dir.join(format!("{}.wav", id.file_stem()));
    let name = wav.display().to_string();
    let analysis =
        move |reader: RecordingReader| analyze_reader(&name, reader, &AnalysisConfig::default());
    let saved = recording
        .download_and_analyze(graph, &wav, &permit, analysis)
        .await;

    // Tell Graph the recording is over: "notRecording", or "failed".
    let end = match &saved {
        Ok(_) => RecordingEnd::Finished,
        Err(_) => RecordingEnd::Failed,
    };
    permit.release(graph, end).await?;

    let (analysed, _download) = saved?;
    let report = analysed?;
    // Temp file, fsync, rename: a reader never sees half a report.
    write_json_atomically(&wav.with_extension("json"), &report)?;
    Ok(report)
}

/// Reads a required environment variable, naming it when it is missing.
fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).map_err(|e| anyhow::anyhow!("{name}: {e}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut credentials = ClientCredentialsConfig::new(
        env("TENANT")?,
        env("CLIENT_ID")?,
        Secret::new(env("CLIENT_SECRET")?),
    );
    if let Ok(authority) = std::env::var("AUTHORITY") {
        credentials.authority = authority;
    }
    let graph = GraphClient::builder()
        .base_url(env("GRAPH_URL")?)
        .client_credentials(credentials.clone())
        .build()?;

    // Notifications are signed for our app id.
    let mut jwt = JwtConfig::new(credentials.client_id);
    if let Ok(url) = std::env::var("OPENID_CONFIG") {
        jwt.openid_config_url = url;
    }
    let auth = NotificationAuth::jwt(graph.http().clone(), jwt);

    let bot = Bot {
        tracker: OperationTracker::new(graph, TrackerConfig::default()),
        out_dir: Arc::new(PathBuf::from(env("OUT_DIR")?)),
    };
    // Behind the internet-facing balancer, give this server the timeouts and
    // connection cap of voxcap's own webhook server (SECURITY.md).
    let listener = tokio::net::TcpListener::bind(env("LISTEN")?).await?;
    let service = app(bot, auth).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service).await?;
    Ok(())
}
