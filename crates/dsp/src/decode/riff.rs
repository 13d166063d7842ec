//! A strict, bounded pre-parser for the RIFF/WAVE header.
//!
//! It reads chunk headers up to the `data` chunk, validates the `fmt ` chunk,
//! and skips other chunks by streaming them through a fixed scratch buffer,
//! so no size from the file ever drives an allocation. It exists because
//! symphonia 0.5's WAV reader lacks these guards: it allocates a `LIST/INFO`
//! chunk whole, reads data size 0 as "no audio", rejects µ-law `fmt ` chunks
//! of 16 bytes, and words its errors for developers rather than users.

use std::io::Read;

use super::{Codec, DecodeError};

/// Most channels we accept; telephony audio is mono or stereo, and this keeps
/// a frame (and symphonia's channel mask) small.
pub const MAX_CHANNELS: u16 = 16;
/// Lowest sample rate we accept, in Hz.
pub const MIN_SAMPLE_RATE: u32 = 1_000;
/// Highest sample rate we accept, in Hz.
pub const MAX_SAMPLE_RATE: u32 = 384_000;
/// Largest `fmt ` chunk we believe; real ones are 16, 18 or 40 bytes.
const MAX_FMT_LEN: u32 = 1024;

const WAVE_FORMAT_PCM: u16 = 0x0001;
const WAVE_FORMAT_IEEE_FLOAT: u16 = 0x0003;
const WAVE_FORMAT_ALAW: u16 = 0x0006;
const WAVE_FORMAT_MULAW: u16 = 0x0007;
const WAVE_FORMAT_EXTENSIBLE: u16 = 0xFFFE;
/// The 14 bytes every KSDATAFORMAT_SUBTYPE_* GUID shares after its format tag.
const KSDATAFORMAT_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];

/// What the header says about the audio that follows it.
#[derive(Debug, Clone)]
pub(super) struct WavHeader {
    /// The sample encoding.
    pub codec: Codec,
    /// Channels per frame.
    pub channels: u16,
    /// Frames per second.
    pub sample_rate: u32,
    /// Bits per sample as stored (the container width).
    pub bits: u16,
    /// Valid bits per sample (differs from `bits` only in extensible files).
    pub valid_bits: u16,
    /// Bytes per frame.
    pub block_align: u16,
    /// Whether the file used WAVE_FORMAT_EXTENSIBLE.
    pub extensible: bool,
    /// Declared data length in bytes; `None` for a pipe-style WAV (0 or 0xFFFFFFFF).
    pub data_len: Option<u64>,
    /// File offset where the audio data begins.
    pub data_offset: u64,
    /// File offset where the RIFF chunk claims to end, if the claim is meaningful.
    pub riff_end: Option<u64>,
}

/// A reader that counts the bytes it has consumed, for error messages.
pub(crate) struct Counted<R> {
    pub(crate) inner: R,
    pub(crate) pos: u64,
}

impl<R: Read> Counted<R> {
    /// Reads until `buf` is full or EOF; returns the bytes read.
    pub(super) fn fill(&mut self, buf: &mut [u8]) -> Result<usize, DecodeError> {
        let mut n = 0;
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(DecodeError::Io {
                        offset: self.pos + n as u64,
                        source: e,
                    })
                }
            }
        }
        self.pos += n as u64;
        Ok(n)
    }

    /// Skips up to `len` bytes through a stack buffer; returns the bytes skipped.
    pub(super) fn skip(&mut self, len: u64) -> Result<u64, DecodeError> {
        let mut scratch = [0u8; 4096];
        let mut left = len;
        while left > 0 {
            let want = left.min(scratch.len() as u64) as usize;
            let got = self.fill(&mut scratch[..want])?;
            left -= got as u64;
            if got < want {
                break;
            }
        }
        Ok(len - left)
    }
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Shows four bytes as text when printable, else as hex, for error messages.
fn show_tag(tag: &[u8]) -> String {
    if tag.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("{:?}", String::from_utf8_lossy(tag))
    } else {
        let hex: Vec<String> = tag.iter().map(|b| format!("{b:02x}")).collect();
        format!("bytes {}", hex.join(" "))
    }
}

