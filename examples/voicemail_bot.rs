//! A voice-mail bot: voxcap's verified webhook mounted beside the bot's own route
//! `POST /calls/{id}/voicemail`, which records the caller (`#` ends) and stores
//! `<OUT_DIR>/<operation>.wav` and `.json` (its analysis). Env: see `main`.
use axum::extract::{Path, State};
use axum::{http::StatusCode, routing::post, Router};
use std::{env::var, io::Read, net::SocketAddr, path::PathBuf, sync::Arc};
use voxcap::record::analyze_stream;
use voxcap_capture::RecordingEnd::{Failed, Finished};
use voxcap_capture::{wire::RecordResponseRequest, *};
use voxcap_dsp::Report;

/// What handlers share: the operation tracker (holding the Graph client) and the store.
#[derive(Clone)]
pub struct Bot(pub OperationTracker, pub Arc<PathBuf>);
/// The bot's own route plus voxcap's webhook at `/api/calls` (the calls' callbackUri).
pub fn app(bot: Bot, auth: NotificationAuth) -> Router {
    let hook = webhook::router(WebhookState::new(auth, bot.0.notification_sink()));
    let own = Router::new().route("/calls/{id}/voicemail", post(voicemail));
    own.with_state(bot).merge(hook)
}
async fn voicemail(State(bot): State<Bot>, Path(call): Path<String>) -> StatusCode {
    tokio::spawn(async move { take(&bot, &call).await.map_err(|e| eprintln!("{e:#}")) });
    StatusCode::ACCEPTED // the message arrives later, as files in the store
}
/// Records one message on `call`; the audio is analysed while it downloads.
pub async fn take(Bot(tracker, dir): &Bot, call: &str) -> anyhow::Result<Report> {
    let graph = tracker.client();
    // Compliance: persist nothing before Graph accepts the "recording" status.
    let permit = RecordingPermit::acquire(graph, call, "voicemail").await?;
    let mut ask = RecordResponseRequest::default();
    (ask.stop_tones, ask.max_record_duration_in_seconds) = (vec!["#".into()], 60);
    let op = tracker.record(call, &ask, &Default::default()).await?;
    let rec = op.completed().await.into_result()?; // failed or lost: an error
    let wav = dir.join(format!("{}.wav", rec.operation_id));
    let (name, config) = (wav.display().to_string(), Default::default());
    let sink = move |r: &mut dyn Read| analyze_stream(&name, r, &config);
    let saved = rec.download_and_analyze(graph, &wav, &permit, sink).await;
    let end = saved.as_ref().map_or(Failed, |_| Finished);
    permit.release(graph, end).await?; // "notRecording", or "failed"
    let report = saved?.0?;
    std::fs::write(wav.with_extension("json"), serde_json::to_vec(&report)?)?;
    Ok(report)
}
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secret = Secret::new(var("CLIENT_SECRET")?);
    let mut creds = ClientCredentialsConfig::new(var("TENANT")?, var("CLIENT_ID")?, secret);
    creds.authority = var("AUTHORITY").unwrap_or(creds.authority);
    let builder = GraphClient::builder().base_url(var("GRAPH_URL")?);
    let graph = builder.client_credentials(creds.clone()).build()?;
    let mut jwt = JwtConfig::new(creds.client_id); // notifications are signed for our app id
    jwt.openid_config_url = var("OPENID_CONFIG").unwrap_or(jwt.openid_config_url);
    let auth = NotificationAuth::jwt(graph.http().clone(), jwt);
    let tracker = OperationTracker::new(graph, TrackerConfig::default());
    let bot = Bot(tracker, Arc::new(var("OUT_DIR")?.into()));
    let listener = tokio::net::TcpListener::bind(var("LISTEN")?).await?;
    let app = app(bot, auth).into_make_service_with_connect_info::<SocketAddr>();
    Ok(axum::serve(listener, app).await?)
}
