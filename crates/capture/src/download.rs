//! Streaming download of a recording into a file and, at the same time, into
//! an analysis closure on a blocking thread.
//!
//! Bytes are written to a temp file in the output directory and sent through
//! a bounded channel to the closure, which sees them as a [`std::io::Read`].
//! Each byte offset reaches the file and the closure exactly once, in order:
//! after a dropped connection the download resumes with `Range` (checked
//! against `206` + `Content-Range`), and when the server ignores `Range` and
//! answers `200`, the already-delivered prefix of the new body is skipped.
//! On success the file is fsynced and atomically renamed into place; on
//! failure the temp file is deleted and the closure's read fails, so a
//! truncated recording is never kept or analysed as whole.
//!
//! Before any request the location is checked against the
//! [`DownloadPolicy`] (https, allowed hosts); a response that comes from
//! another origin than asked (a redirect) is refused unread, and a body
//! larger than the policy's size cap is refused (by `Content-Length`) or cut
//! (while streaming) and reported, leaving no file.
//!
//! The file is written through a `RecordingSink` (`recording_sink`), which
//! hashes the bytes on the way and, with [`DownloadOptions::encrypt_to`],
//! encrypts them first: the temp file then only ever holds ciphertext.

use crate::compliance::RecordingPermit;
pub use crate::download_policy::{DownloadOptions, DownloadPolicy};
use crate::error::{CaptureError, Result};
use crate::recording_sink::RecordingSink;
use crate::secret::{redact_url, Secret};
use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::header::{CONTENT_RANGE, RANGE};
use reqwest::StatusCode;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

/// What the download did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownloadInfo {
    /// The final file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// HTTP requests made.
    pub attempts: u32,
    /// Resumes with `Range` answered by `206`.
    pub resumed: u32,
    /// Restarts from byte 0 because `Range` was refused.
    pub restarted: u32,
    /// From the first request to the last byte.
    pub elapsed: Duration,
    /// What was stored (set on success).
    pub stored: Option<StoredRecording>,
}

/// The recording as stored: hashes, and when the download ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecording {
    /// SHA-256 and size of the bytes as served.
    pub served: voxcap_records::digest::FileDigest,
    /// SHA-256 and size of the file on disk (the ciphertext when encrypted).
    pub on_disk: voxcap_records::digest::FileDigest,
    /// Whether the file is encrypted.
    pub encrypted: bool,
    /// When the first request went out.
    pub started_at: SystemTime,
    /// When the last byte arrived.
    pub finished_at: SystemTime,
}

/// The recording as the analysis closure receives it: an owned, blocking
/// [`Read`] (`Send + 'static`, so it may move to another thread) over the
/// chunks the download task sends. A read error means the download failed
/// and the data so far must not be taken as whole. Dropping it early is
/// fine: the download goes on saving the file.
pub struct RecordingReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl std::fmt::Debug for RecordingReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingReader").finish_non_exhaustive()
    }
}

