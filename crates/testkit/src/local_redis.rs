//! A throwaway `redis-server` on a loopback port, for the fleet,
//! distributed-batch and Redis store tests.
//!
//! voxcap does not emulate Redis: the point of those tests is the real
//! server's semantics (`SET NX`, streams, consumer groups, pub/sub). This
//! module only starts Debian's `redis-server` with persistence off, in a
//! private directory, waits until it answers `PING`, and kills it on drop.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why a local Redis could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LocalRedisError {
    /// The binary is missing or not executable.
    #[error("cannot run {binary}: {source} (install Debian's redis-server; .ci/run does)")]
    Spawn {
        /// The binary tried (`$VOXCAP_REDIS_SERVER` or `redis-server`).
        binary: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// It never answered `PING`.
    #[error("redis-server on 127.0.0.1:{port} did not answer PING within {waited:?}: {detail}")]
    NotReady {
        /// The port.
        port: u16,
        /// How long we waited.
        waited: Duration,
        /// What was seen.
        detail: String,
    },
    /// Local I/O (temp directory, free port).
    #[error("local redis setup: {0}")]
    Io(#[from] std::io::Error),
}

/// A `redis-server` child process on `127.0.0.1`, killed on drop.
#[derive(Debug)]
pub struct LocalRedis {
    child: Child,
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
}

impl LocalRedis {
    /// Starts a server on a free loopback port and waits until it answers.
    pub fn start() -> Result<Self, LocalRedisError> {
        Self::start_with_args(&[])
    }

    /// Like [`LocalRedis::start`], with more `redis-server` arguments (e.g.
    /// `--tls-port`); readiness is still checked on the plain port.
    pub fn start_with_args(extra: &[String]) -> Result<Self, LocalRedisError> {
        let binary =
            std::env::var("VOXCAP_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_string());
        let mut last = None;
        // The free port is found by binding and releasing it; another process
        // may grab it in between, so a failed start is retried on a new port.
        for _ in 0..5 {
            let port = crate::net::try_free_port()?;
            let dir = std::env::temp_dir().join(format!(
                "voxcap-redis-{}-{port}-{:x}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ));
            std::fs::create_dir_all(&dir)?;
            let child = spawn(&binary, port, &dir, extra)?;
            let mut server = LocalRedis {
                child,
                port,
                dir,
                extra: extra.to_vec(),
            };
            match server.wait_ready(Duration::from_secs(10)) {
                Ok(()) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(LocalRedisError::NotReady {
            port: 0,
            waited: Duration::ZERO,
            detail: "no attempt made".into(),
        }))
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), LocalRedisError> {
        let start = Instant::now();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut detail = String::from("no connection");
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(LocalRedisError::NotReady {
                    port: self.port,
                    waited: start.elapsed(),
                    detail: format!("the server exited ({status})"),
                });
            }
            match ping(addr) {
                Ok(()) => return Ok(()),
                Err(e) => detail = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(LocalRedisError::NotReady {
            port: self.port,
            waited: start.elapsed(),
            detail,
        })
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server and starts a new, empty one on the same port (a
    /// restart without persistence), waiting until it answers.
    pub fn restart(&mut self) -> Result<(), LocalRedisError> {
        self.kill();
        let binary =
            std::env::var("VOXCAP_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_string());
        // The old socket may linger for a moment; retry the bind.
        let mut last = None;
        for _ in 0..20 {
            self.child = spawn(&binary, self.port, &self.dir, &self.extra)?;
            match self.wait_ready(Duration::from_secs(5)) {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(last.unwrap_or(LocalRedisError::NotReady {
            port: self.port,
            waited: Duration::ZERO,
            detail: "no attempt made".into(),
        }))
    }

    /// Kills the server now (tests of "Redis went away").
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LocalRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn(
    binary: &str,
    port: u16,
    dir: &std::path::Path,
    extra: &[String],
) -> Result<Child, LocalRedisError> {
    Command::new(binary)
        .args(["--port", &port.to_string()])
        .args(["--bind", "127.0.0.1"])
        .args(["--save", ""])
        .args(["--appendonly", "no"])
        .args(["--daemonize", "no"])
        .args(["--loglevel", "warning"])
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| LocalRedisError::Spawn {
            binary: binary.to_string(),
            source,
        })
}

fn ping(addr: SocketAddr) -> std::io::Result<()> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    s.set_read_timeout(Some(Duration::from_millis(500)))?;
    s.write_all(b"PING\r\n")?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf)?;
    if buf[..n].starts_with(b"+PONG") {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "unexpected reply {:?}",
            String::from_utf8_lossy(&buf[..n])
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_answers_and_stops() {
        let mut r = LocalRedis::start().expect("redis-server must be installed (.ci/run does)");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, r.port()));
        ping(addr).unwrap();
        assert!(r.url().starts_with("redis://127.0.0.1:"));
        r.restart().unwrap();
        ping(addr).unwrap();
        r.kill();
        assert!(ping(addr).is_err());
    }
}
