//! `streamWhileRecording` on the legacy `record` action: an early
//! notification with the recording's location as soon as recording starts,
//! then a download that grows at the caller's pace.
//!
//! The documentation says only "a resource location will be provided as
//! soon as the recording starts". Everything else below is an assumption,
//! kept here in one place so that a field report changes one module:
//!
//! 1. **Only legacy `record`** with `streamWhileRecording: true` streams;
//!    `recordResponse` (v1.0 and beta) has no such field and ignores it.
//! 2. **The early notification** is a `changeType: "updated"` notification
//!    in the legacy form (`resource`, no batch `@odata.type`), whose
//!    `resourceData` is the operation with `status: "running"`,
//!    `recordResourceLocation` and `recordResourceAccessToken` (the same
//!    location and token the completion carries later). It is sent when
//!    recording starts: after the prompt and the beep.
//! 3. **The growing file** is a 16 kHz 16-bit mono WAV whose header cannot
//!    know its length, so its RIFF and data sizes are `0xFFFFFFFF` (the
//!    pipe convention); samples appear at the caller's pace (simulated time,
//!    scaled by `time_scale`), sent chunked as they appear, and the body
//!    ends when the recording ends (completion or hang-up).
//! 4. **While it grows**, `Range` is ignored (`200` from byte 0,
//!    `Accept-Ranges: none`) and of the download faults only the drop
//!    (`drop_after_bytes`: the connection is cut after K bytes, for
//!    `drop_times` downloads) applies; pacing does not. Once it has ended,
//!    the location serves the finished file with its true sizes, `Range`
//!    and faults as for any recording.
//! 5. **The completion** follows as usual, with the same location and token.
//!    A hang-up still sends no completion; the stream then ends at the
//!    hang-up. (A simplification, not a claim: deleting the call cancels
//!    the operation as usual but does not cut a stream already growing.)

use std::time::{Duration, Instant};

use axum::body::Bytes;
use serde_json::{json, Value};

use crate::flavor::Flavor;
use crate::wire::{self, CommsNotification};

/// Bytes of the canonical WAV header.
const HEADER: usize = 44;
/// Bytes per sample (16-bit mono).
const SAMPLE_BYTES: u64 = 2;
/// Simulated seconds between two looks at a growing recording.
const POLL_S: f64 = 0.02;

/// When a growing recording started and how fast it grows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Live {
    /// Real time at which recording started.
    pub(crate) started: Instant,
    /// Real seconds per simulated second.
    pub(crate) time_scale: f64,
    /// The recording's sample rate.
    pub(crate) sample_rate: u32,
}

impl Live {
    /// How many bytes of a `total`-byte recording exist at `now`.
    pub(crate) fn available(&self, total: usize, now: Instant) -> usize {
        let sim_s = now.duration_since(self.started).as_secs_f64() / self.time_scale.max(1e-9);
        let samples = (sim_s * f64::from(self.sample_rate)) as u64;
        let bytes = HEADER as u64 + samples.saturating_mul(SAMPLE_BYTES);
        usize::try_from(bytes).map_or(total, |b| b.min(total))
    }

    /// Whether the recording has ended (all `total` bytes exist).
    pub(crate) fn ended(&self, total: usize, now: Instant) -> bool {
        self.available(total, now) >= total
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_secs_f64((POLL_S * self.time_scale).max(0.001))
    }
}

/// `wav` with a header that does not know its length (assumption 3).
pub(crate) fn streaming_header(wav: &[u8]) -> Bytes {
    let mut out = wav.to_vec();
    if out.len() >= HEADER {
        out[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        out[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
    }
    Bytes::from(out)
}

/// The body of a download of a growing recording: the bytes of
/// `streamed` (its streaming-header form) as they come to exist.
/// With `drop_after`, the connection is cut after that many bytes.
pub(crate) fn growing_stream(
    streamed: Bytes,
    live: Live,
    drop_after: Option<u64>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let cut = drop_after.map_or(usize::MAX, |k| usize::try_from(k).unwrap_or(usize::MAX));
    futures_util::stream::unfold(0usize, move |pos| {
        let data = streamed.clone();
        async move {
            loop {
                if pos >= data.len() {
                    return None;
                }
                if pos >= cut {
                    // As for a finished file (`download::chunk_stream`): a
                    // pause lets hyper flush the bytes sent, then the error
                    // ends the body without its last chunk.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let cut = std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "injected fault: connection dropped",
                    );
                    return Some((Err(cut), usize::MAX));
                }
                let avail = live.available(data.len(), Instant::now()).min(cut);
                if avail > pos {
                    return Some((Ok(data.slice(pos..avail)), avail));
                }
                tokio::time::sleep(live.poll_interval()).await;
            }
        }
    })
}

/// The early notification (assumption 2).
pub(crate) fn early_notification(
    call_id: &str,
    op_id: &str,
    flavor: Flavor,
    client_context: Option<String>,
    location: &str,
    token: &str,
) -> CommsNotification {
    let path = flavor.operation_path(call_id, op_id);
    let data: Value = json!({
        "@odata.type": "#microsoft.graph.recordOperation",
        "@odata.id": path,
        "status": "running",
        "clientContext": client_context,
        "recordResourceLocation": location,
        "recordResourceAccessToken": token,
        "lastActionDateTime": wire::rfc3339(wire::unix_now()),
    });
    CommsNotification {
        odata_type: None,
        change_type: "updated",
        resource_url: None,
        resource: Some(path),
        resource_data: data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_appear_at_the_sample_rate() {
        let t0 = Instant::now();
        let live = Live {
            started: t0,
            time_scale: 0.5,
            sample_rate: 16_000,
        };
        let total = HEADER + 32_000;
        assert_eq!(live.available(total, t0), HEADER);
        // 0.25 real s at scale 0.5 is 0.5 simulated s: 8,000 samples.
        let quarter = t0 + Duration::from_millis(250);
        assert_eq!(live.available(total, quarter), HEADER + 16_000);
        assert!(!live.ended(total, quarter));
        assert!(live.ended(total, t0 + Duration::from_secs(1)));
    }

    #[test]
    fn streaming_header_hides_the_length() {
        let wav = voxcap_dsp::synth::wav_pcm16_mono(&[0.0; 10], 16_000);
        let s = streaming_header(&wav);
        assert_eq!(&s[4..8], &[0xFF; 4]);
        assert_eq!(&s[40..44], &[0xFF; 4]);
        assert_eq!(&s[44..], &wav[44..]);
    }
}
