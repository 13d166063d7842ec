//! `streamWhileRecording`: the recording location Graph announces while a
//! legacy `record` operation is still running ("a resource location will
//! be provided as soon as the recording starts"), handed to the operation's
//! [`RecordingStarted`] waiter so the download can begin while the caller
//! speaks.
//!
//! The announcement is a notification whose `recordOperation` has status
//! `running` and a location (what voxcap-emulator sends; the documentation
//! says no more). It may beat the POST answer that names the operation, so
//! one with no waiter is kept for a while (bounded in count and age), as
//! early completions are. In a fleet it reaches whichever instance the
//! balancer picks: only the owner's own webhook streams; elsewhere the
//! completion, shared through the store, is the fallback.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::secret::{redact_url, Secret};
use crate::wire::{OperationKey, RecordOperation};

/// Announcements kept with no waiter yet, at most.
const KEPT: usize = 256;
/// How long an announcement with no waiter is kept.
const KEPT_FOR: Duration = Duration::from_secs(60);

/// Where a recording still being made can be downloaded from while it
/// grows. `Debug` redacts the location and the token.
#[derive(Clone)]
pub struct StartedRecording {
    /// Call id, as the tracker knows it.
    pub call_id: String,
    /// The recording's location.
    pub location: String,
    /// The recording access token (the same the completion carries).
    pub token: Option<Secret>,
}

impl std::fmt::Debug for StartedRecording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartedRecording")
            .field("call_id", &self.call_id)
            .field("location", &redact_url(&self.location))
            .field("token", &self.token)
            .finish()
    }
}

#[derive(Default)]
struct State {
    waiters: HashMap<OperationKey, oneshot::Sender<StartedRecording>>,
    arrived: VecDeque<(OperationKey, StartedRecording, Instant)>,
}

/// The announcements and their waiters, shared by the tracker's dispatcher
/// and its handles.
#[derive(Default)]
pub(crate) struct StartedLocations {
    state: Mutex<State>,
}

impl StartedLocations {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Each use is a single insert/remove, so a poisoned map is consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands an announcement (already checked) to its waiter, or keeps it
    /// for one that has not asked yet.
    pub(crate) fn deliver(&self, key: OperationKey, op: &RecordOperation) {
        let Some(location) = op.location() else {
            return;
        };
        let mut st = self.lock();
        let started = StartedRecording {
            call_id: key.call_id.to_string(),
            location: location.to_string(),
            token: op.access_token().cloned(),
        };
        if let Some(tx) = st.waiters.remove(&key) {
            let _ = tx.send(started);
            tracing::debug!(%key, "recording started: location handed to its waiter");
            return;
        }
        let now = Instant::now();
        st.arrived
            .retain(|(_, _, at)| now.duration_since(*at) < KEPT_FOR);
        if st.arrived.iter().any(|(k, _, _)| *k == key) {
            return;
        }
        if st.arrived.len() >= KEPT {
            st.arrived.pop_front();
        }
        tracing::debug!(%key, "recording started before its waiter asked; kept");
        st.arrived.push_back((key, started, now));
    }

    /// A waiter for `key`'s announcement; `call_id` as the caller knows it.
    pub(crate) fn wait(self: &Arc<Self>, key: OperationKey, call_id: &str) -> RecordingStarted {
        let (tx, rx) = oneshot::channel();
        let mut st = self.lock();
        let now = Instant::now();
        match st
            .arrived
            .iter()
            .position(|(k, _, at)| *k == key && now.duration_since(*at) < KEPT_FOR)
        {
            Some(i) => {
                if let Some((_, mut started, _)) = st.arrived.remove(i) {
                    started.call_id = call_id.to_string();
                    let _ = tx.send(started);
                }
            }
            None => {
                st.waiters.insert(key.clone(), tx);
            }
        }
        drop(st);
        RecordingStarted {
            rx,
            call_id: call_id.to_string(),
            key,
            locations: self.clone(),
        }
    }
}

/// Resolves to the location of a recording still being made, once Graph
/// announces it (`streamWhileRecording`); to `None` if the tracker goes
/// away. It waits for ever otherwise: race it against the completion
/// ([`crate::OperationHandle::completed`]), which the service sends whether
/// or not it announced the location early.
pub struct RecordingStarted {
    rx: oneshot::Receiver<StartedRecording>,
    call_id: String,
    key: OperationKey,
    locations: Arc<StartedLocations>,
}

impl std::fmt::Debug for RecordingStarted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingStarted")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Future for RecordingStarted {
    type Output = Option<StartedRecording>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let call_id = self.call_id.clone();
        Pin::new(&mut self.rx).poll(cx).map(|r| {
            r.ok().map(|mut s| {
                s.call_id = call_id;
                s
            })
        })
    }
}

impl Drop for RecordingStarted {
    fn drop(&mut self) {
        self.locations.lock().waiters.remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(location: &str) -> RecordOperation {
        serde_json::from_value(serde_json::json!({
            "status": "running",
            "recordResourceLocation": location,
            "recordResourceAccessToken": "t0k",
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn an_announcement_reaches_a_waiter_whether_it_comes_before_or_after() {
        let l = Arc::new(StartedLocations::default());
        let early = OperationKey::new("C1", "0FE0623F-D628-42ED-B4BD-8AC290072CC5");
        l.deliver(early.clone(), &op("https://x/a"));
        let got = l.wait(early, "c1").await.unwrap();
        assert_eq!(
            (got.call_id.as_str(), got.location.as_str()),
            ("c1", "https://x/a")
        );
        assert_eq!(got.token.unwrap().expose(), "t0k");

        let late = OperationKey::new("C2", "1FE0623F-D628-42ED-B4BD-8AC290072CC5");
        let waiting = l.wait(late.clone(), "C2");
        l.deliver(late, &op("https://x/b"));
        assert_eq!(waiting.await.unwrap().location, "https://x/b");
        assert!(l.lock().waiters.is_empty() && l.lock().arrived.is_empty());
    }

    #[test]
    fn kept_announcements_are_bounded_and_a_dropped_waiter_is_removed() {
        let l = Arc::new(StartedLocations::default());
        for i in 0..KEPT + 10 {
            l.deliver(
                OperationKey::new("c", &format!("{i:032x}")),
                &op("https://x/a"),
            );
        }
        assert_eq!(l.lock().arrived.len(), KEPT);
        let w = l.wait(
            OperationKey::new("c", "ffffffffffffffffffffffffffffffff"),
            "c",
        );
        assert_eq!(l.lock().waiters.len(), 1);
        drop(w);
        assert!(l.lock().waiters.is_empty());
        // No location: nothing to hand on.
        l.deliver(OperationKey::new("c", "ee"), &op(""));
        assert_eq!(l.lock().arrived.len(), KEPT);
    }
}