/// Names well-known non-WAV formats from their first bytes, so the user
/// learns what the file really is.
fn sniff(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"ID3") || (head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0) {
        Some("MP3")
    } else if head.starts_with(b"OggS") {
        Some("Ogg")
    } else if head.starts_with(b"fLaC") {
        Some("FLAC")
    } else if head.starts_with(b"FORM") {
        Some("AIFF")
    } else if head.starts_with(b"RIFX") {
        Some("big-endian RIFX")
    } else if head.starts_with(b"RF64") {
        Some("RF64")
    } else if head.len() >= 8 && &head[4..8] == b"ftyp" {
        Some("MP4/M4A")
    } else {
        None
    }
}

/// Reads and validates the header, leaving `r` at the first audio byte.
pub(super) fn parse_header<R: Read>(r: &mut Counted<R>) -> Result<WavHeader, DecodeError> {
    let mut head = [0u8; 12];
    let n = r.fill(&mut head)?;
    if n == 0 {
        return Err(DecodeError::Empty);
    }
    let head = &head[..n];
    if n < 12 || &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        if n < 12 && b"RIFF".starts_with(&head[..n.min(4)]) {
            return Err(DecodeError::HeaderTruncated {
                offset: n as u64,
                what: "RIFF header".into(),
            });
        }
        let found = match sniff(head) {
            Some(kind) => format!("looks like {kind}"),
            None => format!("starts with {}", show_tag(&head[..n.min(4)])),
        };
        return Err(DecodeError::NotWav { found });
    }
    let riff_size = u32_at(head, 4);
    let riff_end = match riff_size {
        0 | u32::MAX => None,
        s => Some(8 + u64::from(s)),
    };

    let mut fmt: Option<Fmt> = None;
    loop {
        let chunk_start = r.pos;
        let mut ch = [0u8; 8];
        let got = r.fill(&mut ch)?;
        if got == 0 {
            return Err(match fmt {
                None => DecodeError::MissingChunk {
                    chunk: "fmt ",
                    offset: r.pos,
                },
                Some(_) => DecodeError::MissingChunk {
                    chunk: "data",
                    offset: r.pos,
                },
            });
        }
        if got < 8 {
            return Err(DecodeError::HeaderTruncated {
                offset: r.pos,
                what: format!("chunk header at byte {chunk_start}"),
            });
        }
        let tag = [ch[0], ch[1], ch[2], ch[3]];
        let len = u32_at(&ch, 4);
        match &tag {
            b"fmt " => {
                if fmt.is_some() {
                    return Err(DecodeError::BadFormat {
                        reason: format!("a second fmt chunk at byte {chunk_start}"),
                    });
                }
                if len < 16 {
                    return Err(DecodeError::BadFormat {
                        reason: format!("fmt chunk is {len} bytes, at least 16 are needed"),
                    });
                }
                if len > MAX_FMT_LEN {
                    return Err(DecodeError::BadFormat {
                        reason: format!(
                            "fmt chunk claims {len} bytes (at most {MAX_FMT_LEN} are plausible)"
                        ),
                    });
                }
                let mut body = [0u8; 40];
                let want = (len as usize).min(body.len());
                let got = r.fill(&mut body[..want])?;
                if got < want {
                    return Err(DecodeError::HeaderTruncated {
                        offset: r.pos,
                        what: "fmt chunk".into(),
                    });
                }
                let rest = u64::from(len) - want as u64 + u64::from(len & 1);
                if r.skip(rest)? < rest {
                    return Err(DecodeError::HeaderTruncated {
                        offset: r.pos,
                        what: "fmt chunk".into(),
                    });
                }
                fmt = Some(parse_fmt(&body[..want])?);
            }
            b"data" => {
                let Some(f) = fmt else {
                    return Err(DecodeError::MissingChunk {
                        chunk: "fmt ",
                        offset: chunk_start,
                    });
                };
                let data_len = if is_pipe_placeholder(len, f.block_align) {
                    None
                } else {
                    Some(u64::from(len))
                };
                return Ok(WavHeader {
                    codec: f.codec,
                    channels: f.channels,
                    sample_rate: f.sample_rate,
                    bits: f.bits,
                    valid_bits: f.valid_bits,
                    block_align: f.block_align,
                    extensible: f.extensible,
                    data_len,
                    data_offset: r.pos,
                    riff_end,
                });
            }
            _ => {
                // Unknown chunks (LIST, fact, bext, junk...) are skipped as the
                // RIFF spec says, streaming so a 4 GiB claim allocates nothing.
                let want = u64::from(len) + u64::from(len & 1);
                let skipped = r.skip(want)?;
                if skipped < u64::from(len) {
                    return Err(DecodeError::HeaderTruncated {
                        offset: r.pos,
                        what: format!(
                            "{} chunk at byte {chunk_start}, which claims {len} bytes",
                            show_tag(&tag)
                        ),
                    });
                }
            }
        }
    }
}

