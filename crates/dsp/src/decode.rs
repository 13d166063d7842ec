//! Streaming WAV decoding from any [`std::io::Read`] to mono `f32`.
//!
//! The pipeline is: our bounded RIFF pre-parser (`decode/riff.rs`) validates the
//! header and skips metadata chunks; symphonia's WAV reader then parses a
//! canonical copy of the validated `fmt ` chunk and owns the buffered byte
//! source ([`MediaSourceStream`]); the audio bytes are read from that source
//! in fixed blocks and converted to mono `f32` by our own loops (with lookup
//! tables for G.711), which is several times faster than symphonia's generic
//! per-sample conversion and lets us keep a partial last block.
//!
//! Conventions:
//! - Full scale is 1.0: integer samples are divided by 2^(bits-1) (8-bit
//!   unsigned is offset by 128 first), G.711 expands to 16-bit linear and is
//!   divided by 32768. Float samples are sanitised by [`sanitize_float`]
//!   before anything downstream sees them: NaN and ±Inf become 0, finite
//!   values beyond ±[`FLOAT_LIMIT`] (16.0, +24.08 dBFS) are clamped to it, and
//!   subnormals (below 2^-126, about -759 dBFS) become 0. A float WAV may
//!   legitimately exceed full scale by a few dB; beyond +24 dBFS a sample is
//!   garbage, and a file full of 1e30 values would otherwise overflow sums of
//!   squares (an infinite RMS) and the resampler's FFT (a panic), while
//!   subnormals make FFT arithmetic slow enough to stall a batch.
//!   Integer and G.711 samples are within ±1.0 by construction.
//! - Channels are downmixed to mono by averaging: the channel values of a frame
//!   are summed in order and multiplied by `1 / channels`.
//! - A data size of 0 or 0xFFFFFFFF, or sox's placeholder 0x7FFFF000
//!   (rounded down to whole frames), means "read to EOF": the WAV was written
//!   to a pipe and its writer could not go back to fill in the size. Otherwise the declared size is read exactly; if the input ends
//!   first the file is truncated, which is an error unless
//!   [`DecodeOptions::lenient`] is set.
//! - Memory is bounded: the decoder holds one block of [`BLOCK_BYTES`] plus
//!   symphonia's 64 KiB ring buffer, whatever the sizes in the header claim.

mod g711;
mod riff;

pub use riff::{MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE};

use std::io::{Cursor, Read};
use std::sync::Mutex;

use symphonia::core::codecs::{
    CodecType, CODEC_TYPE_PCM_ALAW, CODEC_TYPE_PCM_F32LE, CODEC_TYPE_PCM_F64LE,
    CODEC_TYPE_PCM_MULAW, CODEC_TYPE_PCM_S16LE, CODEC_TYPE_PCM_S24LE, CODEC_TYPE_PCM_S32LE,
    CODEC_TYPE_PCM_U8,
};
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions, ReadOnlySource};
use symphonia::default::formats::WavReader;

use riff::{Counted, WavHeader};

/// How far the file may fall short of its RIFF size without being called
/// truncated: writers commonly omit the pad byte after odd-sized data, and
/// some count the 8-byte RIFF header in the RIFF size.
const RIFF_SLACK: u64 = 8;

/// Size of one read from the source, in bytes (rounded down to whole frames).
pub const BLOCK_BYTES: usize = 64 * 1024;

/// The largest magnitude a decoded float sample keeps: 16.0 (+24.08 dBFS).
/// See [`sanitize_float`].
pub const FLOAT_LIMIT: f32 = 16.0;

/// Sanitises one float sample as the decoder does for `pcm_f32le` and
/// `pcm_f64le`: NaN and ±Inf become 0.0, finite magnitudes above
/// [`FLOAT_LIMIT`] are clamped to ±[`FLOAT_LIMIT`], and subnormals (and -0.0)
/// become 0.0. Every other value passes through unchanged.
///
/// ```
/// use voxcap_dsp::decode::{sanitize_float, FLOAT_LIMIT};
/// assert_eq!(sanitize_float(0.5), 0.5);
/// assert_eq!(sanitize_float(1e30), FLOAT_LIMIT);
/// assert_eq!(sanitize_float(-f32::MAX), -FLOAT_LIMIT);
/// assert_eq!(sanitize_float(f32::NAN), 0.0);
/// assert_eq!(sanitize_float(f32::NEG_INFINITY), 0.0);
/// assert_eq!(sanitize_float(f32::from_bits(1)), 0.0);
/// ```
#[inline(always)]
pub fn sanitize_float(v: f32) -> f32 {
    let a = v.abs();
    if a <= FLOAT_LIMIT {
        if a >= f32::MIN_POSITIVE {
            v
        } else {
            0.0
        }
    } else if a.is_finite() {
        FLOAT_LIMIT.copysign(v)
    } else {
        0.0
    }
}

