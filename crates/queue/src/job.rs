//! Jobs and their results as they travel through Redis: the options that go
//! with each file, the job a worker receives, and the result it stores.

use redis::streams::StreamId;
use redis::Value;
use serde::{Deserialize, Serialize};

/// The analysis settings that travel with each job (the `analyze` flags).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobOptions {
    /// Stop tones, e.g. `"#*"`.
    pub stop_tones: String,
    /// initialSilenceTimeoutInSeconds.
    pub initial_silence: f64,
    /// maxSilenceTimeoutInSeconds.
    pub max_silence: f64,
    /// maxRecordDurationInSeconds.
    pub max_record: f64,
    /// The completion reason or subcode Graph reported.
    pub reported: Option<String>,
    /// Audio kept before the first speech when trimming, in ms.
    pub pad_start_ms: u32,
    /// Audio kept after the last speech when trimming, in ms.
    pub pad_end_ms: u32,
    /// Analyse truncated files as far as they go.
    pub lenient: bool,
}

/// One job as a worker received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The stream entry id, which identifies the job.
    pub id: String,
    /// The absolute path of the file.
    pub path: String,
    /// Its place in enqueue order.
    pub seq: u64,
    /// Its analysis settings, or why they could not be read.
    pub options: Result<JobOptions, String>,
    /// How many times it has been delivered, this delivery included.
    pub deliveries: u64,
}

impl Job {
    /// Reads a stream entry; a missing or malformed field becomes a job that
    /// fails (rather than one that is retried forever).
    pub(crate) fn from_entry(entry: &StreamId, deliveries: u64) -> Job {
        let text = |field: &str| match entry.map.get(field) {
            Some(Value::BulkString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            Some(Value::SimpleString(s)) => Some(s.clone()),
            _ => None,
        };
        let path = text("path").unwrap_or_default();
        let seq = text("seq").and_then(|s| s.parse().ok()).unwrap_or(0);
        let options = match text("options") {
            None => Err("the job has no options field".to_string()),
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| format!("the job's options are not valid: {e}")),
        };
        let options = if path.is_empty() {
            Err("the job has no path field".to_string())
        } else {
            options
        };
        Job {
            id: entry.id.clone(),
            path,
            seq,
            options,
            deliveries,
        }
    }
}

/// Why a job produced no report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobFailure {
    /// A short machine-readable kind (`io`, `format`, `gave_up`...).
    pub kind: String,
    /// The human message, naming the file.
    pub message: String,
}

impl JobFailure {
    /// The failure with any quoted file bytes withheld from its message.
    /// A decoder names what a file starts with (`starts with "root"`,
    /// `starts with bytes 7f 45 4c 46`); that helps on a terminal, but a
    /// result stored in Redis is read by others, and a job may name any
    /// file the worker can open. Quoted text and byte dumps go; the kind,
    /// the path and the rest of the message stay.
    pub fn without_file_contents(self) -> JobFailure {
        JobFailure {
            kind: self.kind,
            message: withhold_quoted_bytes(&self.message),
        }
    }
}

/// Replaces every `"..."` span and every `bytes HH HH ...` dump in `text`.
fn withhold_quoted_bytes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('"') {
        out.push_str(&rest[..open]);
        match rest[open + 1..].find('"') {
            Some(close) => {
                out.push_str("[contents withheld]");
                rest = &rest[open + 1 + close + 1..];
            }
            None => {
                out.push_str("[contents withheld]");
                rest = "";
            }
        }
    }
    out.push_str(rest);
    let words: Vec<&str> = out.split(' ').collect();
    let mut kept: Vec<String> = Vec::with_capacity(words.len());
    let trim = |w: &str| w.trim_end_matches([',', ')', ';', '.']).len();
    let is_hex = |w: &&&str| trim(w) == 2 && w[..2].bytes().all(|b| b.is_ascii_hexdigit());
    let mut i = 0;
    while i < words.len() {
        kept.push(words[i].to_string());
        if words[i] == "bytes" {
            let dump = words[i + 1..].iter().take_while(is_hex).count();
            if dump > 0 {
                let last = words[i + dump];
                kept.push(format!("[contents withheld]{}", &last[trim(last)..]));
                i += dump;
            }
        }
        i += 1;
    }
    kept.join(" ")
}

