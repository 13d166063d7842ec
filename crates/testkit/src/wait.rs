//! Polling a condition until a deadline.

use std::time::{Duration, Instant};

/// How often [`wait_until`] and [`poll_until`] check their condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A condition did not hold in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timed out after {limit:?} waiting for {what}")]
pub struct TimedOut {
    /// What was awaited, as the caller named it.
    pub what: String,
    /// How long the caller was willing to wait.
    pub limit: Duration,
}

/// Checks `condition` every [`POLL_INTERVAL`] until it is true (`Ok`) or
/// `limit` has passed (`Err` naming `what`). The condition is checked once
/// more at the deadline, so a slow last step still counts.
pub fn poll_until(
    what: &str,
    limit: Duration,
    mut condition: impl FnMut() -> bool,
) -> Result<(), TimedOut> {
    let start = Instant::now();
    loop {
        if condition() {
            return Ok(());
        }
        if start.elapsed() >= limit {
            return Err(TimedOut {
                what: what.to_string(),
                limit,
            });
        }
        std::thread::sleep(POLL_INTERVAL.min(limit.saturating_sub(start.elapsed())));
    }
}

/// [`poll_until`] for tests: panics with "timed out after … waiting for
/// `what`" when the condition does not hold within `limit`.
pub fn wait_until(what: &str, limit: Duration, condition: impl FnMut() -> bool) {
    if let Err(e) = poll_until(what, limit, condition) {
        panic!("{e}");
    }
}

/// The async [`wait_until`] (feature `tokio`): awaits `condition()` every
/// [`POLL_INTERVAL`] on the tokio timer and panics with "timed out after …
/// waiting for `what`" when it is still false once `limit` has passed.
#[cfg(feature = "tokio")]
pub async fn wait_until_async<F, Fut>(what: &str, limit: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if condition().await {
            return;
        }
        if start.elapsed() >= limit {
            panic!(
                "{}",
                TimedOut {
                    what: what.to_string(),
                    limit
                }
            );
        }
        tokio::time::sleep(POLL_INTERVAL.min(limit.saturating_sub(start.elapsed()))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_once_the_condition_holds() {
        let mut calls = 0;
        poll_until("three calls", Duration::from_secs(5), || {
            calls += 1;
            calls == 3
        })
        .unwrap();
        assert_eq!(calls, 3);
    }

    #[test]
    fn times_out_naming_what_was_awaited() {
        let e = poll_until("the moon", Duration::from_millis(50), || false).unwrap_err();
        assert_eq!(e.to_string(), "timed out after 50ms waiting for the moon");
    }

    #[test]
    #[should_panic(expected = "waiting for nothing")]
    fn wait_until_panics_on_timeout() {
        wait_until("nothing", Duration::from_millis(10), || false);
    }

    #[cfg(feature = "tokio")]
    #[test]
    fn the_async_wait_returns_or_panics() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let mut calls = 0;
        rt.block_on(wait_until_async(
            "two calls",
            Duration::from_secs(5),
            || {
                calls += 1;
                std::future::ready(calls == 2)
            },
        ));
        assert_eq!(calls, 2);
        let hang = std::panic::catch_unwind(|| {
            rt.block_on(wait_until_async("never", Duration::from_millis(30), || {
                std::future::ready(false)
            }))
        });
        assert!(hang.is_err());
    }
}
