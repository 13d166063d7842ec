//! What the download writes a recording through: the bytes as served are
//! hashed on their way to the temp file (no second read), and, with
//! recipients, encrypted before they reach it, so plaintext never touches
//! the disk. The bytes on disk are hashed too (for an encrypted file, the
//! ciphertext), so a report can list what it stored.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use voxcap_records::crypt::{EncryptingWriter, Recipients};
use voxcap_records::digest::{FileDigest, Sha256Hasher};

/// Ciphertext the age writer produced and the file has not had yet.
#[derive(Clone, Default)]
struct Pending(Arc<Mutex<Vec<u8>>>);

impl Pending {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Write for Pending {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The hashes of a finished recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SinkDigests {
    /// Of the bytes as served.
    pub(crate) served: FileDigest,
    /// Of the bytes on disk.
    pub(crate) stored: FileDigest,
}

/// The temp file's writer: hashing, and encrypting when asked.
pub(crate) struct RecordingSink {
    file: tokio::io::BufWriter<tokio::fs::File>,
    served: Sha256Hasher,
    stored: Sha256Hasher,
    cipher: Option<(EncryptingWriter<Pending>, Pending)>,
}

impl RecordingSink {
    /// A sink into `file`, encrypting to `encrypt_to` when given.
    pub(crate) fn new(file: std::fs::File, encrypt_to: Option<&Recipients>) -> io::Result<Self> {
        let cipher = match encrypt_to {
            Some(r) => {
                let pending = Pending::default();
                Some((r.encrypt(pending.clone())?, pending))
            }
            None => None,
        };
        Ok(RecordingSink {
            file: tokio::io::BufWriter::with_capacity(64 * 1024, tokio::fs::File::from_std(file)),
            served: Sha256Hasher::new(),
            stored: Sha256Hasher::new(),
            cipher,
        })
    }

    /// Writes the next bytes of the recording.
    pub(crate) async fn write_all(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.served.update(chunk);
        let ciphertext = match &mut self.cipher {
            None => None,
            Some((writer, pending)) => {
                writer.write_all(chunk)?;
                Some(pending.take())
            }
        };
        self.write_to_file(ciphertext.as_deref().unwrap_or(chunk))
            .await
    }

    async fn write_to_file(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stored.update(bytes);
        self.file.write_all(bytes).await
    }

    /// Ends the stream (the age trailer), flushes and fsyncs the file.
    pub(crate) async fn finish(mut self) -> io::Result<SinkDigests> {
        if let Some((writer, pending)) = self.cipher.take() {
            writer.finish()?;
            self.write_to_file(&pending.take()).await?;
        }
        self.file.flush().await?;
        self.file.into_inner().sync_all().await?;
        Ok(SinkDigests {
            served: self.served.finish(),
            stored: self.stored.finish(),
        })
    }
}
