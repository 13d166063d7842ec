//! One operation end to end, shared by [`crate::Bot::record`] and the
//! takeover: status permit, recordResponse, completion, streaming download
//! into the analysis, trimmed copy, JSON report, each file written
//! atomically; and, in a fleet, the outcome recorded in the shared store.
//!
//! File names come from [`OperationId::file_stem`] only (32 lower-case hex
//! digits), whichever way the id arrived (Graph's answer, a store record):
//! an id that is not a GUID is refused before anything is written, so no id
//! can name a path outside the output directory. Recordings are downloaded
//! under the bot's [`crate::RecordingDownloads`] policy, with the size cap of the
//! operation's own `maxRecordDurationInSeconds`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use voxcap_capture::redis_store::RedisStore;
use voxcap_capture::tracker::CompletedRecording;
use voxcap_capture::wire::RecordResponseRequest;
use voxcap_capture::wire::{NormalizedId, MAX_TIMEOUT_SECONDS};
use voxcap_capture::{
    download_and_analyze, AdoptedOperation, CaptureError, DownloadInfo, DownloadOptions,
    GraphClient, OperationId, OperationTracker, RecordApi, RecordOptions, RecordOutcome,
    RecordingEnd, RecordingPermit, Secret,
};

use crate::config::{ApiKind, RecordPlan, TrimPads};
use crate::error::{BotError, Result, Setting};
use crate::live::{self, Analysis, Streamed};
use crate::outcome::{
    no_audio_outcome, report_json, OperationReport, Outcome, OutcomeKind, OutputFiles,
    ResultInfoReport,
};
use crate::settings;
use crate::stewardship::{self, status_call, KeepingReader, ProvenanceBase, Stewardship};
use crate::trim_out;
use voxcap_records::audit::{AuditKind, AuditLog};
use voxcap_records::provenance::{StatusCall, StoredFile};

/// A download that started at the early location, as it ended.
type StreamedDownload = Streamed<
    std::result::Result<(((Analysis, Duration), Option<Vec<u8>>), DownloadInfo), DownloadFailure>,
>;

/// Wraps an analysis so that it reads through a [`KeepingReader`]: with
/// encryption the bytes are kept in memory for the trimmed copy. The
/// analysis's wall time (it reads as the bytes arrive) comes with it.
fn keeping<A: Send + 'static>(
    analyze: impl FnOnce(KeepingReader<voxcap_capture::RecordingReader>) -> A + Send + 'static,
    keep: bool,
) -> impl FnOnce(voxcap_capture::RecordingReader) -> ((A, Duration), Option<Vec<u8>>) + Send + 'static
{
    move |r| {
        let reader = KeepingReader::new(r, keep);
        let started = std::time::Instant::now();
        let analysed = analyze(reader.clone());
        ((analysed, started.elapsed()), reader.finish())
    }
}

/// What record and takeover tasks share.
pub(crate) struct Core {
    pub(crate) client: GraphClient,
    pub(crate) tracker: OperationTracker,
    pub(crate) beta: bool,
    pub(crate) redis: Option<Arc<RedisStore>>,
    pub(crate) stewardship: Stewardship,
    /// Fused into each analysis (`BotConfig::speech_model`).
    #[cfg(feature = "neural")]
    pub(crate) speech_model: Option<voxcap_dsp::vad::neural::NeuralVad>,
}

impl Core {
    pub(crate) async fn record(&self, call_id: &str, plan: &RecordPlan) -> Result<Outcome> {
        // Every event of this operation carries its call and operation id
        // (`--log-format json` shows them as span fields).
        let span = tracing::info_span!("record", call_id, operation_id = tracing::field::Empty);
        tracing::Instrument::instrument(self.record_in(call_id, plan), span).await
    }