/// sox writes this data size when it cannot seek back to fix the header.
const SOX_UNSPECIFIED_LEN: u32 = 0x7FFF_F000;

/// Whether a data chunk size is a writer's "unknown length" placeholder: 0
/// and 0xFFFFFFFF (ffmpeg and others), or sox's 0x7FFFF000 rounded down to
/// whole frames.
fn is_pipe_placeholder(len: u32, block_align: u16) -> bool {
    let sox = SOX_UNSPECIFIED_LEN - SOX_UNSPECIFIED_LEN % u32::from(block_align.max(1));
    len == 0 || len == u32::MAX || len == sox
}

#[derive(Debug, Clone, Copy)]
struct Fmt {
    codec: Codec,
    channels: u16,
    sample_rate: u32,
    bits: u16,
    valid_bits: u16,
    block_align: u16,
    extensible: bool,
}

fn format_tag_name(tag: u16) -> String {
    let name = match tag {
        0x0002 => "Microsoft ADPCM",
        0x0011 => "IMA ADPCM",
        0x0031 => "GSM 6.10",
        0x0040 => "G.721 ADPCM",
        0x0050 => "MPEG audio",
        0x0055 => "MPEG layer 3",
        0x0064 => "G.726 ADPCM",
        0x0065 => "G.722 ADPCM",
        _ => "unknown",
    };
    format!("format tag 0x{tag:04x} ({name})")
}

