//! SHA-256 over bytes as they pass, so that a recording is hashed on the
//! path that stores it, never by a second read.

use sha2::{Digest, Sha256};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex};

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
}
