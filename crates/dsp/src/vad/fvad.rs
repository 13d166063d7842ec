// vad/fvad.rs is a port of libfvad, whose licence follows. The rest of
// voxcap is MIT OR Apache-2.0.
//
// Copyright (c) 2011, The WebRTC project authors. All rights reserved.
// Copyright (c) 2016 Daniel Pirch
//
// Redistribution and use in source and binary forms, with or without
// modification, are permitted provided that the following conditions are
// met:
//
//   * Redistributions of source code must retain the above copyright
//     notice, this list of conditions and the following disclaimer.
//
//   * Redistributions in binary form must reproduce the above copyright
//     notice, this list of conditions and the following disclaimer in
//     the documentation and/or other materials provided with the
//     distribution.
//
//   * Neither the name of Google nor the names of its contributors may
//     be used to endorse or promote products derived from this software
//     without specific prior written permission.
//
// THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS
// "AS IS" AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT
// LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR
// A PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT
// HOLDER OR CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL,
// SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT
// LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE,
// DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON ANY
// THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT
// (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
// OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.

//! libfvad's voice detector (WebRTC's GMM VAD) in Rust, bit for bit.
//!
//! A port of the 8 and 16 kHz paths of libfvad (`vad_core.c`,
//! `vad_filterbank.c`, `vad_gmm.c`, `vad_sp.c` and the few signal-processing
//! helpers they call; BSD-3-Clause, the WebRTC authors), which the
//! `webrtc-vad` crate wraps in C. Every decision is the C code's: the same
//! fixed-point operations in the same order, with C's truncating casts to
//! 16 bits written as `as i16` and its wrapping (undefined, but wrapping in
//! practice) 32-bit overflows as `wrapping_*`. The test
//! `fvad_matches_libfvad` (tests/dsp) runs both side by side on speech,
//! noise, tones and full-scale garbage in every mode, rate and block length.
//!
//! Why a port: the filter bank's all-pass chains were 18% of a whole
//! analysis (docs/speech.md, "Second round"). libfvad runs each chain over
//! its whole block before the next. Here the independent chains of one
//! split, and the two splits of the second stage, run in one loop, so the
//! processor overlaps their serial recursions. The state is plain data, so
//! the detector is `Send`.
//!
//! ```
//! use voxcap_dsp::vad::fvad::Fvad;
//! let mut vad = Fvad::new(false, 0); // 8 kHz, quality mode
//! assert!(!vad.is_voice(&[0i16; 240])); // 30 ms of silence
//! ```

/// Frequency bands (libfvad's "channels").
const CHANNELS: usize = 6;
/// Gaussians per band in each mixture.
const GAUSSIANS: usize = 2;
const TABLE: usize = CHANNELS * GAUSSIANS;
/// A block quieter than this (the sum of its bands' energies) is not scored.
const MIN_ENERGY: i32 = 10;

const SPECTRUM_WEIGHT: [i32; CHANNELS] = [6, 8, 10, 12, 14, 16];
const NOISE_UPDATE: i32 = 655; // Q15
const SPEECH_UPDATE: i32 = 6554; // Q15
const BACK_ETA: i32 = 154; // Q8
const MINIMUM_DIFFERENCE: [i16; CHANNELS] = [544, 544, 576, 576, 576, 576];
const MAXIMUM_SPEECH: [i16; CHANNELS] = [11392, 11392, 11520, 11520, 11520, 11520];
const MINIMUM_MEAN: [i16; GAUSSIANS] = [640, 768];
const MAXIMUM_NOISE: [i16; CHANNELS] = [9216, 9088, 8960, 8832, 8704, 8576];
const NOISE_WEIGHTS: [i16; TABLE] = [34, 62, 72, 66, 53, 25, 94, 66, 56, 62, 75, 103];
const SPEECH_WEIGHTS: [i16; TABLE] = [48, 82, 45, 87, 50, 47, 80, 46, 83, 41, 78, 81];
const NOISE_MEANS: [i16; TABLE] = [
    6738, 4892, 7065, 6715, 6771, 3369, 7646, 3863, 7820, 7266, 5020, 4362,
];
const SPEECH_MEANS: [i16; TABLE] = [
    8306, 10085, 10078, 11823, 11843, 6309, 9473, 9571, 10879, 7581, 8180, 7483,
];
const NOISE_STDS: [i16; TABLE] = [378, 1064, 493, 582, 688, 593, 474, 697, 475, 688, 421, 455];
const SPEECH_STDS: [i16; TABLE] = [
    555, 505, 567, 524, 585, 1231, 509, 828, 492, 1540, 1079, 850,
];
/// Speech blocks in a row that are counted.
const MAX_SPEECH_FRAMES: i16 = 6;
const MIN_STD: i16 = 384;