    async fn record_in(&self, call_id: &str, plan: &RecordPlan) -> Result<Outcome> {
        let dir = &plan.out_dir;
        create_out_dir(dir)?;
        let mut request = plan.request.clone();
        let context = request
            .client_context
            .get_or_insert_with(|| format!("{:032x}", rand_u128()))
            .clone();
        // Set the status before recording starts, so the compliance UI shows
        // it while the caller speaks; and so the permit is at hand the moment
        // the completion arrives.
        let mut status_calls = Vec::new();
        let permit = if plan.recording_status {
            let acquired = RecordingPermit::acquire(&self.client, call_id, context.clone()).await;
            let result = acquired.as_ref().map(|_| ()).map_err(|e| e.to_string());
            status_calls.push(status_call("recording", result));
            Some(acquired.map_err(|source| BotError::Graph {
                call_id: call_id.to_string(),
                operation_id: None,
                step: "updateRecordingStatus(recording)",
                source: Box::new(source),
            })?)
        } else {
            None
        };
        // Streaming persists media as it arrives, so it needs the permit.
        let streaming =
            plan.stream_while_recording && plan.api == ApiKind::LegacyRecord && permit.is_some();
        if streaming {
            request.stream_while_recording = Some(true);
        }
        let options = RecordOptions {
            api: match (plan.api, self.beta) {
                (ApiKind::LegacyRecord, _) => RecordApi::LegacyRecord,
                (ApiKind::RecordResponse, true) => RecordApi::RecordResponseBeta,
                (ApiKind::RecordResponse, false) => RecordApi::RecordResponseV1,
            },
            prompt_duration: plan.prompt_duration,
            deadline_margin: None,
            app_settings: serde_json::json!({ "outDir": plan.out_dir, "trim": plan.trim }),
            permit_held: permit.is_some(),
        };
        let handle = match self.tracker.record(call_id, &request, &options).await {
            Ok(h) => h,
            Err(e) => {
                release(&self.client, permit, RecordingEnd::Finished).await;
                return Err(BotError::Graph {
                    call_id: call_id.to_string(),
                    operation_id: None,
                    step: "starting the recording",
                    source: Box::new(e),
                });
            }
        };
        let origin = format!("the answer to starting the recording on call {call_id}");
        let op = match OperationId::parse(handle.operation_id(), &origin) {
            Ok(op) => {
                tracing::Span::current().record("operation_id", op.as_str());
                op
            }
            Err(e) => {
                release(&self.client, permit, RecordingEnd::Failed).await;
                return Err(BotError::InvalidId(Box::new(e)));
            }
        };
        let max_record = request.max_record_duration_in_seconds;
        let wav = dir.join(self.stewardship.audio_name(op.file_stem(), "wav"));
        let keep = self.stewardship.encrypt_to.is_some();
        let (outcome, notified, streamed) = match permit.as_ref().filter(|_| streaming) {
            Some(p) => {
                let started = handle.recording_started();
                let events = plan.live_events.clone();
                let wav = &wav;
                live::race(handle.completed(), started, |s| async move {
                    let (location, token) = (s.location, s.token);
                    let analyze = keeping(live::analysis(events), keep);
                    let target = (s.call_id.as_str(), location.as_str(), token.as_ref());
                    self.download(target, max_record, true, wav, p, analyze)
                        .await
                })
                .await
            }
            None => {
                let outcome = handle.completed().await;
                (outcome, Instant::now(), None)
            }
        };
        let result = self
            .conclude(
                call_id,
                &op,
                &request,
                plan.trim,
                max_record,
                outcome,
                notified,
                streamed,
                permit,
                dir,
                status_calls,
            )
            .await;
        self.record_finish(call_id, op.as_str(), &result).await;
        result
    }

