//! The one way voxcap reaches Redis (cargo feature `redis`): a client for a
//! `redis://` or `rediss://` URL (TLS through rustls, against the public
//! roots or a private CA), and a connection manager whose handshake is
//! bounded in time and proven with a `PING`. The fleet store
//! ([`crate::redis_store`]), the bot and the batch queue all connect here.
//!
//! Errors are the `redis` crate's; callers add the URL, always through
//! [`crate::secret::redact_url`].

use std::path::Path;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// A Redis client for `url`: `redis://` in the clear, `rediss://` over TLS
/// (rustls) verified against the public web roots, or against `ca_pem` (PEM
/// CA certificates) when given.
pub fn redis_client(url: &str, ca_pem: Option<&[u8]>) -> redis::RedisResult<redis::Client> {
    match ca_pem {
        None => redis::Client::open(url),
        Some(pem) => redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.to_vec()),
            },
        ),
    }
}

/// Reads a CA file for [`redis_client`]: PEM holding at least one
/// certificate. The error names no flag; the caller names the path's source.
pub fn read_ca_pem(path: &Path) -> std::io::Result<Vec<u8>> {
    let pem = std::fs::read(path)?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in the file",
        ));
    }
    Ok(pem)
}

/// Time limits and retries of [`connect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectLimits {
    /// Limit for one connection attempt.
    pub connect_timeout: Duration,
    /// Limit for one reply.
    pub response_timeout: Duration,
    /// Reconnection attempts of the manager after the first.
    pub retries: usize,
    /// Longest pause between reconnection attempts.
    pub max_delay: Duration,
    /// Limit for the whole handshake, retries included: a black-holed
    /// address must not hang the caller.
    pub handshake: Duration,
}

impl ConnectLimits {
    /// `timeout` for each attempt and each reply, `retries` reconnections
    /// at most 2 s apart, and twice `timeout` for the whole handshake.
    pub fn within(timeout: Duration, retries: usize) -> Self {
        ConnectLimits {
            connect_timeout: timeout,
            response_timeout: timeout,
            retries,
            max_delay: Duration::from_secs(2),
            handshake: timeout * 2,
        }
    }
}

/// Connects a [`ConnectionManager`] (which reconnects by itself later) and
/// checks with a `PING` that the server answers.
pub async fn connect(
    client: &redis::Client,
    limits: &ConnectLimits,
) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(limits.connect_timeout))
        .set_response_timeout(Some(limits.response_timeout))
        .set_number_of_retries(limits.retries)
        .set_max_delay(limits.max_delay);
    let timed_out = || {
        redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connection timed out",
        ))
    };
    let mut conn = tokio::time::timeout(
        limits.handshake,
        client.get_connection_manager_with_config(config),
    )
    .await
    .map_err(|_| timed_out())??;
    let pong: String = redis::cmd("PING").query_async(&mut conn).await?;
    if pong != "PONG" {
        return Err(redis::RedisError::from(std::io::Error::other(format!(
            "PING answered {pong:?}"
        ))));
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_a_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let e = read_ca_pem(&path).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert!(read_ca_pem(&dir.path().join("missing.pem")).is_err());
    }

    #[test]
    fn urls_are_parsed_with_and_without_tls() {
        assert!(redis_client("redis://127.0.0.1:6379/0", None).is_ok());
        assert!(redis_client("rediss://127.0.0.1:6380/", None).is_ok());
        assert!(redis_client("http//nowhere", None).is_err());
    }
}
