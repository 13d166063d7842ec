//! The standalone HTTP/1 server behind [`crate::webhook::serve`]: an axum
//! [`Router`] served with connection limits that `axum::serve` does not
//! have (it sets no timer, so idle and slow sockets stay open for ever).
//!
//! Per connection: hyper's header-read timeout (slow-loris), a request
//! timeout around each handler call (`408` and close), and an idle watchdog
//! that closes a connection with no request in progress and no byte moved
//! for the idle timeout. Across connections: a semaphore caps how many are
//! served at once; while it is full the server stops accepting, so further
//! clients wait in the kernel's backlog instead of taking file descriptors.
//! Shutdown stops accepting, asks every connection to finish its request,
//! and waits at most the request timeout.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, Response, StatusCode};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// Connection limits of the standalone server ([`serve`](crate::webhook::serve), [`serve_with`](crate::webhook::serve_with)).
/// A bot that mounts [`router`](crate::webhook::router) in its own server must set its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookLimits {
    /// A request's headers must arrive within this, counted from the
    /// connection's first byte or the previous response (slow-loris
    /// clients). Default 10 s.
    pub header_read_timeout: Duration,
    /// A request (headers read) must be answered within this, its body
    /// included; else `408` and the connection is closed. Default 30 s.
    pub request_timeout: Duration,
    /// A connection with no request in progress and no byte moved for this
    /// long is closed. Default 60 s.
    pub idle_timeout: Duration,
    /// Connections served at once; further ones wait in the listen backlog
    /// until one closes. Default 512 (keep it well under the process's
    /// file-descriptor limit).
    pub max_connections: usize,
}

impl Default for WebhookLimits {
    fn default() -> Self {
        WebhookLimits {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
        }
    }
}

/// Serves `app` on `listener` with `limits` until `shutdown` resolves.
/// Handlers see the peer as `ConnectInfo<SocketAddr>`.
pub(crate) async fn serve_router(
    listener: TcpListener,
    app: Router,
    limits: WebhookLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "webhook accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        while tasks.try_join_next().is_some() {}
        let app = app.clone();
        let stop = stop_rx.clone();
        tasks.spawn(async move {
            serve_connection(stream, peer, app, limits, stop).await;
            drop(permit);
        });
    }
    let _ = stop_tx.send(true);
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.request_timeout, drain)
        .await
        .is_err()
    {
        tracing::warn!(
            open = tasks.len(),
            "webhook connections still open at shutdown; closing them"
        );
    }
    tasks.abort_all();
}

/// When the connection last moved a byte, and how many requests are in
/// progress on it.
struct Activity {
    epoch: Instant,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn touch(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = self.epoch.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// Decrements the in-flight count when a request's handling ends.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// A TCP stream that records activity on every read and write.
struct TrackedStream {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for TrackedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl AsyncWrite for TrackedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Resolves once the connection has been idle (no request in progress, no
/// byte moved) for `idle`.
async fn idle_watch(activity: Arc<Activity>, idle: Duration) {
    let idle = idle.max(Duration::from_millis(10));
    loop {
        let since = activity.idle_for();
        let busy = activity.in_flight.load(Ordering::Relaxed) > 0;
        if !busy && since >= idle {
            return;
        }
        let wait = if busy { idle } else { idle - since };
        tokio::time::sleep(wait.max(Duration::from_millis(10))).await;
    }
}

fn timeout_response() -> Response<Body> {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::REQUEST_TIMEOUT;
    resp.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    resp
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: WebhookLimits,
    mut stop: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity {
        epoch: Instant::now(),
        last_ms: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
    });
    let io = TokioIo::new(TrackedStream {
        inner: stream,
        activity: activity.clone(),
    });
    let request_timeout = limits.request_timeout;
    let svc_activity = activity.clone();
    let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        svc_activity.in_flight.fetch_add(1, Ordering::Relaxed);
        let busy = Busy(svc_activity.clone());
        async move {
            let _busy = busy;
            match tokio::time::timeout(request_timeout, app.oneshot(req)).await {
                Ok(Ok(resp)) => Ok::<_, Infallible>(resp),
                Ok(Err(never)) => match never {},
                Err(_) => {
                    tracing::warn!(%peer, "webhook request timed out");
                    Ok(timeout_response())
                }
            }
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(io, svc);
    let mut conn = std::pin::pin!(conn);
    let idle = idle_watch(activity, limits.idle_timeout);
    let mut idle = std::pin::pin!(idle);
    let mut stopping = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "webhook connection ended with an error");
                }
                return;
            }
            _ = &mut idle => {
                tracing::debug!(%peer, "closing idle webhook connection");
                return;
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