    /// Downloads, analyses and stores a recording whose operation another
    /// program placed and saw complete (`rec`, made with `request`): the
    /// recording status is set first, as for an operation of its own, so
    /// nothing is persisted without Graph's acceptance, and ended after.
    pub(crate) async fn ingest(
        &self,
        request: &RecordResponseRequest,
        trim: Option<TrimPads>,
        rec: CompletedRecording,
        dir: &Path,
    ) -> Result<Outcome> {
        let call_id = rec.call_id.clone();
        let origin = format!("the completed operation posted for call {call_id}");
        let op = OperationId::parse(&rec.operation_id, &origin)
            .map_err(|e| BotError::InvalidId(Box::new(e)))?;
        create_out_dir(dir)?;
        let context = rec
            .client_context
            .clone()
            .unwrap_or_else(|| format!("{:032x}", rand_u128()));
        let acquired = RecordingPermit::acquire(&self.client, &call_id, context).await;
        let result = acquired.as_ref().map(|_| ()).map_err(|e| e.to_string());
        let status_calls = vec![status_call("recording", result)];
        let permit = acquired.map_err(|source| BotError::Graph {
            call_id: call_id.clone(),
            operation_id: Some(op.as_str().to_string()),
            step: "updateRecordingStatus(recording)",
            source: Box::new(source),
        })?;
        let max_record = request.max_record_duration_in_seconds;
        let completed = RecordOutcome::Completed(rec);
        let notified = Instant::now();
        self.conclude(
            &call_id,
            &op,
            request,
            trim,
            max_record,
            completed,
            notified,
            None,
            Some(permit),
            dir,
            status_calls,
        )
        .await
    }

    /// Finishes an operation taken over from a dead instance.
    pub(crate) async fn finish_adopted(
        &self,
        adopted: AdoptedOperation,
        dir: &Path,
    ) -> Result<Outcome> {
        let call_id = adopted.orphan.pending.call_id.clone();
        let origin = format!("the shared store's record of call {call_id}");
        let op = OperationId::parse(&adopted.orphan.pending.operation_id, &origin)
            .map_err(|e| BotError::InvalidId(Box::new(e)))?;
        let op_id = op.as_str().to_string();
        let from = adopted.orphan.previous_owner.clone();
        // Settings that cannot be read: Graph's longest recording bounds the size.
        let (request, max_record) = match adopted.request() {
            Some(r) => {
                let max = r.max_record_duration_in_seconds;
                (r, max)
            }
            None => (RecordResponseRequest::default(), MAX_TIMEOUT_SECONDS),
        };
        // The trim the placing instance was asked for (absent or unreadable:
        // the defaults).
        let trim = adopted
            .app_settings()
            .get("trim")
            .and_then(|t| serde_json::from_value::<TrimPads>(t.clone()).ok());
        let permit = RecordingPermit::inherit(&adopted);
        if permit.is_none() {
            tracing::warn!(%call_id, operation_id = %op_id,
                "taken-over operation had no recording permit: the outcome is reported, nothing is persisted");
        }
        create_out_dir(dir)?;
        let outcome = adopted.handle.completed().await;
        let notified = Instant::now();
        // The dead instance made the call; its time is not in the store.
        let inherited = permit
            .as_ref()
            .map(|_| status_call("recording", Err(format!("inherited from {from}"))));
        let mut result = self
            .conclude(
                &call_id,
                &op,
                &request,
                trim,
                max_record,
                outcome,
                notified,
                None,
                permit,
                dir,
                inherited.into_iter().collect(),
            )
            .await;
        if let Ok(o) = &mut result {
            let me = self.redis.as_ref().map(|r| r.instance_id().to_string());
            if let Some(obj) = o.json.as_object_mut() {
                obj.insert(
                    "takeover".into(),
                    serde_json::json!({ "from": from, "by": me }),
                );
            }
        }
        self.record_finish(&call_id, &op_id, &result).await;
        result
    }

    /// Tells the shared store how the operation ended (so it leaves the
    /// pending set); a failure there is logged, the outcome stands.
    async fn record_finish(&self, call_id: &str, op_id: &str, result: &Result<Outcome>) {
        if self.redis.is_none() {
            return;
        }
        let (state, summary) = match result {
            Ok(o) if o.taken_over_by().is_some() => return,
            Ok(o) => (
                match o.kind {
                    OutcomeKind::Recorded => "done",
                    OutcomeKind::Failed => "failed",
                    OutcomeKind::Lost => "lost",
                },
                serde_json::json!({
                    "status": o.operation.status,
                    "completionReason": o.operation.completion_reason,
                    "report": o.json_path,
                    "verdict": o.report.as_ref().map(|r| &r.completion),
                }),
            ),
            Err(e) => (
                "failed",
                serde_json::json!({ "status": "error", "error": crate::error::error_chain(e) }),
            ),
        };
        if let Err(e) = self.tracker.finish(call_id, op_id, state, &summary).await {
            tracing::warn!(call_id, operation_id = op_id, error = %e,
                "could not record the outcome in the shared store");
        }
    }

