//! Rendering: the caller's audio (speech-like voice, key presses, WAVs)
//! mixed with background noise into the 16 kHz 16-bit mono WAV the recording
//! host serves.

use voxcap_dsp::synth;

use crate::timeline::{NoiseKind, PreparedScenario, SAMPLE_RATE};

impl PreparedScenario {
    /// Renders the first `samples` samples of the recording as a 16 kHz
    /// 16-bit mono WAV file.
    pub fn render_wav(&self, samples: usize) -> Vec<u8> {
        let mut buf = vec![0f32; samples];
        for seg in &self.segments {
            if seg.start >= samples {
                break;
            }
            let take = (samples - seg.start).min(seg.audio.len());
            for (d, s) in buf[seg.start..seg.start + take]
                .iter_mut()
                .zip(seg.audio.iter())
            {
                *d += s;
            }
        }
        if let Some(noise) = &self.noise {
            let seed = self.seed ^ 0x006E_6F69_7365;
            let n = match noise.kind {
                NoiseKind::White => synth::white_noise(seed, noise.level_dbfs, samples),
                NoiseKind::Pink => synth::pink_noise(seed, noise.level_dbfs, samples),
            };
            buf.iter_mut().zip(&n).for_each(|(d, s)| *d += s);
        }
        synth::wav_pcm16_mono(&buf, SAMPLE_RATE)
    }
}

/// A speech-like signal: a harmonic series on a gliding pitch, shaped by two
/// moving formants and a syllabic envelope (syllables of 120-280 ms with short
/// dips between them), at `rms_dbfs`. Deterministic for a seed.
///
/// The first syllable starts at sample 0 and the last ends at `n`, so the
/// emulator's idea of "speech from start to end" matches the audio.
pub fn voice(seed: u64, n: usize, pitch_hz: f32, rms_dbfs: f32) -> Vec<f32> {
    let sr = f64::from(SAMPLE_RATE);
    let mut rng = synth::Rng::new(seed);
    let mut out = vec![0f32; n];
    // Syllable boundaries: (start, end, F1, F2, pitch factor).
    let mut syllables = Vec::new();
    let mut pos = 0usize;
    while pos < n {
        let len = ((0.12 + 0.16 * rng.next_f64()) * sr) as usize;
        let end = (pos + len).min(n);
        let f1 = 300.0 + 500.0 * rng.next_f64();
        let f2 = 900.0 + 1300.0 * rng.next_f64();
        let pf = 0.9 + 0.2 * rng.next_f64();
        syllables.push((pos, end, f1, f2, pf));
        // A short dip (30-70 ms at 10% level) separates syllables.
        pos = end + ((0.03 + 0.04 * rng.next_f64()) * sr) as usize;
    }
    let mut phase = 0f64;
    let base = f64::from(pitch_hz);
    let mut syl = 0usize;
    for (i, o) in out.iter_mut().enumerate() {
        while syl + 1 < syllables.len() && i >= syllables[syl].1 {
            if i < syllables[syl + 1].0 {
                break;
            }
            syl += 1;
        }
        let (s0, s1, f1, f2, pf) = syllables[syl];
        let t = i as f64 / sr;
        // Declination over the utterance plus a slow intonation wave.
        let decl = 1.0 - 0.12 * (i as f64 / n.max(1) as f64);
        let f0 = base * pf * decl * (1.0 + 0.08 * (2.0 * std::f64::consts::PI * 0.8 * t).sin());
        phase = (phase + f0 / sr).fract();
        let env = if i >= s0 && i < s1 {
            let len = (s1 - s0) as f64;
            let x = (i - s0) as f64 / len;
            // Rise and fall over ~25% each; never fully zero inside speech.
            0.1 + 0.9 * (std::f64::consts::PI * x).sin().powf(0.6)
        } else {
            0.1
        };
        let mut acc = 0f64;
        let mut k = 1.0f64;
        while k * f0 < 3800.0 {
            let f = k * f0;
            let w = 1.0 / (1.0 + ((f - f1) / 120.0).powi(2))
                + 0.6 / (1.0 + ((f - f2) / 200.0).powi(2))
                + 0.05;
            acc += w / k * (2.0 * std::f64::consts::PI * k * phase).sin();
            k += 1.0;
        }
        *o = (acc * env) as f32;
    }
    synth::set_rms_dbfs(&mut out, rms_dbfs);
    out
}