// The filter bank.
const LOG_CONST: i32 = 24660; // 160*log10(2) in Q9
const LOG_ENERGY_INT_PART: i32 = 14336; // 14 in Q10
const HP_ZERO: [i32; 3] = [6631, -13262, 6631];
const HP_POLE: [i32; 3] = [16384, -7756, 5620];
const ALL_PASS_Q15: [i32; 2] = [20972, 5571];
const OFFSET: [i16; CHANNELS] = [368, 368, 272, 176, 176, 176];

// The Gaussian.
const COMP_VAR: i32 = 22005;
const LOG2_EXP: i32 = 5909; // log2(e) in Q12

// 16 -> 8 kHz and the minimum tracker.
const ALL_PASS_Q13: [i32; 2] = [5243, 1392];
const SMOOTHING_DOWN: i32 = 6553; // 0.2 in Q15
const SMOOTHING_UP: i32 = 32439; // 0.99 in Q15

/// Per mode, per block length (10, 20, 30 ms): the hang-over lengths and the
/// local and global thresholds.
struct Thresholds {
    over_hang_1: [i16; 3],
    over_hang_2: [i16; 3],
    individual: [i16; 3],
    total: [i16; 3],
}

const MODES: [Thresholds; 4] = [
    Thresholds {
        over_hang_1: [8, 4, 3],
        over_hang_2: [14, 7, 5],
        individual: [24, 21, 24],
        total: [57, 48, 57],
    },
    Thresholds {
        over_hang_1: [8, 4, 3],
        over_hang_2: [14, 7, 5],
        individual: [37, 32, 37],
        total: [100, 80, 100],
    },
    Thresholds {
        over_hang_1: [6, 3, 2],
        over_hang_2: [9, 5, 3],
        individual: [82, 78, 82],
        total: [285, 260, 285],
    },
    Thresholds {
        over_hang_1: [6, 3, 2],
        over_hang_2: [9, 5, 3],
        individual: [94, 94, 94],
        total: [1100, 1050, 1100],
    },
];

/// One voice detector's state (libfvad's `VadInstT`, for 8 and 16 kHz):
/// `fvad_new`, `fvad_set_mode`, `fvad_set_sample_rate` and `fvad_process`
/// in one type.
#[derive(Clone)]
pub struct Fvad {
    wideband: bool,
    mode: &'static Thresholds,
    downsampling: [i32; 2],
    noise_means: [i16; TABLE],
    speech_means: [i16; TABLE],
    noise_stds: [i16; TABLE],
    speech_stds: [i16; TABLE],
    frame_counter: i32,
    over_hang: i16,
    num_of_speech: i16,
    /// Per band: the ages of the 16 smallest recent features, and the values.
    age: [[i16; 16]; CHANNELS],
    smallest: [[i16; 16]; CHANNELS],
    mean_value: [i16; CHANNELS],
    upper_state: [i16; 5],
    lower_state: [i16; 5],
    hp_state: [i16; 4],
}

impl std::fmt::Debug for Fvad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fvad")
            .field("wideband", &self.wideband)
            .field("frame_counter", &self.frame_counter)
            .finish_non_exhaustive()
    }
}

impl Fvad {
    /// A detector for 8 kHz (`wideband` false) or 16 kHz input, in libfvad's
    /// `mode` 0 (quality) to 3 (very aggressive); a higher mode is read as 3.
    pub fn new(wideband: bool, mode: usize) -> Self {
        Fvad {
            wideband,
            mode: &MODES[mode.min(3)],
            downsampling: [0; 2],
            noise_means: NOISE_MEANS,
            speech_means: SPEECH_MEANS,
            noise_stds: NOISE_STDS,
            speech_stds: SPEECH_STDS,
            frame_counter: 0,
            over_hang: 0,
            num_of_speech: 0,
            age: [[0; 16]; CHANNELS],
            smallest: [[10000; 16]; CHANNELS],
            mean_value: [1600; CHANNELS],
            upper_state: [0; 5],
            lower_state: [0; 5],
            hp_state: [0; 4],
        }
    }

    /// Whether one 10, 20 or 30 ms block is voice (libfvad's
    /// `fvad_process` > 0). A block of another length is not voice and
    /// leaves the state as it was, as libfvad rejects it.
    pub fn is_voice(&mut self, block: &[i16]) -> bool {
        let per_ms = if self.wideband { 16 } else { 8 };
        if !matches!(block.len() / per_ms, 10 | 20 | 30) || !block.len().is_multiple_of(per_ms) {
            return false;
        }
        if self.wideband {
            let mut narrow = [0i16; 240];
            let n = block.len() / 2;
            downsample(block, &mut narrow[..n], &mut self.downsampling);
            self.calc_8khz(&narrow[..n])
        } else {
            self.calc_8khz(block)
        }
    }

    fn calc_8khz(&mut self, block: &[i16]) -> bool {
        let mut features = [0i16; CHANNELS];
        let total = self.features(block, &mut features);
        self.gmm(&features, total, block.len()) > 0
    }

