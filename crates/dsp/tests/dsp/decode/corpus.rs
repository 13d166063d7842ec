//! The fixture corpus, defined in code: `testdata/clips/` and
//! `testdata/malformed/` are exactly what these functions produce.
//!
//! Regenerate with `scripts/make-fixtures` (which sets
//! `VOXCAP_WRITE_FIXTURES=1` and runs the `fixtures_match_generator` test).

use std::path::PathBuf;

use voxcap_dsp::synth::{self, linear_to_alaw, linear_to_mulaw, to_i16, wav_file, WavSpec};

/// The repository's `testdata/` directory.
pub(super) fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
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

fn ext(s: WavSpec) -> WavSpec {
    WavSpec {
        extensible: true,
        ..s
    }
}

fn interleave(channels: &[Vec<f32>]) -> Vec<f32> {
    let n = channels[0].len();
    (0..n)
        .flat_map(|i| channels.iter().map(move |c| c[i]))
        .collect()
}

/// Encodes `x` (interleaved, full scale 1.0) for `spec`'s sample format.
pub(super) fn encode(spec: &WavSpec, x: &[f32]) -> Vec<u8> {
    match (spec.format_tag, spec.bits) {
        (1, 8) => x
            .iter()
            .map(|&v| ((v * 128.0).round().clamp(-128.0, 127.0) as i16 + 128) as u8)
            .collect(),
        (1, 16) => to_i16(x).iter().flat_map(|s| s.to_le_bytes()).collect(),
        (1, 24) => x
            .iter()
            .flat_map(|&v| {
                let s = (f64::from(v) * 8_388_608.0)
                    .round()
                    .clamp(-8_388_608.0, 8_388_607.0) as i32;
                let b = s.to_le_bytes();
                [b[0], b[1], b[2]]
            })
            .collect(),
        (1, 32) => x
            .iter()
            .map(|&v| {
                (f64::from(v) * 2_147_483_648.0)
                    .round()
                    .clamp(-2_147_483_648.0, 2_147_483_647.0) as i32
            })
            .flat_map(|s| s.to_le_bytes())
            .collect(),
        (3, 32) => x.iter().flat_map(|v| v.to_le_bytes()).collect(),
        (7, 8) => to_i16(x).iter().map(|&s| linear_to_mulaw(s)).collect(),
        (6, 8) => to_i16(x).iter().map(|&s| linear_to_alaw(s)).collect(),
        other => panic!("no encoder for {other:?}"),
    }
}

fn tone(freq: f64, dbfs: f32, seconds: f64, rate: u32) -> Vec<f32> {
    synth::sine(freq, dbfs, synth::samples_for(seconds, rate), rate, 0.0)
}

fn clip(spec: WavSpec, x: &[f32]) -> Vec<u8> {
    wav_file(&spec, &encode(&spec, x))
}

