//! Committed fixtures: they match the generator, and they decode bit-exactly
//! to values computed independently (hound for PCM, the G.711 formulas for
//! µ-law and A-law).

use std::path::Path;

use voxcap_dsp::decode::{decode_all, Codec, DecodeOptions, WavDecoder};

use super::corpus::{clips, malformed, testdata};

fn check_or_write(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    if std::env::var_os("VOXCAP_WRITE_FIXTURES").is_some() {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(&path, bytes).unwrap();
        return;
    }
    let committed = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/make-fixtures", path.display()));
    assert!(
        committed == bytes,
        "{} differs from its generator; run scripts/make-fixtures",
        path.display()
    );
}

#[test]
fn fixtures_match_generator() {
    let root = testdata();
    for (name, bytes) in clips() {
        check_or_write(&root.join("clips"), name, &bytes);
    }
    for (name, bytes, _, _) in malformed() {
        check_or_write(&root.join("malformed"), name, &bytes);
    }
    let total: u64 = ["clips", "malformed"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).unwrap())
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        total < 1 << 20,
        "testdata is {total} bytes; keep it under 1 MiB"
    );
}

fn committed(name: &str) -> Vec<u8> {
    std::fs::read(testdata().join("clips").join(name)).unwrap()
}

/// Rewrites pipe-style sizes to the real ones, so hound can read the file.
fn with_real_sizes(mut b: Vec<u8>) -> Vec<u8> {
    let len = b.len() as u32;
    b[4..8].copy_from_slice(&(len - 8).to_le_bytes());
    b[40..44].copy_from_slice(&(len - 44).to_le_bytes());
    b
}

/// The reference decoding of a PCM file: hound's integers (or floats),
/// scaled to full scale 1.0 and averaged over channels.
fn hound_reference(bytes: &[u8]) -> Vec<f32> {
    let mut r = hound::WavReader::new(std::io::Cursor::new(bytes)).expect("hound reads it");
    let spec = r.spec();
    let ch = usize::from(spec.channels);
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().map(|s| s.unwrap()).collect(),
        hound::SampleFormat::Int => {
            let full = (1u64 << (spec.bits_per_sample - 1)) as f32;
            r.samples::<i32>()
                .map(|s| s.unwrap() as f32 / full)
                .collect()
        }
    };
    samples
        .chunks_exact(ch)
        .map(|f| f.iter().fold(0.0f32, |a, &b| a + b) * (1.0 / ch as f32))
        .collect()
}

/// The data chunk's bytes, found by walking the chunk list.
fn data_bytes(b: &[u8]) -> &[u8] {
    let mut at = 12;
    loop {
        let len = u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
        if &b[at..at + 4] == b"data" {
            // Pipe-style sizes overstate the data; it runs to the end.
            return &b[at + 8..(at + 8 + len).min(b.len())];
        }
        at += 8 + len + len % 2;
    }
}

/// G.711 µ-law expansion written from the standard's table 2 form:
/// magnitude = (2q + 33) * 2^s - 33 in 14-bit units, times 4 for 16 bits.
fn mulaw_reference(code: u8) -> f32 {
    let c = !code;
    let s = i32::from((c >> 4) & 7);
    let q = i32::from(c & 15);
    let mag = ((2 * q + 33) * (1 << s) - 33) * 4;
    let v = if c & 0x80 != 0 { -mag } else { mag };
    v as f32 / 32768.0
}

/// G.711 A-law expansion from the standard's table 1 form: magnitude
/// 2q + 1 in segment 0, (2q + 33) * 2^(s-1) above, in 13-bit units, times 8.
fn alaw_reference(code: u8) -> f32 {
    let c = code ^ 0x55;
    let s = i32::from((c >> 4) & 7);
    let q = i32::from(c & 15);
    let mag = if s == 0 {
        2 * q + 1
    } else {
        (2 * q + 33) * (1 << (s - 1))
    } * 8;
    let v = if c & 0x80 != 0 { mag } else { -mag };
    v as f32 / 32768.0
}

#[test]
fn pcm_fixtures_decode_bit_exactly() {
    let mut checked = 0;
    for (name, _) in clips() {
        if name.contains("mulaw") || name.contains("alaw") {
            continue;
        }
        let bytes = committed(name);
        let reference_bytes = if name.starts_with("pipe_") {
            with_real_sizes(bytes.clone())
        } else if name.contains("listchunk") {
            // hound 3.5 ignores the pad byte after an odd-sized chunk, so give
            // it the same audio without the metadata chunks.
            let spec = voxcap_dsp::synth::WavSpec {
                format_tag: 1,
                channels: 1,
                sample_rate: 16_000,
                bits: 16,
                extensible: false,
            };
            voxcap_dsp::synth::wav_file(&spec, data_bytes(&bytes))
        } else {
            bytes.clone()
        };
        let want = hound_reference(&reference_bytes);
        let (_, got) = decode_all(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got.len(), want.len(), "{name}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(g.to_bits() == w.to_bits(), "{name} sample {i}: {g} != {w}");
        }
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} PCM fixtures checked");
}

#[test]
fn g711_fixtures_decode_bit_exactly() {
    let mut checked = 0;
    for (name, _) in clips() {
        let reference: fn(u8) -> f32 = if name.contains("mulaw") {
            mulaw_reference
        } else if name.contains("alaw") {
            alaw_reference
        } else {
            continue;
        };
        let bytes = committed(name);
        let want: Vec<f32> = data_bytes(&bytes).iter().map(|&c| reference(c)).collect();
        let (_, got) = decode_all(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}");
        checked += 1;
    }
    assert_eq!(checked, 7);
}

