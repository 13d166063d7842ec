//! SHA-256 over bytes as they pass, so that a recording is hashed on the
//! path that stores it, never by a second read.

use sha2::{Digest, Sha256};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};

use crate::error::{RecordsError, Result};

/// A running SHA-256 with a byte count.
#[derive(Debug, Clone, Default)]
pub struct Sha256Hasher {
    inner: Sha256,
    bytes: u64,
}

/// A finished hash: lower-case hex SHA-256 and the number of bytes hashed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileDigest {
    /// Lower-case hex SHA-256.
    pub sha256: String,
    /// Bytes hashed.
    pub bytes: u64,
}

impl Sha256Hasher {
    /// An empty hash.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
        self.bytes += data.len() as u64;
    }

    /// The hash of everything added.
    pub fn finish(self) -> FileDigest {
        FileDigest {
            sha256: hex(&self.inner.finalize()),
            bytes: self.bytes,
        }
    }
}

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A reader that hashes what it reads. The hash lives beside the reader
/// ([`HashingReader::handle`]), so it can be read after a consumer that
/// takes the reader by value is done with it.
#[derive(Debug)]
pub struct HashingReader<R> {
    inner: R,
    hasher: DigestHandle,
}

/// The running hash of a [`HashingReader`].
#[derive(Debug, Clone, Default)]
pub struct DigestHandle(Arc<Mutex<Sha256Hasher>>);

impl DigestHandle {
    fn with<T>(&self, f: impl FnOnce(&mut Sha256Hasher) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The hash of what was read so far.
    pub fn current(&self) -> FileDigest {
        self.with(|h| h.clone().finish())
    }

    /// The hash of the whole file at `path`, of which the reader saw a
    /// prefix: the rest (what a consumer left unread, such as chunks after
    /// a WAV's data) is read from where the reader stopped.
    pub fn finish_file(&self, path: &Path) -> Result<FileDigest> {
        let mut file = std::fs::File::open(path).map_err(RecordsError::io("opening", path))?;
        let seen = self.with(|h| h.bytes);
        file.seek(SeekFrom::Start(seen))
            .map_err(RecordsError::io("seeking", path))?;
        let mut rest = HashingReader {
            inner: io::BufReader::new(file),
            hasher: self.clone(),
        };
        io::copy(&mut rest, &mut io::sink()).map_err(RecordsError::io("reading", path))?;
        Ok(self.current())
    }
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: DigestHandle::default(),
        }
    }

    /// The running hash, shared.
    pub fn handle(&self) -> DigestHandle {
        self.hasher.clone()
    }

    /// Reads what is left (so the hash covers the whole input, even when
    /// the consumer stopped early) and returns the hash.
    pub fn finish(mut self) -> io::Result<FileDigest> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.hasher.current())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.with(|h| h.update(&buf[..n]));
        Ok(n)
    }
}

/// Bytes per read of a [`ReadAhead`].
const READ_AHEAD_CHUNK: usize = 64 * 1024;
/// Chunks a [`ReadAhead`] may hold read but not yet consumed.
const READ_AHEAD_DEPTH: usize = 4;

/// A reader that reads its source on a thread of its own, up to
/// 4 chunks of 64 KiB ahead of the consumer, so that the reading (and,
/// around a [`HashingReader`], the hashing) runs beside the consumer's work
/// instead of between its steps. The chunks are reused: no allocation per
/// read. An error of the source reaches the consumer at the point in the
/// stream where it happened; if the thread dies, the next read is an error
/// that says so. Dropping the reader stops the thread at its next chunk.
///
/// Only for sources whose reads end (files): a read that blocks for ever
/// keeps the thread after the reader is dropped. Around a [`HashingReader`],
/// read to the end before reading the hash: the thread hashes ahead of what
/// was consumed, so [`DigestHandle::finish_file`] is not for this reader.
#[derive(Debug)]
pub struct ReadAhead {
    full: mpsc::Receiver<io::Result<(Vec<u8>, usize)>>,
    empty: mpsc::Sender<Vec<u8>>,
    cur: Vec<u8>,
    len: usize,
    pos: usize,
    ended: bool,
}

