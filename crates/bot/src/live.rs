//! Analysis while the caller speaks: with
//! [`RecordPlan::stream_while_recording`](crate::RecordPlan::stream_while_recording)
//! on the legacy `record` action, Graph announces the recording's location
//! as soon as recording starts; the download begins at once, reads the
//! growing body, and the analysis runs on it live, reporting
//! [`LiveEvent`]s to the plan's [`LiveEvents`]. When the completion
//! arrives only the end of the stream and the report remain.
//!
//! The completion stays the authority: the report is built only after it
//! (its reason is checked against the audio), and the streamed copy is used
//! only when the completion names the same location and the stream ended
//! whole (and within 10 s of the completion); otherwise the recording is
//! downloaded again from the completion's location, as without streaming. A hang-up ends the stream but sends no
//! completion: the operation is lost at its deadline, as without streaming,
//! and the streamed copy is deleted.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use voxcap_capture::{RecordOutcome, RecordingStarted, StartedRecording};
use voxcap_dsp::{analyze_live, Analysed, AnalysisConfig, AnalysisError};

pub use voxcap_dsp::LiveEvent;

/// Where the live events of a streamed recording go: a callback, called on
/// the analysis thread as each event happens (keep it quick: a slow one
/// holds the analysis back; send to a channel for anything more).
#[derive(Clone)]
pub struct LiveEvents(Arc<dyn Fn(&LiveEvent) + Send + Sync>);

impl LiveEvents {
    /// Events go to `f`.
    pub fn new(f: impl Fn(&LiveEvent) + Send + Sync + 'static) -> Self {
        LiveEvents(Arc::new(f))
    }

    /// Events go to a tokio channel (dropped when it is closed); `send`
    /// never blocks the analysis.
    pub fn channel(tx: tokio::sync::mpsc::UnboundedSender<LiveEvent>) -> Self {
        LiveEvents::new(move |e| {
            let _ = tx.send(e.clone());
        })
    }
}

impl std::fmt::Debug for LiveEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveEvents(..)")
    }
}

/// What the analysis of a download gives before the report: the analysed
/// stream, whose report is built once Graph's completion is known.
pub(crate) type Analysis = Result<Analysed, AnalysisError>;

/// The analysis closure of a download, with live events to `events`.
pub(crate) fn analysis<R: std::io::Read + Send + 'static>(
    events: Option<LiveEvents>,
) -> impl FnOnce(R) -> Analysis + Send + 'static {
    move |reader| {
        // Only `lenient` matters before the report, and the report's
        // configuration keeps the default.
        analyze_live(reader, &AnalysisConfig::default(), &mut |e| {
            if let Some(events) = &events {
                (events.0)(&e);
            }
        })
    }
}

/// A download that started at the early location.
pub(crate) struct Streamed<T> {
    /// The location it read.
    pub(crate) location: String,
    /// How it ended.
    pub(crate) result: T,
}

/// Waits for the completion and, if the recording's location is announced
/// first, runs `download` on it meanwhile. Returns the outcome, when it
/// arrived, and the streamed download if there was one (finished: the
/// stream ends with the recording, so both are awaited; a stream still
/// going [`STREAM_GRACE`] after the completion is dropped, and `None`).
pub(crate) async fn race<T, D>(
    completion: impl Future<Output = RecordOutcome>,
    started: RecordingStarted,
    download: impl FnOnce(StartedRecording) -> D,
) -> (RecordOutcome, Instant, Option<Streamed<T>>)
where
    D: Future<Output = T>,
{
    let completion = async {
        let outcome = completion.await;
        (outcome, Instant::now())
    };
    tokio::pin!(completion);
    let announced = tokio::select! {
        biased;
        s = started => s,
        (outcome, at) = &mut completion => return (outcome, at, None),
    };
    let Some(s) = announced else {
        let (outcome, at) = completion.await;
        return (outcome, at, None);
    };
    tracing::debug!(call_id = %s.call_id, "recording started: streaming it while it is made");
    let location = s.location.clone();
    let download = download(s);
    tokio::pin!(download);
    tokio::select! {
        result = &mut download => {
            let (outcome, at) = completion.await;
            (outcome, at, Some(Streamed { location, result }))
        }
        (outcome, at) = &mut completion => {
            // The stream ends with the recording, so it should end now; one
            // that goes on is given up, and the completion's location read.
            match tokio::time::timeout(STREAM_GRACE, download).await {
                Ok(result) => (outcome, at, Some(Streamed { location, result })),
                Err(_) => {
                    tracing::warn!(grace_s = STREAM_GRACE.as_secs(),
                        "the stream did not end after the completion; given up");
                    (outcome, at, None)
                }
            }
        }
    }
}

/// How long a stream may go on once the completion has arrived.
const STREAM_GRACE: Duration = Duration::from_secs(10);