/// [`sanitize_float`] for a 64-bit sample: it is clamped in f64 first, so
/// a finite value too large for f32 is clamped rather than zeroed.
#[inline(always)]
pub fn sanitize_f64(v: f64) -> f32 {
    if v.is_finite() {
        sanitize_float(v.clamp(-f64::from(FLOAT_LIMIT), f64::from(FLOAT_LIMIT)) as f32)
    } else {
        0.0
    }
}

/// A sample encoding the decoder understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// 8-bit unsigned integer PCM.
    PcmU8,
    /// 16-bit signed little-endian PCM.
    PcmS16Le,
    /// 24-bit signed little-endian PCM.
    PcmS24Le,
    /// 32-bit signed little-endian PCM.
    PcmS32Le,
    /// 32-bit IEEE float.
    PcmF32Le,
    /// 64-bit IEEE float.
    PcmF64Le,
    /// G.711 µ-law.
    MuLaw,
    /// G.711 A-law.
    ALaw,
}

impl Codec {
    /// A stable snake_case name (ffmpeg's codec names), used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Codec::PcmU8 => "pcm_u8",
            Codec::PcmS16Le => "pcm_s16le",
            Codec::PcmS24Le => "pcm_s24le",
            Codec::PcmS32Le => "pcm_s32le",
            Codec::PcmF32Le => "pcm_f32le",
            Codec::PcmF64Le => "pcm_f64le",
            Codec::MuLaw => "pcm_mulaw",
            Codec::ALaw => "pcm_alaw",
        }
    }

    /// Whether samples are integers, so that full scale is a hard limit.
    pub fn is_integer(self) -> bool {
        !matches!(self, Codec::PcmF32Le | Codec::PcmF64Le)
    }

    fn symphonia_type(self) -> CodecType {
        match self {
            Codec::PcmU8 => CODEC_TYPE_PCM_U8,
            Codec::PcmS16Le => CODEC_TYPE_PCM_S16LE,
            Codec::PcmS24Le => CODEC_TYPE_PCM_S24LE,
            Codec::PcmS32Le => CODEC_TYPE_PCM_S32LE,
            Codec::PcmF32Le => CODEC_TYPE_PCM_F32LE,
            Codec::PcmF64Le => CODEC_TYPE_PCM_F64LE,
            Codec::MuLaw => CODEC_TYPE_PCM_MULAW,
            Codec::ALaw => CODEC_TYPE_PCM_ALAW,
        }
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The format of a decoded stream, as its header describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// The sample encoding.
    pub codec: Codec,
    /// Frames per second.
    pub sample_rate: u32,
    /// Channels per frame (before the mono downmix).
    pub channels: u16,
    /// Bits per sample as stored (8 for G.711).
    pub bits: u16,
    /// Valid bits per sample; less than `bits` only in some extensible files.
    pub valid_bits: u16,
    /// Bytes per frame.
    pub block_align: u16,
    /// Whether the header used WAVE_FORMAT_EXTENSIBLE.
    pub extensible: bool,
    /// Declared length of the audio data in bytes; `None` for a pipe-style
    /// WAV whose data runs to EOF.
    pub data_len: Option<u64>,
}

/// Options for [`WavDecoder`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Decode a truncated file as far as it goes instead of failing; the
    /// truncation is then reported by [`WavDecoder::truncation`].
    pub lenient: bool,
}

/// Where and how a truncated input stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncation {
    /// Audio data bytes actually read.
    pub data_read: u64,
    /// Audio data bytes the header declared (`None` for pipe-style WAVs).
    pub data_declared: Option<u64>,
    /// File offset where the input ended.
    pub file_len: u64,
}