    /// The six band energies (log, Q4) and the total energy of a block.
    fn features(&mut self, data: &[i16], features: &mut [i16; CHANNELS]) -> i16 {
        let n = data.len();
        let half = n / 2;
        let quarter = half / 2;
        let mut total: i16 = 0;
        let mut hp_120 = [0i16; 120];
        let mut lp_120 = [0i16; 120];
        // 0-4 kHz -> 2-4 and 0-2 kHz.
        split(
            data,
            &mut self.upper_state[0],
            &mut self.lower_state[0],
            &mut hp_120[..half],
            &mut lp_120[..half],
        );
        // 2-4 -> 3-4 and 2-3 kHz, beside 0-2 -> 1-2 and 0-1 kHz: independent
        // chains, run in one loop.
        let mut b1_hp = [0i16; 60];
        let mut b1_lp = [0i16; 60];
        let mut b2_hp = [0i16; 60];
        let mut b2_lp = [0i16; 60];
        {
            let (u, l) = (&mut self.upper_state, &mut self.lower_state);
            let mut s = [state32(u[1]), state32(l[1]), state32(u[2]), state32(l[2])];
            let (a, b) = (&hp_120[..half], &lp_120[..half]);
            for i in 0..quarter {
                let u1 = all_pass(&mut s[0], ALL_PASS_Q15[0], a[2 * i]);
                let l1 = all_pass(&mut s[1], ALL_PASS_Q15[1], a[2 * i + 1]);
                let u2 = all_pass(&mut s[2], ALL_PASS_Q15[0], b[2 * i]);
                let l2 = all_pass(&mut s[3], ALL_PASS_Q15[1], b[2 * i + 1]);
                b1_hp[i] = u1.wrapping_sub(l1);
                b1_lp[i] = l1.wrapping_add(u1);
                b2_hp[i] = u2.wrapping_sub(l2);
                b2_lp[i] = l2.wrapping_add(u2);
            }
            u[1] = state16(s[0]);
            l[1] = state16(s[1]);
            u[2] = state16(s[2]);
            l[2] = state16(s[3]);
        }
        log_of_energy(&b1_hp[..quarter], OFFSET[5], &mut total, &mut features[5]);
        log_of_energy(&b1_lp[..quarter], OFFSET[4], &mut total, &mut features[4]);
        log_of_energy(&b2_hp[..quarter], OFFSET[3], &mut total, &mut features[3]);
        // 0-1 kHz -> 0.5-1 and 0-0.5 kHz.
        let eighth = quarter / 2;
        split(
            &b2_lp[..quarter],
            &mut self.upper_state[3],
            &mut self.lower_state[3],
            &mut hp_120[..eighth],
            &mut lp_120[..eighth],
        );
        log_of_energy(&hp_120[..eighth], OFFSET[2], &mut total, &mut features[2]);
        // 0-0.5 kHz -> 250-500 and 0-250 Hz.
        let sixteenth = eighth / 2;
        split(
            &lp_120[..eighth],
            &mut self.upper_state[4],
            &mut self.lower_state[4],
            &mut b1_hp[..sixteenth],
            &mut b1_lp[..sixteenth],
        );
        log_of_energy(&b1_hp[..sixteenth], OFFSET[1], &mut total, &mut features[1]);
        // 80-250 Hz.
        high_pass(
            &b1_lp[..sixteenth],
            &mut self.hp_state,
            &mut b2_hp[..sixteenth],
        );
        log_of_energy(&b2_hp[..sixteenth], OFFSET[0], &mut total, &mut features[0]);
        total
    }

