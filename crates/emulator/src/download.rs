//! The recording host: `GET /recordings/{id}` as a chunked
//! `application/octet-stream`, guarded by the recording access token, with
//! `Range` support and the download faults (drop, slow, no range, expiry).
//! Every authorised download is counted per recording, so fleet tests can
//! prove that no recording was fetched twice. A recording still growing
//! under `streamWhileRecording` is served as it grows (the `stream` module).

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::graph_error;
use crate::state::{EmulatorState, RecordingLookup};
use crate::stream;

pub use crate::state::DownloadCount;

/// Chunk size of a normal download.
const CHUNK: usize = 16 * 1024;

/// A parsed single `Range: bytes=...` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteRange {
    /// `bytes=a-b` or `bytes=a-` (end inclusive, clamped later).
    From(u64, Option<u64>),
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

/// Parses a `Range` header. Anything but one well-formed byte range yields
/// `None`, which RFC 9110 lets a server answer with the whole file.
pub(crate) fn parse_range(v: &str) -> Option<ByteRange> {
    let spec = v.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        return b.parse().ok().filter(|n| *n > 0).map(ByteRange::Suffix);
    }
    let start: u64 = a.parse().ok()?;
    if b.is_empty() {
        return Some(ByteRange::From(start, None));
    }
    let end: u64 = b.parse().ok()?;
    (end >= start).then_some(ByteRange::From(start, Some(end)))
}

/// Serves one recording download.
pub(crate) async fn download(
    State(st): State<EmulatorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let rec = match st.recording_for_download(&id) {
        RecordingLookup::Found(r) => r,
        RecordingLookup::Missing => {
            return graph_error(
                StatusCode::NOT_FOUND,
                "ItemNotFound",
                format!("Recording {id} does not exist."),
            )
        }
        RecordingLookup::Discarded => {
            return graph_error(
                StatusCode::NOT_FOUND,
                "ItemNotFound",
                format!("Recording {id} was discarded after the call ended."),
            )
        }
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    match presented {
        None => {
            return graph_error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                format!("Recording {id}: send Authorization: Bearer <recordingAccessToken>."),
            )
        }
        Some(t) if t != rec.token => {
            return graph_error(
                StatusCode::FORBIDDEN,
                "Forbidden",
                format!("Recording {id}: the bearer token is not this recording's access token."),
            )
        }
        Some(_) if rec.token_expired => {
            return graph_error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                format!("Recording {id}: the recording access token has expired."),
            )
        }
        Some(_) => {}
    }
    if let Some(live) = rec
        .live
        .filter(|l| !l.ended(rec.bytes.len(), std::time::Instant::now()))
    {
        st.count_download(&id, 0);
        let body = Body::from_stream(stream::growing_stream(
            stream::streaming_header(&rec.bytes),
            live,
            rec.drop_after,
        ));
        let mut resp = (StatusCode::OK, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("none"));
        return resp;
    }
    let total = rec.bytes.len() as u64;
    let range = if rec.range_disabled {
        None
    } else {
        headers
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_range)
    };
    let (status, start, end) = match range {
        None => (StatusCode::OK, 0, total),
        Some(r) => {
            let (s, e) = match r {
                ByteRange::From(s, e) => (s, e.map_or(total, |e| (e + 1).min(total))),
                ByteRange::Suffix(n) => (total.saturating_sub(n), total),
            };
            if s >= total {
                let mut resp = graph_error(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "RequestedRangeNotSatisfiable",
                    format!(
                        "Recording {id} has {total} bytes; the requested range starts beyond it."
                    ),
                );
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{total}")) {
                    resp.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return resp;
            }
            (StatusCode::PARTIAL_CONTENT, s, e)
        }
    };
    st.count_download(&id, start);
    let data = rec.bytes.slice(start as usize..end as usize);
    let chunk = match rec.bytes_per_sec {
        // Twenty chunks a second keeps the pacing smooth.
        Some(bps) => ((bps / 20) as usize).clamp(1, CHUNK),
        None => CHUNK,
    };
    let body = Body::from_stream(chunk_stream(data, chunk, rec.bytes_per_sec, rec.drop_after));
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        header::ACCEPT_RANGES,
        HeaderValue::from_static(if rec.range_disabled { "none" } else { "bytes" }),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{total}", end - 1)) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    resp
}

/// The body as a stream of chunks, paced and cut as the faults say. No
/// `Content-Length` is set, so hyper sends it chunked, as Graph does.
fn chunk_stream(
    data: Bytes,
    chunk: usize,
    bytes_per_sec: Option<u64>,
    drop_after: Option<u64>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    futures_util::stream::unfold(0usize, move |pos| {
        let data = data.clone();
        async move {
            if pos >= data.len() {
                return None;
            }
            if let Some(limit) = drop_after {
                if pos as u64 >= limit {
                    // Pausing first lets hyper flush the bytes already
                    // written, so the client really gets K bytes; the error
                    // then ends the body without the final chunk, so the
                    // client sees a cut connection, not a short file.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    return Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "injected fault: connection dropped",
                        )),
                        usize::MAX,
                    ));
                }
            }
            let mut n = chunk.min(data.len() - pos);
            if let Some(limit) = drop_after {
                n = n.min(limit as usize - pos);
            }
            if let Some(bps) = bytes_per_sec {
                tokio::time::sleep(Duration::from_secs_f64(n as f64 / bps as f64)).await;
            }
            Some((Ok(data.slice(pos..pos + n)), pos + n))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_parsing() {
        let cases = [
            ("bytes=0-99", Some(ByteRange::From(0, Some(99)))),
            ("bytes=100-", Some(ByteRange::From(100, None))),
            ("bytes=-500", Some(ByteRange::Suffix(500))),
            ("bytes=5-1", None),
            ("bytes=0-1,5-6", None),
            ("items=0-1", None),
            ("bytes=-0", None),
            ("bytes=x-", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_range(input), want, "input {input:?}");
        }
    }
}
