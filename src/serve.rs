//! `voxcap serve`: one stateless member of a bot fleet. It runs the
//! verified notification webhook (completions it receives are forwarded
//! through Redis to the instance that placed the operation), `/healthz` and
//! `/readyz`, and a takeover loop that finishes the operations of instances
//! that died: completed recordings are downloaded and analysed into
//! `--out`, pending ones are awaited until their deadline, expired ones are
//! reported `lost`. Each finished takeover prints one JSON line on stdout.
//!
//! SIGTERM or ctrl-c: stop scanning, give in-flight work `--drain-timeout`
//! seconds, then delete the heartbeat so the rest of the fleet takes over
//! whatever is left at once.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio::task::JoinSet;
use voxcap::record::{Bot, Outcome};

use crate::record_cmd::{init_tracing, BotArgs};

/// Arguments of `voxcap serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Graph, token, webhook and fleet settings (--redis is required).
    #[command(flatten)]
    pub bot: BotArgs,
    /// Output directory for the recordings this instance takes over.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Seconds between scans for operations of dead instances.
    #[arg(long, value_name = "S", default_value_t = 2.0, value_parser = parse_secs)]
    pub takeover_interval: f64,
    /// Seconds in-flight work may take to finish on shutdown.
    #[arg(long, value_name = "S", default_value_t = 10.0, value_parser = parse_secs)]
    pub drain_timeout: f64,
}

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.05..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds in 0.05..=3600")),
    }
}

/// Runs `voxcap serve` until SIGTERM or ctrl-c.
pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    if let Err(e) = args.bot.check() {
        eprintln!("voxcap: {e}");
        return Ok(ExitCode::from(2));
    }
    if args.bot.redis.is_none() {
        eprintln!(
            "voxcap: serve needs --redis URL: it is a fleet member whose state lives in Redis \
             (for one instance on its own, use `voxcap record`)"
        );
        return Ok(ExitCode::from(2));
    }
    init_tracing();
    let config = args.bot.bot_config()?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("--out {}", args.out.display()))?;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(serve(args, config))
}

async fn serve(args: &ServeArgs, config: voxcap::record::BotConfig) -> anyhow::Result<ExitCode> {
    let bot = Bot::start(config).await?;
    let id = bot
        .redis()
        .map(|r| r.instance_id().to_string())
        .unwrap_or_default();
    let base = bot
        .callback_url()
        .trim_end_matches(&args.bot.callback_path)
        .to_string();
    eprintln!(
        "voxcap serve: instance {id}: webhook {}, health {base}/healthz, readiness {base}/readyz",
        bot.callback_url()
    );
    let mut tasks: JoinSet<anyhow::Result<Outcome>> = JoinSet::new();
    let mut scan = tokio::time::interval(Duration::from_secs_f64(args.takeover_interval));
    scan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = crate::signal::shutdown();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = scan.tick() => match bot.take_over(&args.out).await {
                Ok(handles) => {
                    for h in handles {
                        tasks.spawn(async move {
                            h.await.context("takeover task")?
                        });
                    }
                }
                Err(e) => tracing::warn!(error = format!("{e:#}"), "takeover scan failed; retrying"),
            },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => report(done),
        }
    }
    eprintln!(
        "voxcap serve: shutting down; {} operation(s) in flight",
        tasks.len()
    );
    let drain = tokio::time::sleep(Duration::from_secs_f64(args.drain_timeout));
    tokio::pin!(drain);
    while !tasks.is_empty() {
        tokio::select! {
            _ = &mut drain => {
                eprintln!("voxcap serve: drain timeout; handing {} operation(s) to the fleet", tasks.len());
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                break;
            }
            Some(done) = tasks.join_next() => report(done),
        }
    }
    // Let the dropped handles hand their operations back before the
    // heartbeat goes (the fleet adopts them on its next scan).
    tokio::time::sleep(Duration::from_millis(50)).await;
    bot.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// One JSON line per finished takeover on stdout; errors on stderr.
fn report(done: Result<anyhow::Result<Outcome>, tokio::task::JoinError>) {
    match done {
        Ok(Ok(o)) => {
            let line = serde_json::json!({
                "event": "takeover",
                "outcome": o.kind,
                "report": o.json_path,
                "result": o.json,
            });
            println!("{line}");
        }
        Ok(Err(e)) => eprintln!("voxcap serve: takeover failed: {e:#}"),
        Err(e) if e.is_cancelled() => {}
        Err(e) => eprintln!("voxcap serve: takeover task failed: {e}"),
    }
}
