//! What `voxcap results` concludes from a queue's results: counts per
//! verdict and per error kind, and whether the batch is complete.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::job::JobResult;

/// Sorts results into enqueue order (ties, which only a hand-edited queue
/// has, by job id).
pub fn sort_results(results: &mut [JobResult]) {
    results.sort_by(|a, b| a.seq.cmp(&b.seq).then_with(|| a.job.cmp(&b.job)));
}

/// What `voxcap results` concludes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResultsSummary {
    /// The queue.
    pub queue: String,
    /// Jobs queued.
    pub enqueued: u64,
    /// Jobs with a result.
    pub reported: u64,
    /// Results with a report.
    pub ok: u64,
    /// Results with an error.
    pub failed: u64,
    /// Jobs without a result yet (`enqueued - reported`).
    pub pending: u64,
    /// Count per completion verdict of the reports.
    pub verdicts: BTreeMap<String, u64>,
    /// Count per error kind.
    pub errors: BTreeMap<String, u64>,
}

/// How a results read ends; see [`ResultsSummary::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultsStatus {
    /// Every job reported and analysed.
    Complete,
    /// Every job reported, some files failed.
    SomeFailed,
    /// Some jobs have no result yet.
    Incomplete,
}

impl ResultsSummary {
    /// Counts `results` against `enqueued`.
    pub fn new(queue: &str, enqueued: u64, results: &[JobResult]) -> Self {
        let mut s = ResultsSummary {
            queue: queue.to_string(),
            enqueued,
            reported: results.len() as u64,
            ..ResultsSummary::default()
        };
        for r in results {
            match (&r.report, &r.error) {
                (Some(report), None) => {
                    s.ok += 1;
                    if let Some(v) = report
                        .pointer("/completion/verdict")
                        .and_then(|v| v.as_str())
                    {
                        *s.verdicts.entry(v.to_string()).or_default() += 1;
                    }
                }
                (_, Some(e)) => {
                    s.failed += 1;
                    *s.errors.entry(e.kind.clone()).or_default() += 1;
                }
                (None, None) => {
                    s.failed += 1;
                    *s.errors.entry("empty".to_string()).or_default() += 1;
                }
            }
        }
        s.pending = enqueued.saturating_sub(s.reported);
        s
    }

    /// Incomplete beats failed: a partial batch is not a verdict on the files.
    pub fn status(&self) -> ResultsStatus {
        if self.pending > 0 {
            ResultsStatus::Incomplete
        } else if self.failed > 0 {
            ResultsStatus::SomeFailed
        } else {
            ResultsStatus::Complete
        }
    }

    /// The human summary (several lines).
    pub fn to_text(&self) -> String {
        let list = |m: &BTreeMap<String, u64>| {
            if m.is_empty() {
                "-".to_string()
            } else {
                let v: Vec<String> = m.iter().map(|(k, n)| format!("{k} {n}")).collect();
                v.join(", ")
            }
        };
        format!(
            "voxcap: queue {}: {} enqueued, {} reported ({} ok, {} failed), {} still pending\n  verdicts  {}\n  errors    {}\n",
            self.queue,
            self.enqueued,
            self.reported,
            self.ok,
            self.failed,
            self.pending,
            list(&self.verdicts),
            list(&self.errors)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobFailure;

    fn result(seq: u64, job: &str, verdict: Option<&str>, error: Option<&str>) -> JobResult {
        JobResult {
            seq,
            path: format!("/clips/{seq}.wav"),
            job: job.to_string(),
            deliveries: 1,
            worker: "w".to_string(),
            report: verdict.map(|v| serde_json::json!({"completion": {"verdict": v}})),
            error: error.map(|k| JobFailure {
                kind: k.to_string(),
                message: "m".to_string(),
            }),
        }
    }

    #[test]
    fn results_sort_by_enqueue_order_not_job_id() {
        // Job ids follow stream order per enqueue, but seq is the order the
        // user queued; a reclaim or a second enqueue must not reorder.
        let mut r = vec![
            result(3, "1-0", Some("consistent"), None),
            result(1, "9-0", Some("consistent"), None),
            result(2, "5-1", None, Some("io")),
            result(2, "5-0", None, Some("io")),
        ];
        sort_results(&mut r);
        let order: Vec<(u64, &str)> = r.iter().map(|r| (r.seq, r.job.as_str())).collect();
        assert_eq!(order, [(1, "9-0"), (2, "5-0"), (2, "5-1"), (3, "1-0")]);
    }

    #[test]
    fn summary_counts_and_status() {
        let r = vec![
            result(1, "1-0", Some("consistent"), None),
            result(2, "2-0", Some("consistent"), None),
            result(3, "3-0", Some("inconsistent"), None),
            result(4, "4-0", None, Some("io")),
            result(5, "5-0", None, Some("gave_up")),
        ];
        let s = ResultsSummary::new("q", 5, &r);
        assert_eq!(
            (s.enqueued, s.reported, s.ok, s.failed, s.pending),
            (5, 5, 3, 2, 0)
        );
        assert_eq!(s.verdicts.get("consistent"), Some(&2));
        assert_eq!(s.verdicts.get("inconsistent"), Some(&1));
        assert_eq!(s.errors.get("io"), Some(&1));
        assert_eq!(s.errors.get("gave_up"), Some(&1));
        assert_eq!(s.status(), ResultsStatus::SomeFailed);
        assert!(s
            .to_text()
            .contains("5 enqueued, 5 reported (3 ok, 2 failed), 0 still pending"));

        let all_ok = ResultsSummary::new("q", 3, &r[..3]);
        assert_eq!(all_ok.status(), ResultsStatus::Complete);
        // Missing results win over failures: the batch is not over.
        let partial = ResultsSummary::new("q", 9, &r);
        assert_eq!(
            (partial.pending, partial.status()),
            (4, ResultsStatus::Incomplete)
        );
    }
}