impl Read for RecordingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Downloads `location` with only `token` (the recording access token, never
/// the Graph app token) into `out_path`, feeding `analyze` as bytes arrive.
///
/// Requires a [`RecordingPermit`]: persisting media without a successful
/// `updateRecordingStatus(recording)` is not allowed.
pub async fn download_and_analyze<T, F>(
    http: &reqwest::Client,
    location: &str,
    token: Option<&Secret>,
    out_path: &Path,
    permit: &RecordingPermit,
    options: &DownloadOptions,
    analyze: F,
) -> Result<(T, DownloadInfo)>
where
    T: Send + 'static,
    F: FnOnce(RecordingReader) -> T + Send + 'static,
{
    let url = redact_url(location);
    options.policy.check(location)?;
    let dir = match out_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let io_err = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| CaptureError::Io {
            action,
            path,
            source,
        }
    };
    let temp = tempfile::Builder::new()
        .prefix(".voxcap-")
        .suffix(".part")
        .tempfile_in(&dir)
        .map_err(io_err("create temp file in", &dir))?;
    let std_file = temp
        .as_file()
        .try_clone()
        .map_err(io_err("open", temp.path()))?;
    let mut file = RecordingSink::new(std_file, options.encrypt_to.as_ref())
        .map_err(io_err("encrypt into", temp.path()))?;
    let started_at = SystemTime::now();
    tracing::debug!(call_id = permit.call_id(), url = %url, "downloading recording");

    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(options.channel_capacity.max(1));
    let analysis = tokio::task::spawn_blocking(move || {
        analyze(RecordingReader {
            rx,
            current: Bytes::new(),
        })
    });

    let fetched = fetch(
        http,
        location,
        &url,
        token,
        &mut file,
        &tx,
        options,
        temp.path(),
    )
    .await;
    let info = match fetched {
        Ok(info) => info,
        Err(e) => {
            let _ = tx
                .send(Err(io::Error::other("download failed; data incomplete")))
                .await;
            drop(tx);
            let _ = analysis.await;
            // `temp` drops here and deletes the partial file.
            tracing::warn!(url = %url, error = %e, "download failed; partial file deleted");
            return Err(e);
        }
    };
    let finished_at = SystemTime::now();
    drop(tx);
    let digests = file
        .finish()
        .await
        .map_err(io_err("write and fsync", temp.path()))?;
    let value = analysis.await.map_err(|e| CaptureError::Analysis {
        path: out_path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let target = out_path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        temp.persist(&target)
            .map_err(|e| io_err("rename temp file to", &target)(e.error))?;
        // Make the rename itself durable; not every platform allows
        // opening a directory, so this is best effort.
        if let Some(parent) = target.parent() {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            if let Ok(d) = std::fs::File::open(parent) {
                let _ = d.sync_all();
            }
        }
        Ok::<(), CaptureError>(())
    })
    .await
    .map_err(|e| CaptureError::Analysis {
        path: out_path.to_path_buf(),
        reason: format!("rename task failed: {e}"),
    })??;
    tracing::debug!(url = %url, bytes = info.bytes, attempts = info.attempts, "recording saved");
    Ok((
        value,
        DownloadInfo {
            path: out_path.to_path_buf(),
            stored: Some(StoredRecording {
                served: digests.served,
                on_disk: digests.stored,
                encrypted: options.encrypt_to.is_some(),
                started_at,
                finished_at,
            }),
            ..info
        },
    ))
}

impl crate::tracker::CompletedRecording {
    /// [`download_and_analyze`] for this recording with the client's
    /// download options ([`crate::client::GraphClientBuilder::download_options`]:
    /// the default policy, plus the Graph base URL's origin), using the
    /// client's shared HTTP pool but only the recording's own token.
    ///
    /// Fails before any request if `permit` covers another call.
    pub async fn download_and_analyze<T, F>(
        &self,
        client: &crate::client::GraphClient,
        out_path: &Path,
        permit: &RecordingPermit,
        analyze: F,
    ) -> Result<(T, DownloadInfo)>
    where
        T: Send + 'static,
        F: FnOnce(RecordingReader) -> T + Send + 'static,
    {
        use crate::wire::NormalizedId;
        if NormalizedId::new(permit.call_id()) != NormalizedId::new(&self.call_id) {
            return Err(CaptureError::InvalidInput {
                what: format!("recording permit for call {}", permit.call_id()),
                reason: format!("it does not cover call {}", self.call_id),
            });
        }
        download_and_analyze(
            client.http(),
            &self.location,
            self.token.as_ref(),
            out_path,
            permit,
            client.download_options(),
            analyze,
        )
        .await
    }
}

/// Parses `Content-Range: bytes START-END/TOTAL` into (start, total).
fn parse_content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let total = if total.trim() == "*" {
        None
    } else {
        Some(total.trim().parse().ok()?)
    };
    Some((start.trim().parse().ok()?, total))
}