/// Every clip: (file name, bytes). Names say codec, rate, channels, content.
pub(super) fn clips() -> Vec<(&'static str, Vec<u8>)> {
    let mut v: Vec<(&'static str, Vec<u8>)> = Vec::new();
    v.push((
        "pcm_s16le_16000_mono_tone1k.wav",
        clip(spec(1, 1, 16_000, 16), &tone(1000.0, -6.0, 0.5, 16_000)),
    ));
    v.push((
        "pcm_s16le_8000_mono_silence.wav",
        clip(spec(1, 1, 8000, 16), &synth::silence(4000)),
    ));
    let mut hot = tone(400.0, 6.0, 0.25, 8000);
    hot.iter_mut().for_each(|s| *s = s.clamp(-1.0, 1.0));
    v.push((
        "pcm_s16le_8000_mono_clipped.wav",
        clip(spec(1, 1, 8000, 16), &hot),
    ));
    let mut dtmf = synth::silence(800);
    for d in ['1', '2', '3', '#'] {
        let press = synth::dtmf_press(&synth::DtmfPress::new(d, 0.08), 8000);
        let at = dtmf.len();
        synth::overlay(&mut dtmf, &press, at);
        let at = dtmf.len();
        synth::overlay(&mut dtmf, &synth::silence(480), at);
    }
    v.push((
        "pcm_s16le_8000_mono_dtmf_123hash.wav",
        clip(spec(1, 1, 8000, 16), &dtmf),
    ));
    v.push((
        "pcm_s16le_11025_mono_whitenoise.wav",
        clip(spec(1, 1, 11_025, 16), &synth::white_noise(11, -20.0, 2756)),
    ));
    v.push((
        "pcm_u8_8000_mono_tone440.wav",
        clip(spec(1, 1, 8000, 8), &tone(440.0, -3.0, 0.25, 8000)),
    ));
    v.push((
        "pcm_s24le_48000_mono_tone1k.wav",
        clip(spec(1, 1, 48_000, 24), &tone(1000.0, -12.0, 0.2, 48_000)),
    ));
    v.push((
        "pcm_s32le_44100_mono_tone1k.wav",
        clip(spec(1, 1, 44_100, 32), &tone(1000.0, -12.0, 0.2, 44_100)),
    ));
    let n = synth::samples_for(0.15, 48_000);
    let stereo = interleave(&[
        synth::sine(1000.0, -6.0, n, 48_000, 0.0),
        synth::pink_noise(5, -20.0, n),
    ]);
    v.push((
        "float32_48000_stereo_tone1k_pinknoise.wav",
        clip(spec(3, 2, 48_000, 32), &stereo),
    ));
    let n = synth::samples_for(0.25, 22_050);
    let stereo = interleave(&[
        synth::sine(1000.0, -6.0, n, 22_050, 0.0),
        synth::sine(1000.0, -6.0, n, 22_050, 1.0),
    ]);
    v.push((
        "extensible_pcm_s16le_22050_stereo_tone1k.wav",
        clip(ext(spec(1, 2, 22_050, 16)), &stereo),
    ));
    v.push((
        "extensible_float32_16000_mono_tone1k.wav",
        clip(
            ext(spec(3, 1, 16_000, 32)),
            &tone(1000.0, -6.0, 0.25, 16_000),
        ),
    ));
    v.push((
        "extensible_mulaw_8000_mono_tone1k.wav",
        clip(ext(spec(7, 1, 8000, 8)), &tone(1000.0, -6.0, 0.25, 8000)),
    ));
    v.push((
        "mulaw_8000_mono_tone1k.wav",
        clip(spec(7, 1, 8000, 8), &tone(1000.0, -6.0, 0.5, 8000)),
    ));
    v.push((
        "alaw_8000_mono_tone1k.wav",
        clip(spec(6, 1, 8000, 8), &tone(1000.0, -6.0, 0.5, 8000)),
    ));
    let all_codes: Vec<u8> = (0..=255u8).cycle().take(2048).collect();
    v.push((
        "mulaw_8000_mono_allcodes.wav",
        wav_file(&spec(7, 1, 8000, 8), &all_codes),
    ));
    v.push((
        "alaw_8000_mono_allcodes.wav",
        wav_file(&spec(6, 1, 8000, 8), &all_codes),
    ));
    // A 16-byte fmt chunk for µ-law (no cbSize), as some telephony systems
    // write it; symphonia alone rejects it.
    let mut fmt16 = clip(spec(7, 1, 8000, 8), &tone(1000.0, -6.0, 0.1, 8000));
    fmt16.drain(36..38);
    fmt16[16..20].copy_from_slice(&16u32.to_le_bytes());
    let riff = (fmt16.len() - 8) as u32;
    fmt16[4..8].copy_from_slice(&riff.to_le_bytes());
    v.push(("mulaw_8000_mono_fmt16_tone1k.wav", fmt16));
    // Pipe-style WAVs: sizes unknown when the header was written.
    let mut pipe0 = clip(spec(1, 1, 16_000, 16), &tone(1000.0, -6.0, 0.25, 16_000));
    pipe0[4..8].copy_from_slice(&0u32.to_le_bytes());
    pipe0[40..44].copy_from_slice(&0u32.to_le_bytes());
    v.push(("pipe_pcm_s16le_16000_mono_datasize0_tone1k.wav", pipe0));
    let mut pipe_ff = clip(spec(1, 1, 8000, 16), &tone(1000.0, -6.0, 0.25, 8000));
    pipe_ff[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    pipe_ff[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
    v.push((
        "pipe_pcm_s16le_8000_mono_datasizeffffffff_tone1k.wav",
        pipe_ff,
    ));
    // sox writing µ-law to a pipe: 18-byte fmt, a fact chunk, and its
    // placeholder sizes (data 0x7FFFF000), byte for byte as sox 14.4 does.
    let mulaw_data = encode(&spec(7, 1, 8000, 8), &tone(1000.0, -6.0, 0.25, 8000));
    let mut sox = b"RIFF".to_vec();
    sox.extend_from_slice(&0x7FFF_F032u32.to_le_bytes());
    sox.extend_from_slice(b"WAVEfmt ");
    sox.extend_from_slice(&18u32.to_le_bytes());
    sox.extend_from_slice(&spec(7, 1, 8000, 8).fmt_body());
    sox.extend_from_slice(b"fact");
    sox.extend_from_slice(&4u32.to_le_bytes());
    sox.extend_from_slice(&0x7FFF_F000u32.to_le_bytes());
    sox.extend_from_slice(b"data");
    sox.extend_from_slice(&0x7FFF_F000u32.to_le_bytes());
    sox.extend_from_slice(&mulaw_data);
    v.push(("pipe_sox_mulaw_8000_mono_datasize7ffff000_tone1k.wav", sox));
    // Metadata chunks before the data: an odd-sized one (pad byte) and LIST/INFO.
    let body = encode(&spec(1, 1, 16_000, 16), &tone(1000.0, -6.0, 0.1, 16_000));
    let mut meta = Vec::new();
    meta.extend_from_slice(b"WAVEfmt ");
    let fmt = spec(1, 1, 16_000, 16).fmt_body();
    meta.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
    meta.extend_from_slice(&fmt);
    meta.extend_from_slice(b"junk");
    meta.extend_from_slice(&3u32.to_le_bytes());
    meta.extend_from_slice(b"abc\0");
    meta.extend_from_slice(b"LIST");
    meta.extend_from_slice(&16u32.to_le_bytes());
    meta.extend_from_slice(b"INFOINAM");
    meta.extend_from_slice(&4u32.to_le_bytes());
    meta.extend_from_slice(b"tone");
    meta.extend_from_slice(b"data");
    meta.extend_from_slice(&(body.len() as u32).to_le_bytes());
    meta.extend_from_slice(&body);
    let mut with_meta = b"RIFF".to_vec();
    with_meta.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    with_meta.extend_from_slice(&meta);
    v.push(("pcm_s16le_16000_mono_listchunk_tone1k.wav", with_meta));
    v
}

fn le32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn le16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

/// Every malformed input: (file name, bytes, expected error kind, a phrase
/// the message must contain).
pub(super) fn malformed() -> Vec<(&'static str, Vec<u8>, &'static str, &'static str)> {
    let base = clip(spec(1, 1, 8000, 16), &tone(1000.0, -6.0, 0.05, 8000));
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = base.clone();
        f(&mut b);
        b
    };
    let mut rng = synth::Rng::new(0xBAD);
    let random: Vec<u8> = (0..4096).map(|_| rng.next_u64() as u8).collect();
    // An ID3v2 tag then MPEG-1 layer III frame headers (0xFFFB), as an MP3
    // renamed to .wav starts.
    let mut mp3 = b"ID3\x04\x00\x00\x00\x00\x00\x00".to_vec();
    for _ in 0..4 {
        mp3.extend_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
        mp3.extend_from_slice(&[0u8; 413]);
    }
    let mut bare_mp3 = Vec::new();
    for _ in 0..4 {
        bare_mp3.extend_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
        bare_mp3.extend_from_slice(&[0u8; 413]);
    }
    let mut missing_data = base[..36].to_vec();
    le32(&mut missing_data, 4, 28 + 12);
    missing_data.extend_from_slice(b"LIST\x04\x00\x00\x00INFO");
    let mut data_first = b"RIFF\x00\x00\x00\x00WAVEdata\x04\x00\x00\x00\x00\x00\x00\x00".to_vec();
    le32(&mut data_first, 4, 20);
    let mut huge_list = base[..36].to_vec();
    huge_list.extend_from_slice(b"LIST");
    huge_list.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    huge_list.extend_from_slice(b"INFO");
    let mut pipe_mid_frame = base.clone();
    le32(&mut pipe_mid_frame, 4, u32::MAX);
    le32(&mut pipe_mid_frame, 40, u32::MAX);
    pipe_mid_frame.pop();
    let mut ext_unknown = clip(ext(spec(1, 1, 8000, 16)), &[0.0; 16]);
    ext_unknown[50] ^= 0xFF;
    let mut ext_short = base.clone();
    le16(&mut ext_short, 20, 0xFFFE);

    vec![
        ("empty.wav", Vec::new(), "empty", "empty input"),
        (
            "truncated_header_10_bytes.wav",
            base[..10].to_vec(),
            "header_truncated",
            "RIFF header",
        ),
        (
            "truncated_header_in_fmt.wav",
            base[..30].to_vec(),
            "header_truncated",
            "fmt chunk",
        ),
        (
            "truncated_header_in_data_chunk_header.wav",
            base[..40].to_vec(),
            "header_truncated",
            "chunk header",
        ),
        (
            "truncated_data.wav",
            base[..base.len() / 2].to_vec(),
            "truncated",
            "data stopped at byte",
        ),
        (
            "riff_size_larger_than_file.wav",
            with(&|b| le32(b, 4, 1 << 20)),
            "truncated",
            "RIFF header claims",
        ),
        (
            "data_size_ffffffff_ends_mid_frame.wav",
            pipe_mid_frame,
            "truncated",
            "into a 2-byte frame",
        ),
        (
            "data_size_larger_than_file.wav",
            with(&|b| le32(b, 40, 1_000_000)),
            "truncated",
            "of 1000000",
        ),
        (
            "fmt_channels_65535.wav",
            with(&|b| le16(b, 22, 65535)),
            "bad_format",
            "65535 channels",
        ),
        (
            "fmt_channels_0.wav",
            with(&|b| le16(b, 22, 0)),
            "bad_format",
            "0 channels",
        ),
        (
            "fmt_sample_rate_0.wav",
            with(&|b| le32(b, 24, 0)),
            "bad_format",
            "sample rate 0",
        ),
        (
            "fmt_sample_rate_4000000000.wav",
            with(&|b| le32(b, 24, 4_000_000_000)),
            "bad_format",
            "sample rate 4000000000",
        ),
        (
            "fmt_bits_per_sample_0.wav",
            with(&|b| le16(b, 34, 0)),
            "bad_format",
            "bits per sample 0",
        ),
        (
            "fmt_bits_per_sample_12.wav",
            with(&|b| le16(b, 34, 12)),
            "unsupported",
            "12 bits",
        ),
        (
            "fmt_block_align_mismatch.wav",
            with(&|b| le16(b, 32, 3)),
            "bad_format",
            "block_align 3",
        ),
        (
            "fmt_size_ffffffff.wav",
            with(&|b| le32(b, 16, u32::MAX)),
            "bad_format",
            "fmt chunk claims 4294967295 bytes",
        ),
        (
            "fmt_size_8.wav",
            with(&|b| le32(b, 16, 8)),
            "bad_format",
            "fmt chunk is 8 bytes",
        ),
        (
            "fmt_format_adpcm.wav",
            with(&|b| le16(b, 20, 2)),
            "unsupported",
            "ADPCM",
        ),
        (
            "fmt_format_mp3.wav",
            with(&|b| le16(b, 20, 0x55)),
            "unsupported",
            "MPEG layer 3",
        ),
        (
            "fmt_extensible_in_16_bytes.wav",
            ext_short,
            "bad_format",
            "40-byte fmt chunk",
        ),
        (
            "fmt_extensible_unknown_guid.wav",
            ext_unknown,
            "unsupported",
            "GUID",
        ),
        (
            "missing_data_chunk.wav",
            missing_data,
            "missing_chunk",
            "\"data\"",
        ),
        (
            "missing_fmt_chunk.wav",
            data_first,
            "missing_chunk",
            "\"fmt \"",
        ),
        (
            "list_chunk_claims_4gib.wav",
            huge_list,
            "header_truncated",
            "claims 4294967280 bytes",
        ),
        (
            "random_bytes.wav",
            random,
            "not_wav",
            "not a RIFF/WAVE file",
        ),
        ("mp3_renamed_id3.wav", mp3, "not_wav", "looks like MP3"),
        (
            "mp3_renamed_bare_frames.wav",
            bare_mp3,
            "not_wav",
            "looks like MP3",
        ),
        (
            "riff_form_avi.wav",
            with(&|b| b[8..12].copy_from_slice(b"AVI ")),
            "not_wav",
            "not a RIFF/WAVE file",
        ),
        (
            "text_file.wav",
            b"hello, this is not audio\n".to_vec(),
            "not_wav",
            "\"hell\"",
        ),
    ]
}