    /// libfvad's `GmmProbability`: the decision, the models' update and the
    /// hang-over. Returns its `vadflag` (0: noise).
    // The loops index the tables by band and Gaussian as libfvad does, so
    // the port can be read against the C line by line.
    #[allow(clippy::needless_range_loop)]
    fn gmm(&mut self, features: &[i16; CHANNELS], total_power: i16, frame_length: usize) -> i16 {
        let at = match frame_length {
            80 => 0,
            160 => 1,
            _ => 2,
        };
        let overhead1 = self.mode.over_hang_1[at];
        let overhead2 = self.mode.over_hang_2[at];
        let individual = self.mode.individual[at] as i32;
        let total_test = self.mode.total[at] as i32;
        let mut vadflag: i16 = 0;

        if total_power as i32 > MIN_ENERGY {
            let mut delta_n = [0i16; TABLE];
            let mut delta_s = [0i16; TABLE];
            let mut ngprvec = [0i16; TABLE];
            let mut sgprvec = [0i16; TABLE];
            let mut sum_llr: i32 = 0;
            for channel in 0..CHANNELS {
                let mut h0_test: i32 = 0;
                let mut h1_test: i32 = 0;
                let mut noise_probability = [0i32; GAUSSIANS];
                let mut speech_probability = [0i32; GAUSSIANS];
                for k in 0..GAUSSIANS {
                    let g = channel + k * CHANNELS;
                    let p = gaussian_probability(
                        features[channel],
                        self.noise_means[g],
                        self.noise_stds[g],
                        &mut delta_n[g],
                    );
                    noise_probability[k] = (NOISE_WEIGHTS[g] as i32).wrapping_mul(p);
                    h0_test = h0_test.wrapping_add(noise_probability[k]);
                    let p = gaussian_probability(
                        features[channel],
                        self.speech_means[g],
                        self.speech_stds[g],
                        &mut delta_s[g],
                    );
                    speech_probability[k] = (SPEECH_WEIGHTS[g] as i32).wrapping_mul(p);
                    h1_test = h1_test.wrapping_add(speech_probability[k]);
                }
                let shifts_h0 = if h0_test == 0 { 31 } else { norm_w32(h0_test) };
                let shifts_h1 = if h1_test == 0 { 31 } else { norm_w32(h1_test) };
                let llr = (shifts_h0 - shifts_h1) as i16 as i32;
                sum_llr = sum_llr.wrapping_add(llr * SPECTRUM_WEIGHT[channel]);
                if llr * 4 > individual {
                    vadflag = 1;
                }
                let h0 = (h0_test >> 12) as i16;
                if h0 > 0 {
                    let t = (((noise_probability[0] as u32) & 0xFFFF_F000) << 2) as i32;
                    ngprvec[channel] = div_w32_w16(t, h0) as i16;
                    ngprvec[channel + CHANNELS] = (16384 - ngprvec[channel] as i32) as i16;
                } else {
                    ngprvec[channel] = 16384;
                }
                let h1 = (h1_test >> 12) as i16;
                if h1 > 0 {
                    let t = (((speech_probability[0] as u32) & 0xFFFF_F000) << 2) as i32;
                    sgprvec[channel] = div_w32_w16(t, h1) as i16;
                    sgprvec[channel + CHANNELS] = (16384 - sgprvec[channel] as i32) as i16;
                }
            }
            if sum_llr >= total_test {
                vadflag |= 1;
            }

            let mut maxspe: i16 = 12800;
            for channel in 0..CHANNELS {
                let feature = features[channel] as i32;
                let feature_minimum = self.find_minimum(features[channel], channel);
                let noise_global_mean =
                    weighted_average(&mut self.noise_means, channel, 0, &NOISE_WEIGHTS);
                let tmp1_s16 = (noise_global_mean >> 6) as i16;
                for k in 0..GAUSSIANS {
                    let g = channel + k * CHANNELS;
                    let nmk = self.noise_means[g];
                    let smk = self.speech_means[g];
                    let mut nsk = self.noise_stds[g];
                    let mut ssk = self.speech_stds[g];

                    let mut nmk2 = nmk;
                    if vadflag == 0 {
                        let delt = ((ngprvec[g] as i32 * delta_n[g] as i32) >> 11) as i16;
                        nmk2 = (nmk as i32 + (((delt as i32 * NOISE_UPDATE) >> 22) as i16) as i32)
                            as i16;
                    }
                    let ndelt = (((feature_minimum as i32) << 4) - tmp1_s16 as i32) as i16;
                    let mut nmk3 =
                        (nmk2 as i32 + (((ndelt as i32 * BACK_ETA) >> 9) as i16) as i32) as i16;
                    let low = ((k as i32 + 5) << 7) as i16;
                    if nmk3 < low {
                        nmk3 = low;
                    }
                    let high = ((72 + k as i32 - channel as i32) << 7) as i16;
                    if nmk3 > high {
                        nmk3 = high;
                    }
                    self.noise_means[g] = nmk3;

                    if vadflag != 0 {
                        let delt = ((sgprvec[g] as i32 * delta_s[g] as i32) >> 11) as i16;
                        let t = ((delt as i32 * SPEECH_UPDATE) >> 21) as i16;
                        let mut smk2 = (smk as i32 + ((t as i32 + 1) >> 1)) as i16;
                        let maxmu = (maxspe as i32 + 640) as i16;
                        if smk2 < MINIMUM_MEAN[k] {
                            smk2 = MINIMUM_MEAN[k];
                        }
                        if smk2 > maxmu {
                            smk2 = maxmu;
                        }
                        self.speech_means[g] = smk2;

                        let t = ((smk as i32 + 4) >> 3) as i16;
                        let t = (feature - t as i32) as i16;
                        let tmp1 = (delta_s[g] as i32 * t as i32) >> 3;
                        let tmp2 = tmp1 - 4096;
                        let t = sgprvec[g] >> 2;
                        let tmp1 = (t as i32).wrapping_mul(tmp2);
                        let tmp2 = tmp1 >> 4;
                        let den = (ssk as i32 * 10) as i16;
                        let mut t = if tmp2 > 0 {
                            div_w32_w16(tmp2, den) as i16
                        } else {
                            (div_w32_w16(tmp2.wrapping_neg(), den) as i16).wrapping_neg()
                        };
                        t = t.wrapping_add(128);
                        ssk = ssk.wrapping_add(t >> 8);
                        if ssk < MIN_STD {
                            ssk = MIN_STD;
                        }
                        self.speech_stds[g] = ssk;
                    } else {
                        let t = (feature - (nmk >> 3) as i32) as i16;
                        let tmp1 = ((delta_n[g] as i32 * t as i32) >> 3) - 4096;
                        let t = ((ngprvec[g] as i32 + 2) >> 2) as i16;
                        let tmp2 = (t as i32).wrapping_mul(tmp1);
                        let tmp1 = tmp2 >> 14;
                        let mut t = if tmp1 > 0 {
                            div_w32_w16(tmp1, nsk) as i16
                        } else {
                            (div_w32_w16(tmp1.wrapping_neg(), nsk) as i16).wrapping_neg()
                        };
                        t = t.wrapping_add(32);
                        nsk = nsk.wrapping_add(t >> 6);
                        if nsk < MIN_STD {
                            nsk = MIN_STD;
                        }
                        self.noise_stds[g] = nsk;
                    }
                }

                // Separate the models if they are too close.
                let mut noise_global_mean =
                    weighted_average(&mut self.noise_means, channel, 0, &NOISE_WEIGHTS);
                let mut speech_global_mean =
                    weighted_average(&mut self.speech_means, channel, 0, &SPEECH_WEIGHTS);
                let diff = ((speech_global_mean >> 9) as i16 as i32
                    - (noise_global_mean >> 9) as i16 as i32) as i16;
                if diff < MINIMUM_DIFFERENCE[channel] {
                    let t = (MINIMUM_DIFFERENCE[channel] as i32 - diff as i32) as i16;
                    let t1 = ((13 * t as i32) >> 2) as i16;
                    let t2 = ((3 * t as i32) >> 2) as i16;
                    speech_global_mean =
                        weighted_average(&mut self.speech_means, channel, t1, &SPEECH_WEIGHTS);
                    noise_global_mean = weighted_average(
                        &mut self.noise_means,
                        channel,
                        t2.wrapping_neg(),
                        &NOISE_WEIGHTS,
                    );
                }
                // Keep the means from drifting too far.
                maxspe = MAXIMUM_SPEECH[channel];
                let t = (speech_global_mean >> 7) as i16;
                if t > maxspe {
                    let t = t.wrapping_sub(maxspe);
                    for k in 0..GAUSSIANS {
                        let m = &mut self.speech_means[channel + k * CHANNELS];
                        *m = m.wrapping_sub(t);
                    }
                }
                let t = (noise_global_mean >> 7) as i16;
                if t > MAXIMUM_NOISE[channel] {
                    let t = t.wrapping_sub(MAXIMUM_NOISE[channel]);
                    for k in 0..GAUSSIANS {
                        let m = &mut self.noise_means[channel + k * CHANNELS];
                        *m = m.wrapping_sub(t);
                    }
                }
            }
            self.frame_counter = self.frame_counter.wrapping_add(1);
        }

        // Hang-over.
        if vadflag == 0 {
            if self.over_hang > 0 {
                vadflag = 2 + self.over_hang;
                self.over_hang -= 1;
            }
            self.num_of_speech = 0;
        } else {
            self.num_of_speech += 1;
            if self.num_of_speech > MAX_SPEECH_FRAMES {
                self.num_of_speech = MAX_SPEECH_FRAMES;
                self.over_hang = overhead2;
            } else {
                self.over_hang = overhead1;
            }
        }
        vadflag
    }