    /// Turns a resolved handle into an [`Outcome`]: downloads, analyses and
    /// writes the files for a completed recording (when a `permit` allows
    /// persisting), writes the JSON of a failure or a loss.
    #[allow(clippy::too_many_arguments)]
    async fn conclude(
        &self,
        call_id: &str,
        op: &OperationId,
        request: &RecordResponseRequest,
        trim: Option<TrimPads>,
        max_record_s: u32,
        outcome: RecordOutcome,
        notified: Instant,
        streamed: Option<StreamedDownload>,
        permit: Option<RecordingPermit>,
        dir: &Path,
        mut status_calls: Vec<StatusCall>,
    ) -> Result<Outcome> {
        let st = &self.stewardship;
        if !matches!(outcome, RecordOutcome::Completed(_)) {
            discard_streamed(
                &dir.join(st.audio_name(op.file_stem(), "wav")),
                op,
                streamed.as_ref(),
            );
        }
        let notified_at = std::time::SystemTime::now();
        let base =
            |client_context: &Option<String>, location, calls, settings_sha256| ProvenanceBase {
                call_id,
                operation_id: op.as_str(),
                client_context: client_context.clone(),
                notified_at,
                location,
                status_calls: calls,
                settings_sha256,
                instance: &st.instance,
                tenant_id: None,
            };
        let persist = permit.is_some();
        let op_id = op.as_str().to_string();
        let stem = op.file_stem();
        match outcome {
            RecordOutcome::Completed(rec) => {
                let operation = OperationReport {
                    id: op_id.clone(),
                    client_context: rec.client_context.clone(),
                    status: "completed".into(),
                    completion_reason: rec.reason.as_ref().map(|r| r.as_str().to_string()),
                    result_info: rec.result_info.as_ref().into(),
                };
                let Some(permit) = permit else {
                    let mut o = no_audio_outcome(OutcomeKind::Recorded, operation);
                    let p = base(&rec.client_context, Some(&rec.location), status_calls, None)
                        .tenant(&rec.tenant_id);
                    stewardship::attach(&mut o.json, &p.build(None, Vec::new(), false));
                    if let Some(obj) = o.json.as_object_mut() {
                        obj.insert(
                            "note".into(),
                            serde_json::json!(
                            "not downloaded: without a recording status nothing may be persisted"),
                        );
                    }
                    return Ok(o);
                };
                let mut config = settings::analysis_config(request, &rec);
                if let Some(t) = trim {
                    config.pad_start_ms = t.pad_start_ms;
                    config.pad_end_ms = t.pad_end_ms;
                }
                #[cfg(feature = "neural")]
                {
                    config.speech_model = self.speech_model.clone();
                }
                let settings_sha256 = settings::settings_sha256(&config);
                let name = format!("{stem}.wav");
                let wav_name = st.audio_name(stem, "wav");
                let wav = dir.join(&wav_name);
                // Encrypted, the trimmed copy is cut from the bytes kept in
                // memory: the bot holds no key to read its own file back.
                let keep = st.encrypt_to.is_some();
                let (downloaded, streamed) = match streamed {
                    Some(Streamed {
                        location,
                        result: Ok(x),
                    }) if location == rec.location => (Ok(x), true),
                    other => {
                        if let Some(s) = other {
                            let why = match &s.result {
                                Ok(_) => "the completion names another location".to_string(),
                                Err(e) => format!("the stream failed: {}", e.error()),
                            };
                            tracing::warn!(%call_id, operation_id = %op_id, reason = %why,
                                "streamed copy not used; downloading the completed recording");
                        }
                        let target = (
                            rec.call_id.as_str(),
                            rec.location.as_str(),
                            rec.token.as_ref(),
                        );
                        let analyze = keeping(live::analysis(None), keep);
                        let d = self
                            .download(target, max_record_s, false, &wav, &permit, analyze)
                            .await;
                        (d, false)
                    }
                };
                let (((analysed, analysis_time), plain), info) = match downloaded {
                    Ok(x) => x,
                    Err(e) => {
                        release(&self.client, Some(permit), RecordingEnd::Failed).await;
                        return Err(download_error(call_id, op_id, e));
                    }
                };
                let log = AuditLog::new(dir, st.instance.clone());
                let stored = info.stored.clone();
                let served_sha = stored.as_ref().map(|s| s.served.sha256.clone());
                stewardship::audit(&log, AuditKind::Stored, stem, served_sha.as_deref(), None);
                let finish = async {
                    let report = analysed
                        .map(|a| a.report(&name, &config))
                        .map_err(|source| BotError::Analysis {
                            path: wav.clone(),
                            source: Box::new(source),
                        })?;
                    let trimmed_name = st.audio_name(stem, "trimmed.wav");
                    let trimmed = dir.join(&trimmed_name);
                    let (src, dst, span) = (wav.clone(), trimmed.clone(), report.trim_span);
                    let encrypt_to = st.encrypt_to.clone();
                    let trimmed_digest = tokio::task::spawn_blocking(move || {
                        let bytes = match plain {
                            Some(b) => {
                                trim_out::trimmed_bytes(std::io::Cursor::new(b), &src, span, false)?
                            }
                            None => {
                                let f = std::fs::File::open(&src).map_err(BotError::Write)?;
                                trim_out::trimmed_bytes(
                                    std::io::BufReader::new(f),
                                    &src,
                                    span,
                                    false,
                                )?
                            }
                        };
                        stewardship::store_audio(&dst, &bytes, encrypt_to.as_ref())
                            .map_err(BotError::Write)
                    })
                    .await
                    .map_err(|e| BotError::Task {
                        what: "trimmed copy",
                        reason: e.to_string(),
                    })??;
                    let files = stored
                        .iter()
                        .map(|s| StoredFile::new(&wav_name, &s.on_disk))
                        .chain([StoredFile::new(&trimmed_name, &trimmed_digest)])
                        .collect();
                    let calls = std::mem::take(&mut status_calls);
                    let p = base(
                        &rec.client_context,
                        Some(&rec.location),
                        calls,
                        Some(settings_sha256),
                    )
                    .tenant(&rec.tenant_id);
                    let provenance =
                        p.build(stored.as_ref(), files, st.delete_audio_after_analysis);
                    let mut json = report_json(&report, &operation)?;
                    stewardship::attach(&mut json, &provenance);
                    if let (true, Some(obj)) = (streamed, json.as_object_mut()) {
                        obj.insert("streamed".into(), serde_json::json!(true));
                    }
                    let json_path = write_json_atomically(dir, stem, &json)?;
                    stewardship::audit(
                        &log,
                        AuditKind::Analysed,
                        stem,
                        served_sha.as_deref(),
                        None,
                    );
                    if st.delete_audio_after_analysis {
                        let audio = [wav.clone(), trimmed.clone()];
                        stewardship::delete_audio(&log, stem, served_sha.as_deref(), &audio);
                    }
                    Ok::<_, BotError>((report, json, json_path, trimmed, provenance))
                };
                let (report, mut json, json_path, trimmed, mut provenance) = match finish.await {
                    Ok(x) => x,
                    Err(e) => {
                        release(&self.client, Some(permit), RecordingEnd::Failed).await;
                        return Err(e);
                    }
                };
                let latency = notified.elapsed();
                tracing::debug!(operation_id = %op_id, latency_us = latency.as_micros() as u64,
                    "report written");
                if let Some(call) =
                    release(&self.client, Some(permit), RecordingEnd::Finished).await
                {
                    // The report names the closing call too: written again,
                    // atomically, with it.
                    provenance.recording_status_calls.push(call);
                    stewardship::attach(&mut json, &provenance);
                    write_json_atomically(dir, stem, &json)?;
                }
                Ok(Outcome {
                    kind: OutcomeKind::Recorded,
                    operation,
                    report: Some(report),
                    json,
                    json_path: Some(json_path),
                    files: Some(OutputFiles { wav, trimmed }),
                    download: Some(info),
                    notification_to_report: Some(latency),
                    analysis: Some(analysis_time),
                    streamed,
                })
            }
            RecordOutcome::Failed(f) => {
                status_calls.extend(release(&self.client, permit, RecordingEnd::Finished).await);
                let operation = OperationReport {
                    id: op_id.clone(),
                    client_context: f.client_context.clone(),
                    status: "failed".into(),
                    completion_reason: f.reason.as_ref().map(|r| r.as_str().to_string()),
                    result_info: f.result_info.as_ref().into(),
                };
                let mut o = no_audio_outcome(OutcomeKind::Failed, operation);
                let p = base(&f.client_context, None, status_calls, None).tenant(&f.tenant_id);
                stewardship::attach(&mut o.json, &p.build(None, Vec::new(), false));
                write_if(o, dir, stem, persist)
            }
            RecordOutcome::Lost(l) => {
                status_calls.extend(release(&self.client, permit, RecordingEnd::Finished).await);
                let message = match &l.taken_over_by {
                    Some(by) => format!("taken over by {by}, which finishes it"),
                    None => format!(
                        "no completion notification within {:.1} s",
                        l.deadline.as_secs_f64()
                    ),
                };
                let operation = OperationReport {
                    id: op_id.clone(),
                    client_context: l.client_context.clone(),
                    status: "lost".into(),
                    completion_reason: None,
                    result_info: ResultInfoReport {
                        message: Some(message),
                        ..ResultInfoReport::default()
                    },
                };
                let mut o = no_audio_outcome(OutcomeKind::Lost, operation);
                if let (Some(by), Some(obj)) = (&l.taken_over_by, o.json.as_object_mut()) {
                    obj.insert("takenOverBy".into(), serde_json::json!(by));
                    // The instance that took it over writes the report.
                    return Ok(o);
                }
                let p = base(&l.client_context, None, status_calls, None);
                stewardship::attach(&mut o.json, &p.build(None, Vec::new(), false));
                write_if(o, dir, stem, persist)
            }
        }
    }
}