/// One job's result, as stored in Redis and printed by `voxcap results`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    /// Place in enqueue order.
    pub seq: u64,
    /// The file.
    pub path: String,
    /// The job (stream entry) id.
    pub job: String,
    /// Deliveries of the job up to and including the one that reported.
    pub deliveries: u64,
    /// The consumer (worker) that reported.
    pub worker: String,
    /// The analysis report, when the file was analysed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<serde_json::Value>,
    /// Why it was not, otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobFailure>,
}

impl JobResult {
    /// Whether the file was analysed.
    pub fn is_ok(&self) -> bool {
        self.error.is_none() && self.report.is_some()
    }
}

/// Reads one stored result; one that does not parse (written by hand or by
/// another program) becomes an error result.
pub(crate) fn parse_result(job: &str, json: &str) -> JobResult {
    serde_json::from_str(json).unwrap_or_else(|e| JobResult {
        seq: u64::MAX,
        path: String::new(),
        job: job.to_string(),
        deliveries: 0,
        worker: String::new(),
        report: None,
        error: Some(JobFailure {
            kind: "bad_result".to_string(),
            message: format!("the stored result of job {job} does not parse: {e}"),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_messages_withhold_quoted_file_bytes() {
        let cases = [
            (
                "/etc/passwd: not a RIFF/WAVE file (starts with \"root\")",
                "/etc/passwd: not a RIFF/WAVE file (starts with [contents withheld])",
            ),
            (
                "/bin/ls: not a RIFF/WAVE file (starts with bytes 7f 45 4c 46)",
                "/bin/ls: not a RIFF/WAVE file (starts with bytes [contents withheld])",
            ),
            (
                "/a.mp3: not a RIFF/WAVE file (looks like MP3)",
                "/a.mp3: not a RIFF/WAVE file (looks like MP3)",
            ),
            ("/x: read 12 bytes of 44", "/x: read 12 bytes of 44"),
        ];
        for (message, want) in cases {
            let f = JobFailure {
                kind: "not_wav".into(),
                message: message.into(),
            };
            assert_eq!(f.without_file_contents().message, want, "{message}");
        }
    }

    #[test]
    fn unparsable_stored_result_is_an_error_result() {
        let r = parse_result("7-0", "{not json");
        assert_eq!(r.job, "7-0");
        assert_eq!(r.error.map(|e| e.kind).as_deref(), Some("bad_result"));
    }

    #[test]
    fn job_from_entry_reads_fields_and_flags_missing_ones() {
        let opts = JobOptions {
            stop_tones: "#".into(),
            initial_silence: 5.0,
            max_silence: 5.0,
            max_record: 5.0,
            reported: None,
            pad_start_ms: 150,
            pad_end_ms: 300,
            lenient: false,
        };
        let mut entry = StreamId {
            id: "1-0".into(),
            ..StreamId::default()
        };
        entry
            .map
            .insert("path".into(), Value::BulkString(b"/a.wav".to_vec()));
        entry
            .map
            .insert("seq".into(), Value::BulkString(b"42".to_vec()));
        entry.map.insert(
            "options".into(),
            Value::BulkString(serde_json::to_vec(&opts).unwrap()),
        );
        let job = Job::from_entry(&entry, 2);
        assert_eq!(
            (job.path.as_str(), job.seq, job.deliveries),
            ("/a.wav", 42, 2)
        );
        assert_eq!(job.options, Ok(opts));

        entry.map.remove("options");
        assert!(Job::from_entry(&entry, 1).options.is_err());
        entry.map.remove("path");
        assert!(Job::from_entry(&entry, 1).options.is_err());
    }
}
