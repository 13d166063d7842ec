//! Async connections to a [`LocalRedis`] and what the fleet tests read from
//! the operation store (feature `redis`).

use std::time::Duration;

use crate::LocalRedis;

/// A multiplexed async connection to `redis`; panics when it cannot connect.
pub async fn redis_conn(redis: &LocalRedis) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap_or_else(|e| panic!("redis url: {e}"))
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("connect to the local redis-server: {e}"))
}

/// Operations the Redis operation store still holds as unfinished (the
/// size of `voxcap:pending`).
pub async fn unfinished(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    redis::cmd("ZCARD")
        .arg("voxcap:pending")
        .query_async(conn)
        .await
        .unwrap_or_else(|e| panic!("ZCARD voxcap:pending: {e}"))
}

/// Waits (20 s at most) until the store holds `n` unfinished operations;
/// `context` explains a timeout (e.g. the owners' stderr).
pub async fn wait_unfinished(
    conn: &mut redis::aio::MultiplexedConnection,
    n: u64,
    context: impl Fn() -> String,
) {
    let limit = Duration::from_secs(20);
    let start = std::time::Instant::now();
    while unfinished(conn).await != n {
        assert!(
            start.elapsed() < limit,
            "operations never registered: {}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