#[allow(clippy::too_many_arguments)]
async fn fetch(
    http: &reqwest::Client,
    location: &str,
    url: &str,
    token: Option<&Secret>,
    file: &mut RecordingSink,
    tx: &mpsc::Sender<io::Result<Bytes>>,
    options: &DownloadOptions,
    temp_path: &Path,
) -> Result<DownloadInfo> {
    let started = Instant::now();
    let max = options.max_attempts.max(1);
    let cap = options.policy.size_cap();
    let asked_origin = reqwest::Url::parse(location)
        .map(|u| crate::download_policy::origin(&u))
        .unwrap_or_default();
    let too_large = |announced: Option<u64>, received: u64| CaptureError::DownloadTooLarge {
        url: url.to_string(),
        limit: cap,
        announced,
        received,
    };
    let mut delivered: u64 = 0;
    let mut total: Option<u64> = None;
    let mut attempts = 0;
    let mut resumed = 0;
    let mut restarted = 0;
    let mut range_allowed = true;
    let mut analysis_open = true;
    let mut last_failure = String::from("no attempt made");
    let incomplete = |attempts, received, reason: String| CaptureError::DownloadIncomplete {
        url: url.to_string(),
        attempts,
        received,
        reason,
    };
    while attempts < max {
        if attempts > 0 {
            let exp = options
                .backoff
                .saturating_mul(1 << (attempts - 1).min(10))
                .min(options.max_backoff);
            tokio::time::sleep(exp).await;
        }
        attempts += 1;
        let mut req = http.get(location);
        if let Some(t) = options.request_timeout {
            req = req.timeout(t);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t.expose());
        }
        let ranged = delivered > 0 && range_allowed;
        if ranged {
            req = req.header(RANGE, format!("bytes={delivered}-"));
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                last_failure = format!("request failed: {}", e.without_url());
                tracing::debug!(url, attempts, error = %last_failure, "download attempt failed");
                continue;
            }
        };
        let status = resp.status();
        // The client follows same-origin redirects at most; whatever it
        // did, a body from another origin is never read.
        let got_origin = crate::download_policy::origin(resp.url());
        if got_origin != asked_origin || status.is_redirection() {
            return Err(incomplete(
                attempts,
                delivered,
                format!(
                    "redirect refused (HTTP {}, to {}): recordings are only read from the origin named",
                    status.as_u16(),
                    redact_url(resp.url().as_str())
                ),
            ));
        }
        let mut pos: u64 = 0;
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(CaptureError::DownloadTokenRejected {
                    url: url.to_string(),
                    status: status.as_u16(),
                })
            }
            StatusCode::NOT_FOUND | StatusCode::GONE => {
                return Err(CaptureError::RecordingGone {
                    url: url.to_string(),
                    status: status.as_u16(),
                })
            }
            StatusCode::RANGE_NOT_SATISFIABLE => {
                if total == Some(delivered) {
                    break;
                }
                range_allowed = false;
                last_failure = "server refused the Range request (416)".into();
                continue;
            }
            StatusCode::PARTIAL_CONTENT => {
                let cr = resp
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_content_range);
                match cr {
                    Some((start, t)) if start == delivered => {
                        if let (Some(t), Some(known)) = (t, total) {
                            if t != known {
                                return Err(incomplete(attempts, delivered,
                                    format!("recording size changed between attempts ({known} then {t} bytes)")));
                            }
                        }
                        total = t.or(total);
                        if let Some(t) = total.filter(|t| *t > cap) {
                            return Err(too_large(Some(t), delivered));
                        }
                        pos = start;
                        if ranged {
                            resumed += 1;
                        }
                    }
                    other => {
                        // A 206 that does not start where we asked is not
                        // usable; fall back to a full restart.
                        last_failure = format!("206 with unexpected Content-Range {other:?}");
                        range_allowed = false;
                        continue;
                    }
                }
            }
            s if s.is_success() => {
                if delivered > 0 {
                    restarted += 1;
                    tracing::debug!(
                        url,
                        delivered,
                        "server ignored Range; restarting from byte 0"
                    );
                }
                if let Some(len) = resp.content_length() {
                    if let Some(known) = total {
                        if len != known {
                            return Err(incomplete(attempts, delivered,
                                format!("recording size changed between attempts ({known} then {len} bytes)")));
                        }
                    }
                    total = Some(len);
                    if len > cap {
                        // Refused before a byte of the body is read.
                        return Err(too_large(Some(len), delivered));
                    }
                }
            }
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                last_failure = format!("HTTP {}", s.as_u16());
                if let Some(d) = crate::client::parse_retry_after(resp.headers()) {
                    tokio::time::sleep(d.min(options.max_backoff * 5)).await;
                }
                continue;
            }
            s => {
                return Err(incomplete(
                    attempts,
                    delivered,
                    format!("unexpected HTTP {}", s.as_u16()),
                ))
            }
        }

        let mut stream = resp.bytes_stream();
        let mut broken = None;
        while let Some(chunk) = stream.next().await {
            let mut chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    broken = Some(format!("connection dropped: {}", e.without_url()));
                    break;
                }
            };
            // After a restart, skip what the file and the analysis already have.
            if pos < delivered {
                let skip = (delivered - pos).min(chunk.len() as u64) as usize;
                pos += skip as u64;
                chunk = chunk.slice(skip..);
            }
            if chunk.is_empty() {
                continue;
            }
            if delivered + chunk.len() as u64 > cap {
                // Cut here: not retried, and the partial file is deleted.
                return Err(too_large(None, delivered));
            }
            if let Some(t) = total {
                if delivered + chunk.len() as u64 > t {
                    return Err(incomplete(
                        attempts,
                        delivered,
                        format!("server sent more than the announced {t} bytes"),
                    ));
                }
            }
            file.write_all(&chunk)
                .await
                .map_err(|source| CaptureError::Io {
                    action: "write",
                    path: temp_path.to_path_buf(),
                    source,
                })?;
            let n = chunk.len() as u64;
            pos += n;
            delivered += n;
            if analysis_open && tx.send(Ok(chunk)).await.is_err() {
                // The closure stopped reading early; keep saving the file.
                analysis_open = false;
            }
        }
        match (broken, total) {
            (Some(reason), _) => last_failure = reason,
            (None, Some(t)) if delivered < t => {
                last_failure = format!("stream ended at {delivered} of {t} bytes");
            }
            (None, _) if pos < delivered => {
                last_failure = format!(
                    "restarted stream ended at {pos}, before the {delivered} bytes already saved"
                );
            }
            (None, _) => {
                return Ok(DownloadInfo {
                    path: PathBuf::new(),
                    bytes: delivered,
                    attempts,
                    resumed,
                    restarted,
                    elapsed: started.elapsed(),
                    ..DownloadInfo::default()
                })
            }
        }
        tracing::debug!(url, attempts, delivered, reason = %last_failure, "download interrupted");
    }
    if total == Some(delivered) && delivered > 0 {
        return Ok(DownloadInfo {
            path: PathBuf::new(),
            bytes: delivered,
            attempts,
            resumed,
            restarted,
            elapsed: started.elapsed(),
            ..DownloadInfo::default()
        });
    }
    Err(incomplete(attempts, delivered, last_failure))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_forms() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some((100, Some(200)))
        );
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("items 5-9/10"), None);
        assert_eq!(parse_content_range("bytes x-9/10"), None);
    }

    #[tokio::test]
    async fn channel_reader_reads_across_chunks_and_reports_errors() {
        let (tx, rx) = mpsc::channel(4);
        tx.send(Ok(Bytes::from_static(b"abc"))).await.unwrap();
        tx.send(Ok(Bytes::from_static(b"de"))).await.unwrap();
        tx.send(Err(io::Error::other("cut"))).await.unwrap();
        drop(tx);
        let out = tokio::task::spawn_blocking(move || {
            let mut r = RecordingReader {
                rx,
                current: Bytes::new(),
            };
            let mut buf = Vec::new();
            let res = r.read_to_end(&mut buf);
            (buf, res.is_err())
        })
        .await
        .unwrap();
        assert_eq!(out.0, b"abcde");
        assert!(out.1);
    }
}
