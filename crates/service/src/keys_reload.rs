//! Reloading the API keys file without a restart: the file is read again
//! every [`KeysFile::poll`] (2 s by default) and on SIGHUP (Unix), and a
//! change of its content (its SHA-256, so an atomic rename or a Kubernetes
//! symlink swap counts, whatever the mtime says) replaces the accepted keys
//! with the environment's plus the file's, as at start. A file that cannot
//! be read, does not parse or holds no key leaves the previous keys active:
//! it is logged (the file and the cause, never a key) and counted once per
//! content, not at every poll.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::api::ServiceState;
use crate::error::ServiceError;
use crate::keys::ApiKeys;
use crate::metrics::Metrics;

/// How often the keys file is read again, by default.
pub const DEFAULT_KEYS_POLL: Duration = Duration::from_secs(2);

/// The largest keys file read on a reload (a keys file is a few lines; a
/// bigger one is a mistake, not something to hold in memory).
pub const MAX_KEYS_FILE_BYTES: u64 = 1024 * 1024;

/// A keys file the service watches.
#[derive(Debug, Clone)]
pub struct KeysFile {
    /// The file.
    pub path: PathBuf,
    /// The keys that come from elsewhere (`VOXCAP_API_KEYS`), merged with
    /// the file's at each reload.
    pub base: ApiKeys,
    /// How often the file is read again.
    pub poll: Duration,
    /// The SHA-256 of the content the active keys came from.
    seen: Option<[u8; 32]>,
}

/// What one look at the file found.
#[derive(Debug, PartialEq, Eq)]
enum Look {
    /// The same content as last time: nothing to do.
    Unchanged,
    /// New content with this many keys in all (the base's included).
    Reloaded(usize),
    /// A file that could not be used (it was logged and counted).
    Failed,
}

impl KeysFile {
    /// Reads `path` (as [`ApiKeys::from_file`] does) and remembers its
    /// content, so that only a later change reloads it; `base` is added to
    /// its keys now and at every reload. Returns the keys to start with.
    pub fn open(path: &Path, base: ApiKeys) -> Result<(ApiKeys, KeysFile), ServiceError> {
        let bytes = std::fs::read(path).map_err(|source| ServiceError::KeysFile {
            path: path.to_path_buf(),
            source,
        })?;
        let keys = parse(path, &bytes)?;
        let file = KeysFile {
            path: path.to_path_buf(),
            base: base.clone(),
            poll: DEFAULT_KEYS_POLL,
            seen: Some(Sha256::digest(&bytes).into()),
        };
        Ok((base.merged(keys), file))
    }

    /// Reads the file and, when its content changed (or `force`, for
    /// SIGHUP), hands its keys (with the base) to `replace`, logging and
    /// counting the outcome into `metrics`.
    async fn look(
        &mut self,
        replace: &(dyn Fn(ApiKeys) + Sync),
        metrics: &Metrics,
        force: bool,
    ) -> Look {
        let bytes = match read_capped(&self.path).await {
            Ok(bytes) => bytes,
            Err(reason) => return self.failed(metrics, None, force, &reason),
        };
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        if !force && self.seen == Some(digest) {
            return Look::Unchanged;
        }
        let keys = match parse(&self.path, &bytes) {
            Ok(keys) if keys.is_empty() => {
                return self.failed(metrics, Some(digest), force, "it holds no key")
            }
            Ok(keys) => keys,
            Err(e) => return self.failed(metrics, Some(digest), force, &e.to_string()),
        };
        self.seen = Some(digest);
        let keys = self.base.clone().merged(keys);
        let active = keys.len();
        replace(keys);
        metrics.keys_reloaded(true);
        tracing::info!(file = %self.path.display(), active_keys = active, "API keys reloaded");
        Look::Reloaded(active)
    }

    /// Logs and counts a file that could not be used, once per content
    /// (`digest`; `None`: unreadable) or at each SIGHUP (`force`: the
    /// operator asked, and hears back), and keeps the active keys.
    fn failed(
        &mut self,
        metrics: &Metrics,
        digest: Option<[u8; 32]>,
        force: bool,
        reason: &str,
    ) -> Look {
        // An unreadable file is remembered as the all-zero digest, which no
        // content has in practice, so a missing file is counted once too.
        let digest = digest.unwrap_or([0; 32]);
        if force || self.seen != Some(digest) {
            self.seen = Some(digest);
            metrics.keys_reloaded(false);
            tracing::error!(file = %self.path.display(), error = %reason,
                "API keys file not reloaded; the previous keys stay active");
        }
        Look::Failed
    }
}