    /// libfvad's `WebRtcVad_FindMinimum`: tracks the 16 smallest features of
    /// the last 100 blocks and returns the smoothed low percentile.
    fn find_minimum(&mut self, feature: i16, channel: usize) -> i16 {
        let age = &mut self.age[channel];
        let values = &mut self.smallest[channel];
        for i in 0..16 {
            if age[i] != 100 {
                age[i] = age[i].wrapping_add(1);
            } else {
                // libfvad also copies the next band's first entry into [15]
                // here; it is overwritten at once.
                for j in i..15 {
                    values[j] = values[j + 1];
                    age[j] = age[j + 1];
                }
                age[15] = 101;
                values[15] = 10000;
            }
        }
        let position = if feature < values[7] {
            if feature < values[3] {
                if feature < values[1] {
                    if feature < values[0] {
                        Some(0)
                    } else {
                        Some(1)
                    }
                } else if feature < values[2] {
                    Some(2)
                } else {
                    Some(3)
                }
            } else if feature < values[5] {
                if feature < values[4] {
                    Some(4)
                } else {
                    Some(5)
                }
            } else if feature < values[6] {
                Some(6)
            } else {
                Some(7)
            }
        } else if feature < values[15] {
            if feature < values[11] {
                if feature < values[9] {
                    if feature < values[8] {
                        Some(8)
                    } else {
                        Some(9)
                    }
                } else if feature < values[10] {
                    Some(10)
                } else {
                    Some(11)
                }
            } else if feature < values[13] {
                if feature < values[12] {
                    Some(12)
                } else {
                    Some(13)
                }
            } else if feature < values[14] {
                Some(14)
            } else {
                Some(15)
            }
        } else {
            None
        };
        if let Some(p) = position {
            for i in (p + 1..16).rev() {
                values[i] = values[i - 1];
                age[i] = age[i - 1];
            }
            values[p] = feature;
            age[p] = 1;
        }
        let current_median = if self.frame_counter > 2 {
            values[2]
        } else if self.frame_counter > 0 {
            values[0]
        } else {
            1600
        };
        let mean = &mut self.mean_value[channel];
        let alpha = if self.frame_counter > 0 {
            if current_median < *mean {
                SMOOTHING_DOWN
            } else {
                SMOOTHING_UP
            }
        } else {
            0
        };
        let t = (alpha + 1) * *mean as i32 + (32767 - alpha) * current_median as i32 + 16384;
        *mean = (t >> 15) as i16;
        *mean
    }
}

