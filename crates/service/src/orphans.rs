//! Recordings nobody follows any more: a POST was accepted (`202`, the
//! record `running`) by an instance that then died before its operation
//! was registered in the fleet's store, so no takeover will ever end it; or
//! a task of this process ended without a final status. Past the
//! operation's own deadline plus a grace (by then any takeover has ended a
//! registered operation), such a recording is ended here, `lost` (the
//! operation may have run on Graph, its recording is not known here) or,
//! for `POST /v1/recordings`, `failed` (POST it again), and its callback
//! is queued: a client is told, never left waiting.

use crate::api::{now_ms, settle, ServiceState};
use crate::model::RecordingStatus;
use crate::problem::Problem;
use crate::store::{ListQuery, RecordingRecord};

/// How many running recordings one page of the sweep reads.
const PAGE: usize = 100;

/// Ends the running recordings whose instance is gone (see the module).
/// Returns how many it ended.
pub(crate) async fn sweep_orphans(state: &ServiceState) -> Result<usize, Problem> {
    let store = &state.inner.store;
    let me = state.instance().map(str::to_string);
    let mut after = None;
    let mut ended = 0;
    loop {
        let query = ListQuery {
            status: Some(RecordingStatus::Running),
            since_ms: None,
            after_seq: after,
            limit: PAGE,
        };
        let (page, more) = store.list(query).await.map_err(store_problem)?;
        let now = now_ms();
        for rec in &page {
            if rec.stale_ms.is_none_or(|t| t > now) {
                continue;
            }
            let id = &rec.resource.id;
            let gone = match (rec.owner.as_deref(), state.inner.recorder.redis()) {
                (Some(owner), Some(redis)) if Some(owner) != me.as_deref() => {
                    !redis.is_alive(owner).await.map_err(|e| {
                        Problem::internal(format!("recording {id}: its instance's heartbeat: {e}"))
                    })?
                }
                // Ours (or alone): abandoned if no task of this process
                // follows it (a restart under the same id, a task that died).
                _ => !state.follows(id),
            };
            if gone && abandon(state, rec).await {
                ended += 1;
            }
        }
        if !more {
            return Ok(ended);
        }
        after = page.last().map(|r| r.seq);
    }
}

fn store_problem(e: crate::store::StoreError) -> Problem {
    Problem::internal(e.to_string())
}

/// Ends `listed` if it is still running; true when it did.
async fn abandon(state: &ServiceState, listed: &RecordingRecord) -> bool {
    let id = listed.resource.id.clone();
    let Ok(Some(mut record)) = state.inner.store.get(&id).await else {
        return false;
    };
    if record.resource.status != RecordingStatus::Running {
        return false;
    }
    let owner = record
        .owner
        .clone()
        .unwrap_or_else(|| "this instance".into());
    let r = &mut record.resource;
    if r.source == "external" {
        r.status = RecordingStatus::Failed;
        r.error = Some(format!(
            "the instance that accepted it ({owner}) stopped before the recording was stored; POST it again"
        ));
    } else {
        r.status = RecordingStatus::Lost;
        r.error = Some(format!(
            "the instance that accepted it ({owner}) stopped before its operation was registered \
             in the fleet's store, and its deadline has passed: the operation may have run on \
             Graph, but its recording is not known here"
        ));
    }
    tracing::warn!(recording = %id, call_id = %r.call_id, owner = %owner,
        status = r.status.as_str(), "an abandoned recording ended by the orphan sweep");
    state.metrics().abandoned();
    settle(state, &id, record, None, None).await;
    true
}
