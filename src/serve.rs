//! `voxcap serve`: the flags and the output of one stateless fleet member,
//! and with `--api-keys-file` the service API (voxcap-service); the loop (webhook, `/healthz`, `/readyz`, takeover of dead instances'
//! operations, drain on SIGTERM or ctrl-c) is [`voxcap_bot::serve`]. Each
//! finished takeover prints one JSON line on stdout.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use voxcap_bot::serve::{ServeEvent, ServeOptions};
use voxcap_bot::{Bot, BotConfig};

use crate::record_cmd::{bot_error, BotArgs};

/// Arguments of `voxcap serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Graph, token, webhook and fleet settings (--redis is required).
    #[command(flatten)]
    pub bot: BotArgs,
    /// Output directory for the recordings this instance takes over.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Seconds between scans for operations of dead instances.
    #[arg(long, value_name = "S", default_value_t = 2.0, value_parser = crate::seconds_in(0.05, 3600.0))]
    pub takeover_interval: f64,
    /// Seconds in-flight work may take to finish on shutdown.
    #[arg(long, value_name = "S", default_value_t = 10.0, value_parser = crate::seconds_in(0.05, 3600.0))]
    pub drain_timeout: f64,
    /// Serve the private API here (default 127.0.0.1:8090 with --api-keys-file); docs/service.md.
    #[arg(long, value_name = "ADDR")]
    pub api_listen: Option<std::net::SocketAddr>,
    /// The API's keys, one per line (# comments), plus $VOXCAP_API_KEYS (comma separated).
    #[arg(long, value_name = "FILE")]
    pub api_keys_file: Option<PathBuf>,
    /// Forward each verified notification unchanged to this URL (https, or http to loopback).
    #[arg(long, value_name = "URL", value_parser = |s: &str| voxcap_service::relay::parse_target(s).map(|_| s.to_string()))]
    pub relay_to: Option<String>,
    /// Log lines as `text`, or `json` (one object per event, with call, operation, recording ids).
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub log_format: voxcap_service::logging::LogFormat,
}

/// Runs `voxcap serve` until SIGTERM or ctrl-c.
pub(crate) fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let api = args.api_listen.is_some() || args.api_keys_file.is_some();
    let alone = (args.bot.redis.is_none() && !api).then(|| {
        "serve needs --redis URL (a fleet member), or the service API (--api-keys-file)".into()
    });
    if let Some(e) = args.bot.check().err().or(alone) {
        eprintln!("voxcap: {e}");
        return Ok(ExitCode::from(2));
    }
    voxcap_service::logging::init(args.log_format);
    let config = args.bot.bot_config()?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("--out {}", args.out.display()))?;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(serve(args, config))
}

async fn serve(args: &ServeArgs, mut config: BotConfig) -> anyhow::Result<ExitCode> {
    let metrics = Arc::default();
    let tap = voxcap_service::webhook_tap(Arc::clone(&metrics), args.relay_to.as_deref());
    config.webhook_tap = Some(tap.context("--relay-to")?);
    let bot = Bot::start(config).await.map_err(bot_error)?;
    let id = &bot.stewardship().instance;
    let url = bot.callback_url();
    let base = url.trim_end_matches(&args.bot.callback_path);
    eprintln!(
        "voxcap serve: instance {id}: webhook {url}, health {base}/healthz, readiness {base}/readyz"
    );
    let sweeper = voxcap_bot::stewardship::start_retention(&args.out, bot.stewardship()).await;
    let sweeper = sweeper.context("--retain-days: the start-up sweep")?;
    let (listen, keys) = (args.api_listen, args.api_keys_file.as_deref());
    let api = voxcap_service::start_beside(bot.recorder(), listen, keys, &args.out, metrics).await;
    let api = api.context("--api-listen, --api-keys-file")?;
    api.iter()
        .for_each(|a| eprintln!("voxcap serve: API {}", a.base_url()));
    let options = ServeOptions {
        out_dir: args.out.clone(),
        takeover_interval: Duration::from_secs_f64(args.takeover_interval),
        drain_timeout: Duration::from_secs_f64(args.drain_timeout),
    };
    // A takeover's outcome also ends the API record of its operation.
    let follower = api.as_ref().map(|a| a.takeover_follower());
    let on_event = |e: ServeEvent| (follower.iter().for_each(|f| f.on_event(&e)), report(e)).1;
    let stop = voxcap_bot::serve::shutdown_signal();
    voxcap_bot::serve::serve(bot, &options, stop, on_event).await;
    sweeper.inspect(|s| s.abort());
    if let Some(a) = api {
        a.stop().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// One JSON line per finished takeover on stdout; the rest on stderr.
fn report(event: ServeEvent) {
    match event {
        ServeEvent::TakenOver(o) => println!(
            "{}",
            serde_json::json!({"event": "takeover", "outcome": o.kind, "report": o.json_path, "result": o.json})
        ),
        ServeEvent::TakeoverFailed(e) => eprintln!("voxcap serve: takeover failed: {e:#}"),
        ServeEvent::ShuttingDown { in_flight } => {
            eprintln!("voxcap serve: shutting down; {in_flight} operation(s) in flight")
        }
        ServeEvent::DrainTimedOut { handed_back } => eprintln!(
            "voxcap serve: drain timeout; handing {handed_back} operation(s) to the fleet"
        ),
        _ => {}
    }
}