/// libfvad's all-pass state, widened (Q15).
#[inline(always)]
fn state32(s: i16) -> i32 {
    (s as i32) << 16
}

#[inline(always)]
fn state16(s: i32) -> i16 {
    (s >> 16) as i16
}

/// One step of libfvad's first-order all-pass section (`AllPassFilter`).
#[inline(always)]
fn all_pass(state: &mut i32, coef: i32, x: i16) -> i16 {
    let x = x as i32;
    let y = (state.wrapping_add(coef * x) >> 16) as i16;
    *state = ((x << 14).wrapping_sub(coef * y as i32)).wrapping_mul(2);
    y
}

/// libfvad's `SplitFilter`: a half-band split and decimation by 2, its two
/// all-pass chains run in one loop.
fn split(input: &[i16], upper: &mut i16, lower: &mut i16, hp: &mut [i16], lp: &mut [i16]) {
    let mut su = state32(*upper);
    let mut sl = state32(*lower);
    for ((pair, h), l) in input.chunks_exact(2).zip(hp.iter_mut()).zip(lp.iter_mut()) {
        let u = all_pass(&mut su, ALL_PASS_Q15[0], pair[0]);
        let d = all_pass(&mut sl, ALL_PASS_Q15[1], pair[1]);
        *h = u.wrapping_sub(d);
        *l = d.wrapping_add(u);
    }
    *upper = state16(su);
    *lower = state16(sl);
}

/// libfvad's `HighPassFilter` (the 80 Hz cut of the lowest band).
fn high_pass(input: &[i16], state: &mut [i16; 4], out: &mut [i16]) {
    for (&x, o) in input.iter().zip(out.iter_mut()) {
        let mut t = HP_ZERO[0] * x as i32;
        t += HP_ZERO[1] * state[0] as i32;
        t += HP_ZERO[2] * state[1] as i32;
        state[1] = state[0];
        state[0] = x;
        t -= HP_POLE[1] * state[2] as i32;
        t -= HP_POLE[2] * state[3] as i32;
        state[3] = state[2];
        state[2] = (t >> 14) as i16;
        *o = state[2];
    }
}

/// libfvad's `LogOfEnergy`: the band's log energy (Q4) plus `offset`, and
/// its share of the block's total energy while that is small.
fn log_of_energy(data: &[i16], offset: i16, total: &mut i16, log_energy: &mut i16) {
    let (energy, shifts) = energy(data);
    let mut energy = energy as u32;
    if energy == 0 {
        *log_energy = offset;
        return;
    }
    let normalizing = 17 - norm_u32(energy);
    let tot_rshifts = shifts + normalizing;
    if normalizing < 0 {
        energy <<= -normalizing;
    } else {
        energy >>= normalizing;
    }
    let log2_energy = (LOG_ENERGY_INT_PART + ((energy & 0x3FFF) >> 4) as i32) as i16;
    let mut log =
        (((LOG_CONST * log2_energy as i32) >> 19) + ((tot_rshifts * LOG_CONST) >> 9)) as i16;
    if log < 0 {
        log = 0;
    }
    *log_energy = log.wrapping_add(offset);
    if *total as i32 <= MIN_ENERGY {
        if tot_rshifts >= 0 {
            *total = total.wrapping_add((MIN_ENERGY + 1) as i16);
        } else {
            *total = total.wrapping_add((energy >> -tot_rshifts) as i16);
        }
    }
}

/// `WebRtcSpl_Energy` with `WebRtcSpl_GetScalingSquare`: the sum of squares,
/// each shifted right enough to keep the sum in 32 bits, and that shift.
fn energy(data: &[i16]) -> (i32, i32) {
    let nbits = 32 - (data.len() as u32).leading_zeros() as i32;
    let mut smax: i16 = -1;
    for &x in data {
        // libfvad negates in int and stores in int16: -(-32768) stays -32768.
        let abs = if x > 0 { x } else { x.wrapping_neg() };
        if abs > smax {
            smax = abs;
        }
    }
    let scaling = if smax == 0 {
        0
    } else {
        let t = norm_w32(smax as i32 * smax as i32);
        if t > nbits {
            0
        } else {
            nbits - t
        }
    };
    let mut en: i32 = 0;
    for &x in data {
        en = en.wrapping_add((x as i32 * x as i32) >> scaling);
    }
    (en, scaling)
}

