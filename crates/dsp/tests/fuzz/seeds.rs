//! The fuzzer's seed WAVs, one per format the decoder reads, generated in
//! code, and the layout of each (where its size fields, `fmt ` body and
//! audio data are) that the structure-aware mutations aim at.

use voxcap_dsp::synth::{self, WavSpec};

/// A valid WAV to mutate, with its layout.
pub(crate) struct Seed {
    /// A name that describes the file, used for saved findings.
    pub name: &'static str,
    /// The file.
    pub bytes: Vec<u8>,
    /// Where its fields are.
    pub layout: Layout,
}

/// Byte offsets into a seed.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// Every chunk-size field: the RIFF size first, then each chunk's.
    pub size_fields: Vec<usize>,
    /// Start of the `fmt ` chunk body.
    pub fmt: usize,
    /// Length of the `fmt ` chunk body.
    pub fmt_len: usize,
    /// Start of the audio data.
    pub data: usize,
    /// Bytes of audio data.
    pub data_len: usize,
    /// Offset of the `data` chunk's size field.
    pub data_size_field: usize,
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Walks the chunks of a valid WAV.
fn layout(b: &[u8]) -> Layout {
    let mut l = Layout {
        size_fields: vec![4],
        fmt: 0,
        fmt_len: 0,
        data: 0,
        data_len: 0,
        data_size_field: 0,
    };
    let mut at = 12;
    while at + 8 <= b.len() {
        let len = u32_at(b, at + 4) as usize;
        l.size_fields.push(at + 4);
        match &b[at..at + 4] {
            b"fmt " => (l.fmt, l.fmt_len) = (at + 8, len),
            b"data" => {
                l.data = at + 8;
                l.data_size_field = at + 4;
                // Pipe-style sizes: the data runs to the end.
                l.data_len = if len == 0 || len == u32::MAX as usize {
                    b.len() - l.data
                } else {
                    len
                };
                return l;
            }
            _ => {}
        }
        at += 8 + len + len % 2;
    }
    panic!("seed without a data chunk");
}

fn spec(format_tag: u16, channels: u16, sample_rate: u32, bits: u16) -> WavSpec {
    WavSpec {
        format_tag,
        channels,
        sample_rate,
        bits,
        extensible: false,
    }
}

/// 50 ms of a 1 kHz tone plus faint noise, interleaved for `channels`.
fn signal(channels: u16, sample_rate: u32) -> Vec<f32> {
    let n = synth::samples_for(0.05, sample_rate);
    let tone = synth::sine(1000.0, -6.0, n, sample_rate, 0.0);
    let noise = synth::white_noise(u64::from(sample_rate), -40.0, n);
    tone.iter()
        .zip(&noise)
        .flat_map(|(t, e)| (0..channels).map(move |c| if c == 0 { t + e } else { *e }))
        .collect()
}

fn encode(format_tag: u16, bits: u16, x: &[f32]) -> Vec<u8> {
    let int = |v: f32, full: f64| (f64::from(v) * full).round().clamp(-full, full - 1.0) as i64;
    let mut out = Vec::new();
    for &v in x {
        match (format_tag, bits) {
            (1, 8) => out.push((int(v, 128.0) + 128) as u8),
            (1, 16) => out.extend_from_slice(&(int(v, 32768.0) as i16).to_le_bytes()),
            (1, 24) => out.extend_from_slice(&(int(v, 8_388_608.0) as i32).to_le_bytes()[..3]),
            (1, 32) => out.extend_from_slice(&(int(v, 2_147_483_648.0) as i32).to_le_bytes()),
            (3, 32) => out.extend_from_slice(&v.to_le_bytes()),
            (3, 64) => out.extend_from_slice(&f64::from(v).to_le_bytes()),
            (6, 8) => out.push(synth::linear_to_alaw(int(v, 32768.0) as i16)),
            (7, 8) => out.push(synth::linear_to_mulaw(int(v, 32768.0) as i16)),
            other => panic!("no encoder for {other:?}"),
        }
    }
    out
}

fn seed(name: &'static str, s: WavSpec) -> Seed {
    let data = encode(s.format_tag, s.bits, &signal(s.channels, s.sample_rate));
    from_bytes(name, synth::wav_file(&s, &data))
}

fn from_bytes(name: &'static str, bytes: Vec<u8>) -> Seed {
    Seed {
        name,
        layout: layout(&bytes),
        bytes,
    }
}

/// Every seed: PCM u8/s16/s24/s32, f32, f64, extensible, µ-law, A-law,
/// stereo, a pipe-length WAV and one with metadata chunks.
pub(crate) fn seeds() -> Vec<Seed> {
    let mut v = vec![
        seed("pcm_u8_8000_mono", spec(1, 1, 8000, 8)),
        seed("pcm_s16le_8000_mono", spec(1, 1, 8000, 16)),
        seed("pcm_s16le_44100_stereo", spec(1, 2, 44_100, 16)),
        seed("pcm_s24le_48000_mono", spec(1, 1, 48_000, 24)),
        seed("pcm_s32le_16000_mono", spec(1, 1, 16_000, 32)),
        seed("pcm_f32le_16000_mono", spec(3, 1, 16_000, 32)),
        seed("pcm_f32le_48000_stereo", spec(3, 2, 48_000, 32)),
        seed("pcm_f64le_22050_mono", spec(3, 1, 22_050, 64)),
        seed(
            "extensible_pcm_s16le_8000_mono",
            WavSpec {
                extensible: true,
                ..spec(1, 1, 8000, 16)
            },
        ),
        seed(
            "extensible_f32_48000_stereo",
            WavSpec {
                extensible: true,
                ..spec(3, 2, 48_000, 32)
            },
        ),
        seed("mulaw_8000_mono", spec(7, 1, 8000, 8)),
        seed("alaw_8000_mono", spec(6, 1, 8000, 8)),
    ];

    // Written to a pipe: RIFF and data sizes 0xFFFFFFFF, decoded to EOF.
    let mut pipe = seed("x", spec(1, 1, 16_000, 16)).bytes;
    pipe[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    pipe[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
    v.push(from_bytes("pipe_pcm_s16le_16000_mono", pipe));

    // Metadata chunks before the data: an odd-sized junk chunk (with its pad
    // byte) and a LIST/INFO chunk, whose sizes the chunk-size edits target.
    let plain = seed("x", spec(1, 1, 8000, 16)).bytes;
    let mut meta = plain[..36].to_vec();
    meta.extend_from_slice(b"junk\x03\x00\x00\x00abc\x00");
    meta.extend_from_slice(b"LIST\x10\x00\x00\x00INFOINAM\x04\x00\x00\x00name");
    meta.extend_from_slice(&plain[36..]);
    let riff = (meta.len() - 8) as u32;
    meta[4..8].copy_from_slice(&riff.to_le_bytes());
    v.push(from_bytes("pcm_s16le_8000_mono_listchunk", meta));
    v
}