/// The file's keys; an error names the file and line, never a key.
fn parse(path: &Path, bytes: &[u8]) -> Result<ApiKeys, ServiceError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ServiceError::KeysFile {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
    })?;
    ApiKeys::from_file_text(text, &path.display().to_string())
}

/// The file's bytes, at most [`MAX_KEYS_FILE_BYTES`]; the error says why
/// not (without the file's content).
async fn read_capped(path: &Path) -> Result<Vec<u8>, String> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("cannot open it: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_KEYS_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > MAX_KEYS_FILE_BYTES {
        return Err(format!("larger than {MAX_KEYS_FILE_BYTES} bytes"));
    }
    Ok(bytes)
}

/// Watches `file` for `state`: a task that looks at it every poll and on
/// SIGHUP. The SIGHUP handler is installed before this returns, so a
/// SIGHUP sent once the service is up reloads instead of ending the
/// process. Call it inside the runtime; abort the task to stop.
pub(crate) fn spawn(mut file: KeysFile, state: ServiceState) -> tokio::task::JoinHandle<()> {
    let mut hangup = Hangup::install();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(file.poll.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            let force = tokio::select! {
                _ = tick.tick() => false,
                () = hangup.recv() => true,
            };
            let replace = |keys| state.replace_keys(keys);
            file.look(&replace, state.metrics(), force).await;
        }
    })
}

/// SIGHUP as a stream of wake-ups (never on other platforms, or when the
/// handler could not be installed: then only polling reloads).
struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    fn install() -> Hangup {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let signal = signal(SignalKind::hangup())
                .inspect_err(|e| {
                    tracing::warn!(error = %e, "no SIGHUP handler: the API keys file is only polled")
                })
                .ok();
            Hangup { signal }
        }
        #[cfg(not(unix))]
        Hangup {}
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(s) = &mut self.signal {
            if s.recv().await.is_some() {
                return;
            }
            self.signal = None;
        }
        std::future::pending::<()>().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_changed_file_reloads_and_a_bad_one_is_counted_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(&path, "key-a-0123456789abcdef\n").unwrap();
        let base = ApiKeys::from_list("key-env-0123456789abcdef").unwrap();
        let (keys, mut file) = KeysFile::open(&path, base).unwrap();
        assert_eq!(keys.len(), 2);
        let active = std::sync::Mutex::new(keys);
        let replace = |k| *active.lock().unwrap() = k;
        let metrics = Metrics::default();
        let mut look = async |force: bool| file.look(&replace, &metrics, force).await;
        assert_eq!(look(false).await, Look::Unchanged);
        // The same content rewritten is no reload; SIGHUP forces one.
        std::fs::write(&path, "key-a-0123456789abcdef\n").unwrap();
        assert_eq!(look(false).await, Look::Unchanged);
        assert_eq!(look(true).await, Look::Reloaded(2));
        let cases: [(&str, Option<&[u8]>, Look); 6] = [
            (
                "a new key",
                Some(b"key-b-0123456789abcdef\n".as_slice()),
                Look::Reloaded(2),
            ),
            ("empty", Some(b"".as_slice()), Look::Failed),
            (
                "comments only",
                Some(b"# nothing\n".as_slice()),
                Look::Failed,
            ),
            (
                "garbage",
                Some(b"not a key at all\n".as_slice()),
                Look::Failed,
            ),
            (
                "not UTF-8",
                Some([0xff, 0xfe, 0x00].as_slice()),
                Look::Failed,
            ),
            ("missing", None, Look::Failed),
        ];
        for (what, content, expected) in cases {
            match content {
                Some(c) => std::fs::write(&path, c).unwrap(),
                None => std::fs::remove_file(&path).unwrap(),
            }
            assert_eq!(look(false).await, expected, "{what}");
            // Looking again at the same bad file is not a second failure.
            let again = look(false).await;
            assert!(matches!(again, Look::Unchanged | Look::Failed), "{what}");
        }
        assert_eq!(look(false).await, Look::Failed);
        // The last good keys stay: the environment's and key B.
        let active = active.lock().unwrap();
        assert!(active.verify("key-b-0123456789abcdef").is_some());
        assert!(active.verify("key-env-0123456789abcdef").is_some());
        assert!(active.verify("key-a-0123456789abcdef").is_none());
        let text = metrics.render(&[]);
        assert!(text.contains("voxcap_api_keys_reloads_total 2\n"), "{text}");
        assert!(
            text.contains("voxcap_api_keys_reload_failures_total 5\n"),
            "{text}"
        );
    }
}