/// libfvad's `WebRtcVad_GaussianProbability`: the (scaled) Gaussian density
/// of `input` (Q4) for `mean` (Q7) and `std` (Q7), Q20, and `delta`, the
/// normalised distance (Q11).
fn gaussian_probability(input: i16, mean: i16, std: i16, delta: &mut i16) -> i32 {
    let t32 = 131072 + (std >> 1) as i32;
    let inv_std = div_w32_w16(t32, std) as i16;
    let t = (inv_std >> 2) as i32;
    let inv_std2 = ((t * t) >> 2) as i16;
    let t = ((input as i32) << 3) as i16;
    let t = (t as i32 - mean as i32) as i16;
    *delta = ((inv_std2 as i32 * t as i32) >> 10) as i16;
    let t32 = (*delta as i32 * t as i32) >> 9;
    let mut exp_value: i32 = 0;
    if t32 < COMP_VAR {
        let t = ((LOG2_EXP * t32) >> 12) as i16;
        let t = t.wrapping_neg();
        exp_value = 0x0400 | (t as i32 & 0x03FF);
        let t = ((t as i32) ^ 0xFFFF) as i16;
        let shift = (t >> 10) as i32 + 1;
        exp_value = (exp_value as i16 as i32) >> shift.clamp(0, 31);
        exp_value = exp_value as i16 as i32;
    }
    (inv_std as i32).wrapping_mul(exp_value)
}

/// libfvad's `WeightedAverage`: adds `offset` to the band's two means and
/// returns their weighted sum.
fn weighted_average(
    data: &mut [i16; TABLE],
    channel: usize,
    offset: i16,
    weights: &[i16; TABLE],
) -> i32 {
    let mut sum: i32 = 0;
    for k in 0..GAUSSIANS {
        let g = channel + k * CHANNELS;
        data[g] = data[g].wrapping_add(offset);
        sum = sum.wrapping_add(data[g] as i32 * weights[g] as i32);
    }
    sum
}

/// libfvad's `WebRtcVad_Downsampling`: 16 -> 8 kHz by two all-pass
/// branches (`out` is half of `input`).
fn downsample(input: &[i16], out: &mut [i16], state: &mut [i32; 2]) {
    let (mut s1, mut s2) = (state[0], state[1]);
    for (pair, o) in input.chunks_exact(2).zip(out.iter_mut()) {
        let (a, b) = (pair[0] as i32, pair[1] as i32);
        let t1 = ((s1 >> 1) + ((ALL_PASS_Q13[0] * a) >> 14)) as i16;
        s1 = a - ((ALL_PASS_Q13[0] * t1 as i32) >> 12);
        let t2 = ((s2 >> 1) + ((ALL_PASS_Q13[1] * b) >> 14)) as i16;
        s2 = b - ((ALL_PASS_Q13[1] * t2 as i32) >> 12);
        *o = t1.wrapping_add(t2);
    }
    *state = [s1, s2];
}

/// `WebRtcSpl_DivW32W16`: C's truncating division; a zero divisor gives
/// `i32::MAX`.
#[inline]
fn div_w32_w16(num: i32, den: i16) -> i32 {
    if den != 0 {
        num.wrapping_div(den as i32)
    } else {
        i32::MAX
    }
}

/// `WebRtcSpl_NormW32`: the left shift that normalises `a` (0 for 0).
#[inline]
fn norm_w32(a: i32) -> i32 {
    if a == 0 {
        0
    } else {
        (if a < 0 { !a } else { a } as u32).leading_zeros() as i32 - 1
    }
}