/// Why a WAV could not be decoded. Messages name the cause and, where it
/// helps, the byte position; the caller adds the input's name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input holds no bytes at all.
    #[error("empty input (0 bytes)")]
    Empty,
    /// The input is not a RIFF/WAVE file.
    #[error("not a RIFF/WAVE file ({found})")]
    NotWav {
        /// What the first bytes look like instead.
        found: String,
    },
    /// The input ends inside the header.
    #[error("header truncated: input ends at byte {offset} inside the {what}")]
    HeaderTruncated {
        /// File length.
        offset: u64,
        /// The structure that was cut off.
        what: String,
    },
    /// A required chunk is missing.
    #[error("no {chunk:?} chunk before byte {offset}")]
    MissingChunk {
        /// The missing chunk's tag.
        chunk: &'static str,
        /// Where the search stopped.
        offset: u64,
    },
    /// The `fmt ` chunk is inconsistent or impossible.
    #[error("{reason}")]
    BadFormat {
        /// What is wrong with it.
        reason: String,
    },
    /// A well-formed WAV in an encoding we do not decode.
    #[error("unsupported WAV encoding: {reason}")]
    Unsupported {
        /// The encoding.
        reason: String,
    },
    /// The audio data ends before its declared size.
    #[error("data stopped at byte {data_read} of {declared} (truncated)")]
    Truncated {
        /// Data bytes read.
        data_read: u64,
        /// Data bytes declared.
        declared: u64,
    },
    /// The data ends part-way through a frame.
    #[error("data ends {extra} byte(s) into a {block_align}-byte frame after {data_read} bytes (truncated)")]
    PartialFrame {
        /// Data bytes read.
        data_read: u64,
        /// Bytes of the incomplete frame.
        extra: usize,
        /// Bytes per frame.
        block_align: u16,
    },
    /// The audio is complete but the file ends before its RIFF size says.
    #[error(
        "file ends at byte {file_len} but the RIFF header claims {riff_end} bytes (truncated)"
    )]
    RiffTruncated {
        /// Bytes in the input.
        file_len: u64,
        /// Bytes the RIFF header claims.
        riff_end: u64,
    },
    /// Symphonia refused the validated header (a bug in our pre-parser).
    #[error("symphonia rejected the header: {0}")]
    Symphonia(String),
    /// Reading the input failed.
    #[error("read failed at byte {offset}: {source}")]
    Io {
        /// Bytes read before the failure.
        offset: u64,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl DecodeError {
    /// A stable snake_case name for the kind of error, for JSON output.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::Empty => "empty",
            DecodeError::NotWav { .. } => "not_wav",
            DecodeError::HeaderTruncated { .. } => "header_truncated",
            DecodeError::MissingChunk { .. } => "missing_chunk",
            DecodeError::BadFormat { .. } => "bad_format",
            DecodeError::Unsupported { .. } => "unsupported",
            DecodeError::Truncated { .. }
            | DecodeError::PartialFrame { .. }
            | DecodeError::RiffTruncated { .. } => "truncated",
            DecodeError::Symphonia(_) => "internal",
            DecodeError::Io { .. } => "io",
        }
    }
}

/// Makes any `Send` reader `Sync` for symphonia's `MediaSource` bound;
/// `Mutex::get_mut` needs no locking because we hold `&mut self`.
struct SyncReader<R>(Mutex<R>);

impl<R: Read> Read for SyncReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.get_mut() {
            Ok(r) => r.read(buf),
            Err(poisoned) => poisoned.into_inner().read(buf),
        }
    }
}

/// A streaming WAV decoder yielding mono `f32` blocks.
///
/// ```
/// use voxcap_dsp::decode::{DecodeOptions, WavDecoder};
/// let wav = voxcap_dsp::synth::wav_pcm16_mono(&[0.5, -0.25], 8000);
/// let mut dec = WavDecoder::new(std::io::Cursor::new(wav), DecodeOptions::default()).unwrap();
/// let mut block = Vec::new();
/// assert_eq!(dec.read_block(&mut block).unwrap(), 2);
/// assert_eq!(block, [0.5, -0.25]);
/// assert_eq!(dec.read_block(&mut block).unwrap(), 0);
/// ```
pub struct WavDecoder {
    info: StreamInfo,
    options: DecodeOptions,
    source: MediaSourceStream,
    bytes: Vec<u8>,
    data_read: u64,
    data_offset: u64,
    riff_end: Option<u64>,
    frames: u64,
    done: bool,
    truncation: Option<Truncation>,
}

