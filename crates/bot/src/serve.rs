//! The serve loop of a fleet member, without its command line: scan for
//! the operations of dead instances every so often and finish each in its
//! own task; on shutdown stop scanning, give in-flight work a drain time,
//! hand what is left to the fleet, then stop the bot (which deletes its
//! heartbeat, so the rest of the fleet takes over at once).
//!
//! What happens is pushed to the caller as [`ServeEvent`]s; the loop itself
//! prints nothing. [`shutdown_signal`] is the stop signal long-running
//! commands obey.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::bot::Bot;
use crate::error::{BotError, Result};
use crate::outcome::Outcome;

/// How the serve loop runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where taken-over recordings and reports go.
    pub out_dir: PathBuf,
    /// Pause between scans for operations of dead instances.
    pub takeover_interval: Duration,
    /// How long in-flight work may take to finish on shutdown.
    pub drain_timeout: Duration,
}

/// What the serve loop reports as it goes.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServeEvent {
    /// A taken-over operation finished.
    TakenOver(Box<Outcome>),
    /// A taken-over operation ended in an error.
    TakeoverFailed(BotError),
    /// Shutdown began with this many operations in flight.
    ShuttingDown {
        /// Operations still running.
        in_flight: usize,
    },
    /// The drain time ran out; this many operations go back to the fleet.
    DrainTimedOut {
        /// Operations handed back.
        handed_back: usize,
    },
}

/// Runs `bot` as a fleet member until `shutdown` resolves, then drains and
/// stops it.
pub async fn serve(
    bot: Bot,
    options: &ServeOptions,
    shutdown: impl Future<Output = ()>,
    mut on_event: impl FnMut(ServeEvent),
) {
    let mut tasks: JoinSet<Result<Outcome>> = JoinSet::new();
    let mut scan = tokio::time::interval(options.takeover_interval);
    scan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = scan.tick() => match bot.take_over(&options.out_dir).await {
                Ok(handles) => {
                    for h in handles {
                        tasks.spawn(async move {
                            h.await.map_err(|e| BotError::Task {
                                what: "takeover",
                                reason: e.to_string(),
                            })?
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "takeover scan failed; retrying"),
            },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => report(done, &mut on_event),
        }
    }
    on_event(ServeEvent::ShuttingDown {
        in_flight: tasks.len(),
    });
    let drain = tokio::time::sleep(options.drain_timeout);
    tokio::pin!(drain);
    while !tasks.is_empty() {
        tokio::select! {
            _ = &mut drain => {
                on_event(ServeEvent::DrainTimedOut { handed_back: tasks.len() });
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                break;
            }
            Some(done) = tasks.join_next() => report(done, &mut on_event),
        }
    }
    // Let the dropped handles hand their operations back before the
    // heartbeat goes (the fleet adopts them on its next scan).
    tokio::time::sleep(Duration::from_millis(50)).await;
    bot.stop().await;
}

fn report(
    done: std::result::Result<Result<Outcome>, tokio::task::JoinError>,
    on_event: &mut impl FnMut(ServeEvent),
) {
    match done {
        Ok(Ok(o)) => on_event(ServeEvent::TakenOver(Box::new(o))),
        Ok(Err(e)) => on_event(ServeEvent::TakeoverFailed(e)),
        Err(e) if e.is_cancelled() => {}
        Err(e) => on_event(ServeEvent::TakeoverFailed(BotError::Task {
            what: "takeover",
            reason: e.to_string(),
        })),
    }
}

/// Resolves on ctrl-c or, on Unix, SIGTERM (what a deploy or
/// `systemctl stop` sends).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