/// `WebRtcSpl_NormU32`.
#[inline]
fn norm_u32(a: u32) -> i32 {
    if a == 0 {
        0
    } else {
        a.leading_zeros() as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_is_not_voice_and_bad_lengths_are_rejected() {
        let mut v = Fvad::new(false, 0);
        assert!(!v.is_voice(&[0; 240]));
        assert!(!v.is_voice(&[1000; 100]));
        let mut w = Fvad::new(true, 0);
        assert!(!w.is_voice(&[0; 480]));
        assert!(!w.is_voice(&[0; 240 + 8]));
    }

    #[test]
    fn norms_match_the_spl_definitions() {
        assert_eq!(norm_w32(0), 0);
        assert_eq!(norm_w32(1), 30);
        assert_eq!(norm_w32(-1), 31);
        assert_eq!(norm_w32(i32::MAX), 0);
        assert_eq!(norm_w32(i32::MIN), 0);
        assert_eq!(norm_u32(1), 31);
        assert_eq!(norm_u32(u32::MAX), 0);
    }

    use crate::synth::Rng;

    /// Uniform in -1..1.
    fn unit(rng: &mut Rng) -> f64 {
        rng.next_f64() * 2.0 - 1.0
    }

    fn clamp16(x: f64) -> i16 {
        x.round().clamp(-32768.0, 32767.0) as i16
    }

    /// The speech fixtures, end to end, 8 kHz (read by the test kit as
    /// `s / 32768`, which is exact, so the 16-bit samples come back as they
    /// are).
    fn speech() -> Vec<i16> {
        voxcap_testkit::speech::speech_samples()
            .iter()
            .flatten()
            .map(|&s| (s * 32768.0) as i16)
            .collect()
    }

    /// Speech, noise, tones and garbage: every path of the detector.
    fn signals(rate: usize) -> Vec<(&'static str, Vec<i16>)> {
        let mut rng = Rng::new(7);
        let mut sp = speech();
        if rate == 16000 {
            sp = sp.iter().flat_map(|&s| [s, s]).collect();
        }
        let n = sp.len();
        let mut out = vec![("speech", sp.clone())];
        for (name, level) in [("speech+noise-45", 0.006), ("speech+noise-25", 0.06)] {
            let mixed = sp
                .iter()
                .map(|&s| clamp16(s as f64 + level * 32768.0 * unit(&mut rng)))
                .collect();
            out.push((name, mixed));
        }
        out.push((
            "speech x8 (clipped)",
            sp.iter().map(|&s| clamp16(s as f64 * 8.0)).collect(),
        ));
        out.push((
            "speech / 64",
            sp.iter().map(|&s| clamp16(s as f64 / 64.0)).collect(),
        ));
        // Noise whose level steps every 0.4 s, from nothing to full scale.
        let step = rate * 2 / 5;
        let mut steps = Vec::new();
        for (i, level) in [0.0, 1e-4, 1e-3, 0.03, 1.0, 0.003, 0.3, 0.0, 0.1, 1e-5]
            .iter()
            .cycle()
            .take(40)
            .enumerate()
        {
            let amp = level * 32767.0 * if i % 3 == 0 { 1.0 } else { 0.5 };
            steps.extend((0..step).map(|_| clamp16(amp * unit(&mut rng))));
        }
        out.push(("noise steps", steps));
        // Tones: a sweep, a full-scale square, DC at the rails, impulses.
        let sweep = (0..n)
            .map(|i| {
                let t = i as f64 / rate as f64;
                let f = 100.0 + 3500.0 * (t / 20.0).fract();
                clamp16(20000.0 * (2.0 * std::f64::consts::PI * f * t).sin())
            })
            .collect();
        out.push(("sweep", sweep));
        out.push((
            "square",
            (0..rate * 5)
                .map(|i| if (i / 7) % 2 == 0 { 32767 } else { -32768 })
                .collect(),
        ));
        out.push(("rail -32768", vec![-32768; rate * 3]));
        out.push(("rail 32767", vec![32767; rate * 3]));
        out.push((
            "impulses",
            (0..rate * 5)
                .map(|i| if i % 173 == 0 { -32768 } else { 0 })
                .collect(),
        ));
        // Garbage: uniform 16-bit words.
        out.push((
            "garbage",
            (0..rate * 10)
                .map(|_| rng.next_u64() as u16 as i16)
                .collect(),
        ));
        out
    }

    /// The port against libfvad itself (the `webrtc-vad` crate): the same
    /// decision on every block, in every mode, rate and block length.
    #[test]
    fn fvad_matches_libfvad() {
        use webrtc_vad::{SampleRate, Vad, VadMode};
        let mut blocks = 0usize;
        let mut voiced = 0usize;
        for rate in [8000usize, 16000] {
            let signals = signals(rate);
            for mode in 0..4 {
                for ms in [10, 20, 30] {
                    let len = rate / 1000 * ms;
                    for (name, signal) in &signals {
                        let mut c = Vad::new_with_rate_and_mode(
                            if rate == 8000 {
                                SampleRate::Rate8kHz
                            } else {
                                SampleRate::Rate16kHz
                            },
                            [
                                VadMode::Quality,
                                VadMode::LowBitrate,
                                VadMode::Aggressive,
                                VadMode::VeryAggressive,
                            ]
                            .into_iter()
                            .nth(mode)
                            .expect("a mode"),
                        );
                        let mut r = Fvad::new(rate == 16000, mode);
                        for (i, block) in signal.chunks_exact(len).enumerate() {
                            let want = c.is_voice_segment(block).expect("a valid length");
                            let got = r.is_voice(block);
                            assert_eq!(
                                got, want,
                                "{name} at {rate} Hz, mode {mode}, {ms} ms blocks: block {i} differs"
                            );
                            blocks += 1;
                            voiced += usize::from(got);
                        }
                    }
                }
            }
        }
        // Both decisions occur often: the comparison means something.
        assert!(
            voiced > blocks / 10 && voiced < blocks * 9 / 10,
            "{voiced} of {blocks}"
        );
    }
}