fn parse_fmt(b: &[u8]) -> Result<Fmt, DecodeError> {
    let bad = |reason: String| Err(DecodeError::BadFormat { reason });
    let tag = u16_at(b, 0);
    let channels = u16_at(b, 2);
    let sample_rate = u32_at(b, 4);
    let block_align = u16_at(b, 12);
    let bits = u16_at(b, 14);

    if channels == 0 {
        return bad("fmt chunk claims 0 channels".into());
    }
    if channels > MAX_CHANNELS {
        return bad(format!(
            "fmt chunk claims {channels} channels (at most {MAX_CHANNELS} are supported)"
        ));
    }
    if sample_rate == 0 {
        return bad("fmt chunk says sample rate 0".into());
    }
    if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&sample_rate) {
        return bad(format!(
            "fmt chunk says sample rate {sample_rate} Hz, outside {MIN_SAMPLE_RATE}..={MAX_SAMPLE_RATE} Hz"
        ));
    }
    if bits == 0 {
        return bad("fmt chunk says bits per sample 0".into());
    }

    let (effective_tag, valid_bits, extensible) = if tag == WAVE_FORMAT_EXTENSIBLE {
        if b.len() < 40 {
            return bad(format!(
                "WAVE_FORMAT_EXTENSIBLE needs a 40-byte fmt chunk, this one has {}",
                b.len()
            ));
        }
        let valid = u16_at(b, 18);
        let guid = &b[24..40];
        if guid[2..] != KSDATAFORMAT_TAIL {
            return Err(DecodeError::Unsupported {
                reason: "WAVE_FORMAT_EXTENSIBLE with a non-standard sub-format GUID".into(),
            });
        }
        let valid = if valid == 0 { bits } else { valid };
        if valid > bits {
            return bad(format!(
                "fmt chunk claims {valid} valid bits per sample in a {bits}-bit container"
            ));
        }
        (u16_at(guid, 0), valid, true)
    } else {
        (tag, bits, false)
    };

    let codec = match (effective_tag, bits) {
        (WAVE_FORMAT_PCM, 8) => Codec::PcmU8,
        (WAVE_FORMAT_PCM, 16) => Codec::PcmS16Le,
        (WAVE_FORMAT_PCM, 24) => Codec::PcmS24Le,
        (WAVE_FORMAT_PCM, 32) => Codec::PcmS32Le,
        (WAVE_FORMAT_PCM, n) => {
            return Err(DecodeError::Unsupported {
                reason: format!("integer PCM with {n} bits per sample (8, 16, 24 or 32 supported)"),
            })
        }
        (WAVE_FORMAT_IEEE_FLOAT, 32) => Codec::PcmF32Le,
        (WAVE_FORMAT_IEEE_FLOAT, 64) => Codec::PcmF64Le,
        (WAVE_FORMAT_IEEE_FLOAT, n) => {
            return Err(DecodeError::Unsupported {
                reason: format!("float PCM with {n} bits per sample (32 or 64 supported)"),
            })
        }
        (WAVE_FORMAT_MULAW, 8) => Codec::MuLaw,
        (WAVE_FORMAT_ALAW, 8) => Codec::ALaw,
        (WAVE_FORMAT_MULAW | WAVE_FORMAT_ALAW, n) => {
            return bad(format!(
                "fmt chunk claims G.711 with {n} bits per sample (must be 8)"
            ))
        }
        (t, _) => {
            return Err(DecodeError::Unsupported {
                reason: format_tag_name(t),
            })
        }
    };

    let expected = u32::from(channels) * u32::from(bits / 8);
    if u32::from(block_align) != expected {
        return bad(format!(
            "fmt chunk has block_align {block_align}, which does not match {channels} channel(s) x {bits} bits (expected {expected})"
        ));
    }
    Ok(Fmt {
        codec,
        channels,
        sample_rate,
        bits,
        valid_bits,
        block_align,
        extensible,
    })
}

/// A canonical header for `h` in the form symphonia's WAV reader accepts for
/// every codec we support, with pipe-style sizes: the real sizes have been
/// checked already and the data length is enforced by our own reader.
pub(super) fn canonical_header(h: &WavHeader) -> Vec<u8> {
    let tag = match h.codec {
        Codec::PcmU8 | Codec::PcmS16Le | Codec::PcmS24Le | Codec::PcmS32Le => WAVE_FORMAT_PCM,
        Codec::PcmF32Le | Codec::PcmF64Le => WAVE_FORMAT_IEEE_FLOAT,
        Codec::MuLaw => WAVE_FORMAT_MULAW,
        Codec::ALaw => WAVE_FORMAT_ALAW,
    };
    let g711 = matches!(h.codec, Codec::MuLaw | Codec::ALaw);
    let fmt_len: u32 = if g711 { 18 } else { 16 };
    let mut out = Vec::with_capacity(48);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&u32::MAX.to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&fmt_len.to_le_bytes());
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(&h.channels.to_le_bytes());
    out.extend_from_slice(&h.sample_rate.to_le_bytes());
    let byte_rate = h.sample_rate.saturating_mul(u32::from(h.block_align));
    out.extend_from_slice(&byte_rate.to_le_bytes());
    out.extend_from_slice(&h.block_align.to_le_bytes());
    out.extend_from_slice(&h.bits.to_le_bytes());
    if g711 {
        out.extend_from_slice(&0u16.to_le_bytes());
    }
    out.extend_from_slice(b"data");
    out.extend_from_slice(&u32::MAX.to_le_bytes());
    out
}
