//! voxcap-queue: the distributed batch: analysis jobs on a Redis Stream, consumed by any
//! number of workers on any number of machines, results kept in Redis.
//!
//! Keys of queue `Q` (the braces are a Redis Cluster hash tag, so every key
//! of a queue lives in one slot and the atomic result write may touch two):
//!
//! - `voxcap:{Q}:jobs`, a stream; one entry per file with fields `path`,
//!   `seq` and `options` (JSON), read through the consumer group `workers`;
//! - `voxcap:{Q}:seq`, the counter that numbers jobs in enqueue order;
//! - `voxcap:{Q}:enqueued`, how many jobs were queued;
//! - `voxcap:{Q}:results`, a hash from job (stream entry) id to result JSON.
//!
//! Guarantees: a job is processed at least once (a worker that dies leaves
//! its entries pending; after the visibility timeout another worker claims
//! them with `XAUTOCLAIM`), and reported exactly once, because the result is
//! written with `HSETNX` in the same `MULTI`/`EXEC` as the `XACK`: the first
//! finished delivery wins, a job is never acknowledged before its result is
//! stored, and a late duplicate only acknowledges. A job delivered more than
//! `max_deliveries` times (it keeps killing workers) is reported as an error
//! and acknowledged, so one poison pill cannot stall the batch.
//!
//! This crate knows Redis and JSON but not DSP: the worker is handed the
//! analysis as a function ([`AnalyzeJob`]), which runs on a blocking thread.
//! With a root directory ([`WorkerConfig::root`]) a worker opens only files
//! inside it, and a stored error never quotes a file's bytes.
//!
//! - [`client`] holds [`Queue`] and its commands, and [`enqueue_files`]
//!   and [`collect_results`] for the command line;
//! - [`worker`] holds [`run_worker`];
//! - [`local`] is the batch on one machine: [`local::expand_inputs`] (what
//!   `enqueue` queues), [`local::run_ordered`] (`voxcap analyze`'s
//!   threads, results in input order, a panic as that input's result) and
//!   the batch's [`local::Summary`] of [`local::Failure`]s and verdicts;
//! - [`job`], [`summary`], [`keys`] and [`error`] hold the data.

pub mod client;
pub mod error;
pub mod job;
pub mod keys;
/// The batch on one machine (the `voxcap-batch` crate).
pub use voxcap_batch as local;
pub mod summary;
pub mod worker;

pub use client::{collect_results, enqueue_files, CollectedResults, Enqueued, Queue, QueueTarget};
pub use error::QueueError;
pub use job::{Job, JobFailure, JobOptions, JobResult};
pub use keys::{validate_queue_name, QueueKeys};
pub use summary::{sort_results, ResultsStatus, ResultsSummary};
pub use worker::{run_worker, AnalyzeJob, WorkerConfig, WorkerStats};

/// The consumer group every worker reads through.
pub const GROUP: &str = "workers";