impl Core {
    /// Streams the recording at `(call_id, location, token)` into `wav`
    /// and `analyze` under the bot's download policy, with the size cap of
    /// a `max_record_s` recording; `growing` when it is still being made
    /// (each request may then last as long as the recording). The location
    /// is checked here first, so a refusal is told apart from a failure.
    async fn download<T: Send + 'static>(
        &self,
        (call_id, location, token): (&str, &str, Option<&Secret>),
        max_record_s: u32,
        growing: bool,
        wav: &Path,
        permit: &RecordingPermit,
        analyze: impl FnOnce(voxcap_capture::RecordingReader) -> T + Send + 'static,
    ) -> std::result::Result<(T, DownloadInfo), DownloadFailure> {
        let mut options: DownloadOptions = self.client.download_options().clone();
        options.policy.max_record_seconds = max_record_s;
        if growing {
            options.request_timeout =
                Some(std::time::Duration::from_secs(u64::from(max_record_s) + 30));
        }
        if let Err(e) = options.policy.check(location) {
            let http = location
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
            let setting = if http && !options.policy.allow_http {
                Setting::AllowHttp
            } else {
                Setting::RecordingHosts
            };
            return Err(DownloadFailure::Refused(setting, e));
        }
        if NormalizedId::new(permit.call_id()) != NormalizedId::new(call_id) {
            return Err(DownloadFailure::Other(CaptureError::InvalidInput {
                what: format!("recording permit for call {}", permit.call_id()),
                reason: format!("it does not cover call {call_id}"),
            }));
        }
        let http = self.client.http();
        download_and_analyze(http, location, token, wav, permit, &options, analyze)
            .await
            .map_err(DownloadFailure::Other)
    }
}