impl std::fmt::Debug for WavDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavDecoder")
            .field("info", &self.info)
            .field("frames", &self.frames)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl WavDecoder {
    /// Reads and validates the header; the reader is then positioned at the
    /// first audio byte. Fails with a [`DecodeError`] naming the cause.
    pub fn new<R: Read + Send + 'static>(
        reader: R,
        options: DecodeOptions,
    ) -> Result<Self, DecodeError> {
        let mut counted = Counted {
            inner: reader,
            pos: 0,
        };
        let header: WavHeader = riff::parse_header(&mut counted)?;
        let canonical = riff::canonical_header(&header);

        let chained = Cursor::new(canonical).chain(counted.inner);
        let source = ReadOnlySource::new(SyncReader(Mutex::new(chained)));
        let mss = MediaSourceStream::new(Box::new(source), MediaSourceStreamOptions::default());
        let reader = WavReader::try_new(mss, &FormatOptions::default())
            .map_err(|e| DecodeError::Symphonia(e.to_string()))?;
        let params = reader
            .tracks()
            .first()
            .map(|t| t.codec_params.clone())
            .ok_or_else(|| DecodeError::Symphonia("no track".into()))?;
        let sym_channels = params.channels.map(|c| c.count()).unwrap_or(0);
        if params.codec != header.codec.symphonia_type()
            || params.sample_rate != Some(header.sample_rate)
            || sym_channels != usize::from(header.channels)
        {
            return Err(DecodeError::Symphonia(format!(
                "symphonia reads {:?} {:?} Hz {} ch, the pre-parser {} {} Hz {} ch",
                params.codec,
                params.sample_rate,
                sym_channels,
                header.codec,
                header.sample_rate,
                header.channels
            )));
        }
        // WavReader stops right after the canonical `data` chunk header, so
        // the stream is now at the first audio byte.
        let source = Box::new(reader).into_inner();

        let block = usize::from(header.block_align);
        let block_bytes = (BLOCK_BYTES / block).max(1) * block;
        Ok(WavDecoder {
            info: StreamInfo {
                codec: header.codec,
                sample_rate: header.sample_rate,
                channels: header.channels,
                bits: header.bits,
                valid_bits: header.valid_bits,
                block_align: header.block_align,
                extensible: header.extensible,
                data_len: header.data_len,
            },
            options,
            source,
            bytes: vec![0; block_bytes],
            data_read: 0,
            data_offset: header.data_offset,
            riff_end: header.riff_end,
            frames: 0,
            done: false,
            truncation: None,
        })
    }

    /// From now on, reads at most `max` bytes (whole frames, at least one)
    /// per [`WavDecoder::read_block`] instead of [`BLOCK_BYTES`]: for a
    /// stream analysed while it arrives, where a block waits for its last
    /// byte, so a smaller one lets its events out as soon as its audio.
    pub fn limit_block_bytes(&mut self, max: usize) {
        let block = usize::from(self.info.block_align).max(1);
        let n = (max / block).max(1) * block;
        if n < self.bytes.len() {
            self.bytes.truncate(n);
        }
    }

    /// The stream's format.
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// Mono frames decoded so far.
    pub fn frames_decoded(&self) -> u64 {
        self.frames
    }

    /// Set once a lenient decode has met a truncated input.
    pub fn truncation(&self) -> Option<Truncation> {
        self.truncation
    }

    fn fill(&mut self, want: usize) -> Result<usize, DecodeError> {
        let mut n = 0;
        while n < want {
            match self.source.read(&mut self.bytes[n..want]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(DecodeError::Io {
                        offset: self.data_offset + self.data_read + n as u64,
                        source: e,
                    })
                }
            }
        }
        Ok(n)
    }

    fn truncated(&mut self, err: DecodeError, file_len: u64) -> Result<usize, DecodeError> {
        self.done = true;
        if self.options.lenient {
            self.truncation = Some(Truncation {
                data_read: self.data_read,
                data_declared: self.info.data_len,
                file_len,
            });
            Ok(0)
        } else {
            Err(err)
        }
    }

    /// Checks, after complete audio data, that the file is as long as its RIFF
    /// size claims, streaming over any trailing chunks.
    fn check_riff_tail(&mut self) -> Result<usize, DecodeError> {
        self.done = true;
        let Some(riff_end) = self.riff_end else {
            return Ok(0);
        };
        let pos = self.data_offset + self.data_read;
        if riff_end <= pos + RIFF_SLACK {
            return Ok(0);
        }
        let mut left = riff_end - pos;
        while left > 0 {
            let want = left.min(self.bytes.len() as u64) as usize;
            let got = self.fill(want)?;
            left -= got as u64;
            if got < want {
                break;
            }
        }
        if left > RIFF_SLACK {
            let file_len = riff_end - left;
            return self.truncated(DecodeError::RiffTruncated { file_len, riff_end }, file_len);
        }
        Ok(0)
    }

    /// Decodes the next block into `out` (cleared first) and returns the
    /// number of mono frames in it; 0 means the end of the stream.
    pub fn read_block(&mut self, out: &mut Vec<f32>) -> Result<usize, DecodeError> {
        out.clear();
        if self.done {
            return Ok(0);
        }
        let block = usize::from(self.info.block_align);
        let mut want = self.bytes.len();
        if let Some(len) = self.info.data_len {
            let left = len - self.data_read;
            if left < want as u64 {
                want = left as usize;
            }
        }
        let got = self.fill(want)?;
        let whole = got / block * block;
        convert_frames(
            self.info.codec,
            self.info.channels,
            &self.bytes[..whole],
            out,
        );
        self.data_read += got as u64;
        self.frames += (whole / block) as u64;

        if got < want {
            // The input ended before the block did.
            return match self.info.data_len {
                Some(declared) => {
                    let err = DecodeError::Truncated {
                        data_read: self.data_read,
                        declared,
                    };
                    let n = out.len();
                    let end = self.data_offset + self.data_read;
                    self.truncated(err, end).map(|_| n)
                }
                None if got > whole => {
                    let err = DecodeError::PartialFrame {
                        data_read: self.data_read,
                        extra: got - whole,
                        block_align: self.info.block_align,
                    };
                    let n = out.len();
                    let end = self.data_offset + self.data_read;
                    self.truncated(err, end).map(|_| n)
                }
                None => {
                    self.done = true;
                    Ok(out.len())
                }
            };
        }
        if self.info.data_len == Some(self.data_read) {
            // A trailing partial frame inside the declared size is padding.
            let n = out.len();
            return self.check_riff_tail().map(|_| n);
        }
        Ok(out.len())
    }
}