impl ReadAhead {
    /// Starts the thread reading `inner`; an error if it cannot be started.
    pub fn new<R: Read + Send + 'static>(mut inner: R) -> io::Result<Self> {
        let (full_tx, full) = mpsc::channel();
        let (empty, empty_rx) = mpsc::channel::<Vec<u8>>();
        for _ in 0..READ_AHEAD_DEPTH {
            // The receiver is alive here: these sends cannot fail.
            let _ = empty.send(vec![0; READ_AHEAD_CHUNK]);
        }
        std::thread::Builder::new()
            .name("voxcap-read".into())
            .spawn(move || {
                // The consumer gone (either channel closed) ends the thread.
                while let Ok(mut buf) = empty_rx.recv() {
                    let got = loop {
                        match inner.read(&mut buf) {
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            other => break other,
                        }
                    };
                    let stop = !matches!(got, Ok(n) if n > 0);
                    if full_tx.send(got.map(|n| (buf, n))).is_err() || stop {
                        return;
                    }
                }
            })?;
        Ok(ReadAhead {
            full,
            empty,
            cur: Vec::new(),
            len: 0,
            pos: 0,
            ended: false,
        })
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos == self.len {
            if self.ended {
                return Ok(0);
            }
            if !self.cur.is_empty() {
                // The thread may have ended (end of input): the buffer is then not needed.
                let _ = self.empty.send(std::mem::take(&mut self.cur));
            }
            match self.full.recv() {
                Ok(Ok((chunk, n))) => {
                    self.cur = chunk;
                    self.len = n;
                    self.pos = 0;
                    if n == 0 {
                        self.ended = true;
                        return Ok(0);
                    }
                }
                Ok(Err(e)) => {
                    self.ended = true;
                    return Err(e);
                }
                Err(_) => {
                    self.ended = true;
                    return Err(io::Error::other(
                        "the read-ahead thread stopped before the end of the input",
                    ));
                }
            }
        }
        let n = buf.len().min(self.len - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The hash of the file at `path`, read once.
pub fn digest_file(path: &Path) -> Result<FileDigest> {
    let file = std::fs::File::open(path).map_err(RecordsError::io("opening", path))?;
    HashingReader::new(io::BufReader::new(file))
        .finish()
        .map_err(RecordsError::io("reading", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors_and_reader_agree() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut r = HashingReader::new(&b"abcdef"[..]);
        let mut first = [0u8; 3];
        r.read_exact(&mut first).unwrap();
        let d = r.finish().unwrap();
        assert_eq!(d.bytes, 6);
        assert_eq!(d.sha256, sha256_hex(b"abcdef"));
        // A consumer that stops early: the rest comes from the file.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abcdef").unwrap();
        let mut r = HashingReader::new(std::fs::File::open(&path).unwrap());
        let handle = r.handle();
        r.read_exact(&mut first).unwrap();
        drop(r);
        assert_eq!(handle.current().bytes, 3);
        assert_eq!(
            handle.finish_file(&path).unwrap(),
            digest_file(&path).unwrap()
        );
    }

    /// A source that gives `data` in reads of at most `step` bytes, then
    /// fails (or panics) instead of ending, when asked to.
    struct Source {
        data: Vec<u8>,
        at: usize,
        step: usize,
        then: Option<bool>,
    }

    impl Read for Source {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.at == self.data.len() {
                return match self.then {
                    None => Ok(0),
                    Some(false) => Err(io::Error::other("disk on fire")),
                    Some(true) => panic!("injected panic in the source"),
                };
            }
            let n = buf.len().min(self.step).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn source(len: usize, step: usize, then: Option<bool>) -> Source {
        let data = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
        Source {
            data,
            at: 0,
            step,
            then,
        }
    }

    #[test]
    fn read_ahead_gives_the_same_bytes_and_hash() {
        for (len, step, want) in [
            (0, 1, 0),
            (5, 1, 5),
            (300_001, 70_000, 300_001),
            (200_000, 3, 200_000),
        ] {
            let src = source(len, step, None);
            let data = src.data.clone();
            let hashed = HashingReader::new(src);
            let digest = hashed.handle();
            let mut r = ReadAhead::new(hashed).unwrap();
            let mut got = Vec::new();
            // Odd-sized reads cross the 64 KiB chunks anywhere.
            let mut buf = [0u8; 9_999];
            loop {
                let n = r.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got.len(), want);
            assert_eq!(got, data);
            assert_eq!(r.read(&mut buf).unwrap(), 0, "the end stays the end");
            assert_eq!(digest.current().sha256, sha256_hex(&data));
        }
    }

    #[test]
    fn read_ahead_reports_the_sources_error_after_its_bytes() {
        let mut r = ReadAhead::new(source(100_000, 4096, Some(false))).unwrap();
        let mut got = Vec::new();
        let err = r.read_to_end(&mut got).unwrap_err();
        assert_eq!(got.len(), 100_000, "every byte before the error arrives");
        assert_eq!(err.to_string(), "disk on fire");
        let mut r = ReadAhead::new(source(10, 10, Some(true))).unwrap();
        let err = r.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(
            err.to_string().contains("read-ahead thread stopped"),
            "{err}"
        );
    }

    #[test]
    fn read_ahead_dropped_early_lets_its_thread_end() {
        let mut r = ReadAhead::new(source(10_000_000, 65_536, None)).unwrap();
        let mut first = [0u8; 10];
        r.read_exact(&mut first).unwrap();
        drop(r);
        // Nothing to join: the test ends (no hang) and the source is freed
        // once the thread's next send fails.
    }
}