/// Why a recording was not downloaded.
pub(crate) enum DownloadFailure {
    /// The location broke the policy (this setting's rule).
    Refused(Setting, CaptureError),
    /// The download itself failed.
    Other(CaptureError),
}

impl DownloadFailure {
    fn error(&self) -> &CaptureError {
        match self {
            DownloadFailure::Refused(_, e) | DownloadFailure::Other(e) => e,
        }
    }
}

/// Deletes the copy a stream saved when Graph did not complete the
/// operation (a hang-up, a failure): without a completion the recording is
/// not known to be whole, and it is not kept, as without streaming.
fn discard_streamed(wav: &Path, op: &OperationId, streamed: Option<&StreamedDownload>) {
    let Some(Streamed {
        result: Ok((_, info)),
        ..
    }) = streamed
    else {
        return;
    };
    match std::fs::remove_file(wav) {
        Ok(()) => tracing::info!(
            operation_id = op.as_str(),
            bytes = info.bytes,
            "no completion: the streamed copy is deleted"
        ),
        Err(e) => tracing::warn!(operation_id = op.as_str(), error = %e,
            "could not delete the streamed copy"),
    }
}

fn download_error(call_id: &str, operation_id: String, e: DownloadFailure) -> BotError {
    let call_id = call_id.to_string();
    match e {
        DownloadFailure::Refused(setting, e) => BotError::RecordingLocation {
            call_id,
            operation_id,
            setting,
            source: Box::new(e),
        },
        DownloadFailure::Other(e @ CaptureError::DownloadTooLarge { .. }) => {
            BotError::RecordingTooLarge {
                call_id,
                operation_id,
                source: Box::new(e),
            }
        }
        DownloadFailure::Other(e) => BotError::Graph {
            call_id,
            operation_id: Some(operation_id),
            step: "downloading the recording",
            source: Box::new(e),
        },
    }
}