/// Converts whole frames of `bytes` (little-endian samples in `codec`,
/// `channels` interleaved) to mono `f32`, appending to `out`: the decoder's
/// own conversion, public so that samples that arrive without a WAV header
/// (a numpy array, a PCM stream) are scaled, sanitised and downmixed exactly
/// as a file's would be. `bytes` holds whole frames (the decoder only
/// passes whole frames; a trailing partial mono sample is ignored).
pub fn convert_frames(codec: Codec, channels: u16, bytes: &[u8], out: &mut Vec<f32>) {
    let channels = channels.max(1);
    let ch = usize::from(channels);
    let inv = 1.0 / ch as f32;
    match codec {
        Codec::PcmS16Le => {
            const S: f32 = 1.0 / 32768.0;
            let it = bytes
                .chunks_exact(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])));
            downmix(it, ch, inv, S, out);
        }
        Codec::PcmU8 => {
            const S: f32 = 1.0 / 128.0;
            let it = bytes.iter().map(|&b| f32::from(i16::from(b) - 128));
            downmix(it, ch, inv, S, out);
        }
        Codec::PcmS24Le => {
            const S: f32 = 1.0 / 8_388_608.0;
            let it = bytes
                .chunks_exact(3)
                .map(|b| (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as f32);
            downmix(it, ch, inv, S, out);
        }
        Codec::PcmS32Le => {
            const S: f32 = 1.0 / 2_147_483_648.0;
            let it = bytes
                .chunks_exact(4)
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32);
            downmix(it, ch, inv, S, out);
        }
        Codec::PcmF32Le => {
            let it = bytes
                .chunks_exact(4)
                .map(|b| sanitize_float(f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
            downmix(it, ch, inv, 1.0, out);
        }
        Codec::PcmF64Le => {
            let it = bytes.chunks_exact(8).map(|b| {
                sanitize_f64(f64::from_le_bytes([
                    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                ]))
            });
            downmix(it, ch, inv, 1.0, out);
        }
        Codec::MuLaw => {
            let t = &g711::MULAW_TO_F32;
            downmix(bytes.iter().map(|&b| t[usize::from(b)]), ch, inv, 1.0, out);
        }
        Codec::ALaw => {
            let t = &g711::ALAW_TO_F32;
            downmix(bytes.iter().map(|&b| t[usize::from(b)]), ch, inv, 1.0, out);
        }
    }
}