#[test]
fn g711_reference_matches_published_values() {
    // Spot values from the G.711 tables (16-bit linear).
    for (code, linear) in [
        (0x00, -32124),
        (0x80, 32124),
        (0xFF, 0),
        (0x7F, 0),
        (0xFE, 8),
        (0x7E, -8),
    ] {
        assert_eq!(
            mulaw_reference(code),
            linear as f32 / 32768.0,
            "µ-law {code:#04x}"
        );
    }
    for (code, linear) in [(0xD5, 8), (0x55, -8), (0xAA, 32256), (0x2A, -32256)] {
        assert_eq!(
            alaw_reference(code),
            linear as f32 / 32768.0,
            "A-law {code:#04x}"
        );
    }
}

#[test]
fn g711_encoders_round_trip_every_code() {
    for code in 0..=255u8 {
        let m = (mulaw_reference(code) * 32768.0) as i16;
        // 0x7F is µ-law's negative zero; it re-encodes as positive zero.
        let expect = if code == 0x7F { 0xFF } else { code };
        assert_eq!(
            voxcap_dsp::synth::linear_to_mulaw(m),
            expect,
            "µ-law {code:#04x}"
        );
        let a = (alaw_reference(code) * 32768.0) as i16;
        assert_eq!(
            voxcap_dsp::synth::linear_to_alaw(a),
            code,
            "A-law {code:#04x}"
        );
    }
}

#[test]
fn stream_info_describes_each_fixture() {
    // (name, codec, rate, channels, bits, frames)
    let table = [
        (
            "pcm_s16le_16000_mono_tone1k.wav",
            Codec::PcmS16Le,
            16_000,
            1,
            16,
            8000,
        ),
        (
            "pcm_u8_8000_mono_tone440.wav",
            Codec::PcmU8,
            8000,
            1,
            8,
            2000,
        ),
        (
            "pcm_s24le_48000_mono_tone1k.wav",
            Codec::PcmS24Le,
            48_000,
            1,
            24,
            9600,
        ),
        (
            "pcm_s32le_44100_mono_tone1k.wav",
            Codec::PcmS32Le,
            44_100,
            1,
            32,
            8820,
        ),
        (
            "float32_48000_stereo_tone1k_pinknoise.wav",
            Codec::PcmF32Le,
            48_000,
            2,
            32,
            7200,
        ),
        (
            "extensible_pcm_s16le_22050_stereo_tone1k.wav",
            Codec::PcmS16Le,
            22_050,
            2,
            16,
            5513,
        ),
        (
            "extensible_mulaw_8000_mono_tone1k.wav",
            Codec::MuLaw,
            8000,
            1,
            8,
            2000,
        ),
        (
            "mulaw_8000_mono_fmt16_tone1k.wav",
            Codec::MuLaw,
            8000,
            1,
            8,
            800,
        ),
        ("alaw_8000_mono_tone1k.wav", Codec::ALaw, 8000, 1, 8, 4000),
        (
            "pipe_pcm_s16le_16000_mono_datasize0_tone1k.wav",
            Codec::PcmS16Le,
            16_000,
            1,
            16,
            4000,
        ),
        (
            "pipe_pcm_s16le_8000_mono_datasizeffffffff_tone1k.wav",
            Codec::PcmS16Le,
            8000,
            1,
            16,
            2000,
        ),
        (
            "pcm_s16le_16000_mono_listchunk_tone1k.wav",
            Codec::PcmS16Le,
            16_000,
            1,
            16,
            1600,
        ),
    ];
    for (name, codec, rate, channels, bits, frames) in table {
        let (info, samples) = decode_all(&committed(name)).unwrap();
        assert_eq!(
            (
                info.codec,
                info.sample_rate,
                info.channels,
                info.bits,
                samples.len()
            ),
            (codec, rate, channels, bits, frames),
            "{name}"
        );
    }
}

#[test]
fn decoding_is_streaming_in_bounded_blocks() {
    // A 10 s pipe-style stream arrives in blocks no larger than BLOCK_BYTES.
    let x = voxcap_dsp::synth::white_noise(4, -20.0, 160_000);
    let mut wav = voxcap_dsp::synth::wav_pcm16_mono(&x, 16_000);
    wav[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut dec = WavDecoder::new(std::io::Cursor::new(wav), DecodeOptions::default()).unwrap();
    let mut block = Vec::new();
    let mut total = 0;
    loop {
        let n = dec.read_block(&mut block).unwrap();
        if n == 0 {
            break;
        }
        assert!(n * 2 <= voxcap_dsp::decode::BLOCK_BYTES);
        total += n;
    }
    assert_eq!(total, 160_000);
    assert_eq!(dec.frames_decoded(), 160_000);
}

/// A reader that hands out a few bytes at a time, like a slow network body.
struct Trickle {
    bytes: Vec<u8>,
    at: usize,
    step: usize,
}

impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.step = self.step % 7 + 1;
        let n = self.step.min(buf.len()).min(self.bytes.len() - self.at);
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn short_reads_decode_the_same_as_whole_reads() {
    for (name, bytes) in clips() {
        let (_, whole) = decode_all(&bytes).unwrap();
        let trickle = Trickle {
            bytes: bytes.clone(),
            at: 0,
            step: 0,
        };
        let mut dec = WavDecoder::new(trickle, DecodeOptions::default()).unwrap();
        let mut all = Vec::new();
        let mut block = Vec::new();
        while dec.read_block(&mut block).unwrap() > 0 {
            all.extend_from_slice(&block);
        }
        assert_eq!(all, whole, "{name}");
    }
}