/// Writes the JSON of an outcome without audio, when persisting is allowed.
fn write_if(mut o: Outcome, dir: &Path, stem: &str, persist: bool) -> Result<Outcome> {
    if persist {
        o.json_path = Some(write_json_atomically(dir, stem, &o.json)?);
    }
    Ok(o)
}

/// Ends the recording status; returns the call made, for the provenance.
async fn release(
    client: &GraphClient,
    permit: Option<RecordingPermit>,
    end: RecordingEnd,
) -> Option<StatusCall> {
    let p = permit?;
    let call = p.call_id().to_string();
    let result = p.release(client, end).await;
    if let Err(e) = &result {
        // The recording itself is fine; the status stays "recording" in
        // Graph's UI, which the user must hear about but not fail on.
        tracing::warn!(call_id = %call, error = %e, "updateRecordingStatus at the end failed");
    }
    let status = match end {
        RecordingEnd::Finished => "notRecording",
        RecordingEnd::Failed => "failed",
    };
    Some(status_call(status, result.map_err(|e| e.to_string())))
}

/// A random client context; enough uniqueness, no crypto needed.
fn rand_u128() -> u128 {
    // Enough uniqueness for a client context; no crypto needed.
    use std::hash::{BuildHasher, Hasher};
    let s = std::collections::hash_map::RandomState::new();
    let mut h = s.build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let a = h.finish();
    let mut h2 = s.build_hasher();
    h2.write_u64(a);
    (u128::from(a) << 64) | u128::from(h2.finish())
}

/// Writes `DIR/<stem>.json` (the operation's file stem) through a temp
/// file and a rename.
fn write_json_atomically(dir: &Path, stem: &str, json: &serde_json::Value) -> Result<PathBuf> {
    let dest = dir.join(format!("{stem}.json"));
    trim_out::write_json_atomically(&dest, json).map_err(BotError::Write)?;
    Ok(dest)
}

/// Creates the output directory.
fn create_out_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| BotError::OutDir {
        path: dir.to_path_buf(),
        source,
    })
}