/// Scales interleaved samples and averages each frame's channels.
#[inline(always)]
fn downmix(
    mut samples: impl Iterator<Item = f32>,
    ch: usize,
    inv: f32,
    scale: f32,
    out: &mut Vec<f32>,
) {
    if ch == 1 {
        // Mono is the hot path: a straight map the compiler vectorises.
        out.extend(samples.map(|v| v * scale));
        return;
    }
    loop {
        let Some(first) = samples.next() else { return };
        let mut sum = first * scale;
        for _ in 1..ch {
            sum += samples.next().unwrap_or(0.0) * scale;
        }
        out.push(sum * inv);
    }
}

/// Decodes a whole WAV held in memory, for tests and small inputs.
pub fn decode_all(bytes: &[u8]) -> Result<(StreamInfo, Vec<f32>), DecodeError> {
    decode_reader(Cursor::new(bytes.to_vec()), DecodeOptions::default())
}

/// Decodes a whole WAV from `reader` into mono samples at the file's rate,
/// for callers that want the samples themselves (to plot them, or feed
/// another model); the memory is that of the samples (4 bytes each).
pub fn decode_reader<R: Read + Send + 'static>(
    reader: R,
    options: DecodeOptions,
) -> Result<(StreamInfo, Vec<f32>), DecodeError> {
    let mut dec = WavDecoder::new(reader, options)?;
    let mut all = Vec::new();
    let mut block = Vec::new();
    while dec.read_block(&mut block)? > 0 {
        all.extend_from_slice(&block);
    }
    Ok((dec.info().clone(), all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_tables_hit_the_extremes() {
        assert_eq!(g711::MULAW_TO_F32[0x00], -32124.0 / 32768.0);
        assert_eq!(g711::MULAW_TO_F32[0x80], 32124.0 / 32768.0);
        assert_eq!(g711::MULAW_TO_F32[0xFF], 0.0);
        assert_eq!(g711::ALAW_TO_F32[0xD5], 8.0 / 32768.0);
        assert_eq!(g711::ALAW_TO_F32[0x2A], -32256.0 / 32768.0);
    }

    fn float_wav(bits: u16, data: Vec<u8>) -> Vec<u8> {
        let spec = crate::synth::WavSpec {
            format_tag: 3,
            channels: 1,
            sample_rate: 8000,
            bits,
            extensible: false,
        };
        crate::synth::wav_file(&spec, &data)
    }

    #[test]
    fn float_samples_are_clamped_and_non_finite_ones_zeroed() {
        let f32s = [
            1e30,
            -1e30,
            f32::MAX,
            f32::NAN,
            f32::INFINITY,
            0.5,
            -17.0,
            f32::from_bits(0x007F_FFFF),
            2.0,
        ];
        let data = f32s.iter().flat_map(|v| v.to_le_bytes()).collect();
        let (_, s) = decode_all(&float_wav(32, data)).unwrap();
        assert_eq!(s, [16.0, -16.0, 16.0, 0.0, 0.0, 0.5, -16.0, 0.0, 2.0]);

        let f64s = [1e300, -1e30, 1e-310, f64::NAN, f64::NEG_INFINITY, 0.25];
        let data = f64s.iter().flat_map(|v| v.to_le_bytes()).collect();
        let (_, s) = decode_all(&float_wav(64, data)).unwrap();
        assert_eq!(s, [16.0, -16.0, 0.0, 0.0, 0.0, 0.25]);
    }

    #[test]
    fn pipe_wav_with_zero_size_reads_to_eof() {
        let mut w = crate::synth::wav_pcm16_mono(&[0.25; 3000], 16_000);
        w[40..44].copy_from_slice(&0u32.to_le_bytes());
        w[4..8].copy_from_slice(&0u32.to_le_bytes());
        let (info, s) = decode_all(&w).unwrap();
        assert_eq!(info.data_len, None);
        assert_eq!(s.len(), 3000);
    }
}
