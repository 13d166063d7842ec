//! Silero VAD's 8 kHz network, run in pure Rust: the forward pass of the
//! model in Silero's ONNX file (6.x; both `silero_vad.onnx` and
//! `silero_vad_op18_ifless.onnx`), with its weights read by [`super::onnx`].
//! It gives one speech probability per 256-sample (32 ms) window, the value
//! onnxruntime gives for the same file to within 1e-4.
//!
//! The network, per window (input: 32 samples of context, the previous
//! window's last, then the 256 new ones):
//! 1. reflect-pad right by 32 to 320 samples; STFT magnitude of 4 frames
//!    (128 samples, hop 64, periodic Hann, 65 bins);
//! 2. four 3-tap convolutions with ReLU: 65→128 (stride 1), 128→64 (2),
//!    64→64 (2), 64→128 (1), leaving one 128-vector;
//! 3. an LSTM cell (128 hidden, state carried across windows);
//! 4. ReLU, a 1×1 convolution to one value, sigmoid.
//!
//! Speed: the STFT runs as an FFT when the model's basis is the windowed DFT
//! (it is in every released file; checked at load, otherwise the basis is
//! applied as the convolution it is); every layer is a matrix-vector product
//! over weights packed at load time in blocks the compiler keeps in
//! registers, skipping the convolution taps that fall on zero padding. All
//! buffers belong to the stream: no window allocates.
//!
//! This module does not open files: the caller reads the model (from a path
//! in a flag, the environment or a config) and hands its bytes or a reader.

use std::io::Read;
use std::ops::Range;
use std::sync::Arc;

use super::onnx::{self, FloatTensor, OnnxError};

/// New samples per window: Silero's window at 8 kHz.
pub const WINDOW: usize = 256;
/// Samples of the previous window prepended to each one.
const CONTEXT: usize = 32;
/// The network's input: context then window.
const INPUT: usize = CONTEXT + WINDOW;
/// The input after the STFT's reflect padding.
const PADDED: usize = INPUT + 32;
/// STFT frame length, hop, frames per window and bins.
const N_FFT: usize = 128;
const HOP: usize = 64;
const FRAMES: usize = 4;
const BINS: usize = N_FFT / 2 + 1;
/// LSTM width.
const HIDDEN: usize = 128;
/// Outputs computed together by the kernel (kept in registers).
const BLOCK: usize = 32;

/// The model's weights, as named in the file after the 8 kHz prefix.
const BASIS: &str = "stft.forward_basis_buffer";
const DECODER_W: &str = "decoder.decoder.2.weight";
const DECODER_B: &str = "decoder.decoder.2.bias";
const W_IH: &str = "decoder.rnn.weight_ih";
const W_HH: &str = "decoder.rnn.weight_hh";
const B_IH: &str = "decoder.rnn.bias_ih";
const B_HH: &str = "decoder.rnn.bias_hh";
/// Encoder layers: (input channels, output channels, stride).
const ENCODER: [(usize, usize, usize); 4] =
    [(BINS, 128, 1), (128, 64, 2), (64, 64, 2), (64, 128, 1)];

/// Why a Silero model could not be loaded. The caller adds the file's name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SileroError {
    /// The file is not a readable ONNX model, or a tensor in it is corrupt.
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    /// No tensor looks like the 8 kHz STFT basis.
    #[error("no 8 kHz Silero network in the model: no tensor *{BASIS} of shape [130, 1, 128]")]
    No8k,
    /// The 8 kHz network lacks a weight.
    #[error("the 8 kHz Silero network lacks tensor {name:?}")]
    MissingTensor {
        /// The full name looked for.
        name: String,
    },
    /// A weight has the wrong shape.
    #[error("tensor {name:?} has shape {found:?}, expected {expected:?}")]
    WrongShape {
        /// The tensor's name.
        name: String,
        /// The shape the network needs.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A weight holds NaN or an infinity.
    #[error("tensor {name:?} holds a value that is not finite")]
    NotFinite {
        /// The tensor's name.
        name: String,
    },
}

/// One speech probability: the window of [`WINDOW`] samples starting at
/// `start` (absolute, at 8 kHz) holds speech with probability `prob`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeechProb {
    /// First sample of the window.
    pub start: u64,
    /// Silero's probability, 0 to 1.
    pub prob: f32,
}

/// A loaded Silero model (its 8 kHz network). Cheap to clone: the weights
/// are shared, so every stream and thread can use the same copy.
#[derive(Clone)]
pub struct SileroModel {
    weights: Arc<Weights>,
}

impl std::fmt::Debug for SileroModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SileroModel")
            .field("prefix", &self.weights.prefix)
            .field("stft", &self.weights.stft.kind())
            .finish()
    }
}

/// The network's weights, packed for the kernel.
struct Weights {
    /// The name prefix of the 8 kHz tensors in the file.
    prefix: String,
    stft: Stft,
    encoder: [Conv; 4],
    /// Input and hidden weights side by side: gates = W [x; h] + b.
    lstm: Packed,
    decoder_w: Vec<f32>,
    decoder_b: f32,
}

/// How the STFT magnitude is computed.
enum Stft {
    /// The model's basis is the periodic-Hann DFT: an FFT gives the same
    /// values to within float rounding.
    Fft(Box<Fft128>),
    /// Any other basis: applied as the strided convolution the graph has.
    Basis(Packed),
}

impl Stft {
    fn kind(&self) -> &'static str {
        match self {
            Stft::Fft(_) => "fft",
            Stft::Basis(_) => "basis",
        }
    }
}

impl SileroModel {
    /// Loads the 8 kHz network from the bytes of a Silero ONNX file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SileroError> {
        Self::load(bytes, true)
    }

    /// Loads the 8 kHz network from a reader over a Silero ONNX file (read
    /// whole, at most [`onnx::MAX_MODEL_BYTES`]).
    pub fn from_reader(reader: impl Read) -> Result<Self, SileroError> {
        Self::from_bytes(&onnx::read_model(reader)?)
    }

    /// As [`from_bytes`](Self::from_bytes), with the FFT allowed or not
    /// (the tests compare both STFT paths).
    fn load(bytes: &[u8], allow_fft: bool) -> Result<Self, SileroError> {
        let suffixes = suffixes();
        let tensors =
            onnx::float_tensors(bytes, |name| suffixes.iter().any(|s| name.ends_with(s)))?;
        let mut first_missing = None;
        for basis in tensors
            .iter()
            .filter(|t| t.name.ends_with(BASIS) && t.dims == [130, 1, 128])
        {
            let prefix = &basis.name[..basis.name.len() - BASIS.len()];
            match Weights::build(prefix, &tensors, allow_fft) {
                Ok(w) => {
                    return Ok(SileroModel {
                        weights: Arc::new(w),
                    })
                }
                Err(e @ SileroError::MissingTensor { .. }) => {
                    first_missing.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(first_missing.unwrap_or(SileroError::No8k))
    }

    /// Whether `other` is a handle on the same loaded weights.
    pub fn same_weights(&self, other: &SileroModel) -> bool {
        Arc::ptr_eq(&self.weights, &other.weights)
    }

    /// How the STFT runs: `"fft"` or `"basis"` (for reports and tests).
    pub fn stft_kind(&self) -> &'static str {
        self.weights.stft.kind()
    }
}

fn suffixes() -> Vec<String> {
    let mut s: Vec<String> = [BASIS, DECODER_W, DECODER_B, W_IH, W_HH, B_IH, B_HH]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for layer in 0..ENCODER.len() {
        s.push(encoder_name(layer, "weight"));
        s.push(encoder_name(layer, "bias"));
    }
    s
}

fn encoder_name(layer: usize, what: &str) -> String {
    format!("encoder.{layer}.reparam_conv.{what}")
}

impl Weights {
    fn build(prefix: &str, tensors: &[FloatTensor], allow_fft: bool) -> Result<Self, SileroError> {
        let get = |suffix: &str, dims: &[usize]| -> Result<&[f32], SileroError> {
            let name = format!("{prefix}{suffix}");
            let t = tensors
                .iter()
                .find(|t| t.name == name)
                .ok_or_else(|| SileroError::MissingTensor { name: name.clone() })?;
            if t.dims != dims {
                return Err(SileroError::WrongShape {
                    name,
                    expected: dims.to_vec(),
                    found: t.dims.clone(),
                });
            }
            if !t.data.iter().all(|v| v.is_finite()) {
                return Err(SileroError::NotFinite { name });
            }
            Ok(&t.data)
        };
        let basis = get(BASIS, &[2 * BINS, 1, N_FFT])?;
        let layer = |n: usize| -> Result<Conv, SileroError> {
            let (c_in, c_out, stride) = ENCODER[n];
            let w = get(&encoder_name(n, "weight"), &[c_out, c_in, 3])?;
            let b = get(&encoder_name(n, "bias"), &[c_out])?;
            // Rows tap-major (row = tap * c_in + channel), so that the three
            // taps of an output read one contiguous run of time-major input.
            let packed = Packed::new(c_out, 3 * c_in, b, |o, r| {
                w[(o * c_in + r % c_in) * 3 + r / c_in]
            });
            Ok(Conv {
                packed,
                c_in,
                stride,
            })
        };
        let encoder = [layer(0)?, layer(1)?, layer(2)?, layer(3)?];
        let w_ih = get(W_IH, &[4 * HIDDEN, HIDDEN])?;
        let w_hh = get(W_HH, &[4 * HIDDEN, HIDDEN])?;
        let b_ih = get(B_IH, &[4 * HIDDEN])?;
        let b_hh = get(B_HH, &[4 * HIDDEN])?;
        let bias: Vec<f32> = b_ih.iter().zip(b_hh).map(|(a, b)| a + b).collect();
        let lstm = Packed::new(4 * HIDDEN, 2 * HIDDEN, &bias, |o, r| {
            if r < HIDDEN {
                w_ih[o * HIDDEN + r]
            } else {
                w_hh[o * HIDDEN + r - HIDDEN]
            }
        });
        let decoder_w = get(DECODER_W, &[1, HIDDEN, 1])?.to_vec();
        let decoder_b = get(DECODER_B, &[1])?[0];
        let stft = if allow_fft && is_hann_dft(basis) {
            Stft::Fft(Box::new(Fft128::new()))
        } else {
            Stft::Basis(Packed::new(2 * BINS, N_FFT, &[0.0; 2 * BINS], |o, i| {
                basis[o * N_FFT + i]
            }))
        };
        Ok(Weights {
            prefix: prefix.to_string(),
            stft,
            encoder,
            lstm,
            decoder_w,
            decoder_b,
        })
    }
}

/// Whether `basis` ([130][128]: 65 real rows, then 65 imaginary) is the
/// periodic-Hann-windowed DFT, to within float rounding of its entries.
fn is_hann_dft(basis: &[f32]) -> bool {
    let tolerance = 1e-6;
    (0..BINS).all(|k| {
        (0..N_FFT).all(|n| {
            let w = 0.5 - 0.5 * (std::f64::consts::TAU * n as f64 / N_FFT as f64).cos();
            let phase = std::f64::consts::TAU * (k * n % N_FFT) as f64 / N_FFT as f64;
            let re = w * phase.cos();
            let im = -w * phase.sin();
            (f64::from(basis[k * N_FFT + n]) - re).abs() < tolerance
                && (f64::from(basis[(BINS + k) * N_FFT + n]) - im).abs() < tolerance
        })
    })
}

/// A dense layer, `out = bias + W x`, with W packed for [`Packed::apply`]:
/// outputs in blocks of [`BLOCK`], each block's weights input-major, so the
/// kernel streams them once with the block's sums in registers.
struct Packed {
    n_in: usize,
    /// Outputs, rounded up to a whole block (extra ones are zero).
    n_out: usize,
    w: Vec<f32>,
    bias: Vec<f32>,
}

impl Packed {
    fn new(n_out: usize, n_in: usize, bias: &[f32], get: impl Fn(usize, usize) -> f32) -> Self {
        let blocks = n_out.div_ceil(BLOCK);
        let mut w = vec![0.0; blocks * n_in * BLOCK];
        for o in 0..n_out {
            let (blk, j) = (o / BLOCK, o % BLOCK);
            for i in 0..n_in {
                w[(blk * n_in + i) * BLOCK + j] = get(o, i);
            }
        }
        let mut padded_bias = bias.to_vec();
        padded_bias.resize(blocks * BLOCK, 0.0);
        Packed {
            n_in,
            n_out: blocks * BLOCK,
            w,
            bias: padded_bias,
        }
    }

    /// `out = bias + W[:, rows] x` over the inputs `rows` only (the others
    /// are zero: padding), `x` holding those inputs. `out` has `n_out` values.
    fn apply(&self, rows: Range<usize>, x: &[f32], out: &mut [f32]) {
        debug_assert_eq!(x.len(), rows.len());
        debug_assert_eq!(out.len(), self.n_out);
        let (blocks, _) = out.as_chunks_mut::<BLOCK>();
        let (biases, _) = self.bias.as_chunks::<BLOCK>();
        for (blk, (o, b)) in blocks.iter_mut().zip(biases).enumerate() {
            let base = blk * self.n_in;
            let w = &self.w[(base + rows.start) * BLOCK..(base + rows.end) * BLOCK];
            let (w, _) = w.as_chunks::<BLOCK>();
            let mut acc = *b;
            for (wi, &xi) in w.iter().zip(x) {
                for j in 0..BLOCK {
                    acc[j] += wi[j] * xi;
                }
            }
            *o = acc;
        }
    }
}

/// A 128-point real FFT of Hann-windowed frames, as 65 magnitudes: a 64-point
/// complex radix-2 FFT of the even/odd samples, then the split step.
struct Fft128 {
    window: [f32; N_FFT],
    /// e^{-2πik/64} for k < 32 (the 64-point FFT's twiddles).
    twiddle64: [(f32, f32); 32],
    /// e^{-2πik/128} for k <= 64 (the split step's).
    twiddle128: [(f32, f32); BINS],
    /// Bit-reversal permutation of 0..64.
    bitrev: [u8; 64],
}

impl Fft128 {
    fn new() -> Self {
        let tau = std::f64::consts::TAU;
        let mut window = [0.0; N_FFT];
        for (n, w) in window.iter_mut().enumerate() {
            *w = (0.5 - 0.5 * (tau * n as f64 / N_FFT as f64).cos()) as f32;
        }
        let mut twiddle64 = [(0.0, 0.0); 32];
        for (k, t) in twiddle64.iter_mut().enumerate() {
            let a = -tau * k as f64 / 64.0;
            *t = (a.cos() as f32, a.sin() as f32);
        }
        let mut twiddle128 = [(0.0, 0.0); BINS];
        for (k, t) in twiddle128.iter_mut().enumerate() {
            let a = -tau * k as f64 / N_FFT as f64;
            *t = (a.cos() as f32, a.sin() as f32);
        }
        let mut bitrev = [0u8; 64];
        for (i, r) in bitrev.iter_mut().enumerate() {
            *r = (i as u8).reverse_bits() >> 2;
        }
        Fft128 {
            window,
            twiddle64,
            twiddle128,
            bitrev,
        }
    }

    /// Magnitudes of the 65 bins of `frame` (128 samples) into `mag`.
    fn magnitudes(&self, frame: &[f32], mag: &mut [f32]) {
        // z[m] = x[2m] + i x[2m+1], windowed, in bit-reversed order.
        let mut re = [0.0f32; 64];
        let mut im = [0.0f32; 64];
        for (m, &r) in self.bitrev.iter().enumerate() {
            let r = r as usize;
            re[m] = frame[2 * r] * self.window[2 * r];
            im[m] = frame[2 * r + 1] * self.window[2 * r + 1];
        }
        let mut half = 1;
        while half < 64 {
            let step = 32 / half;
            for start in (0..64).step_by(2 * half) {
                for j in 0..half {
                    let (wr, wi) = self.twiddle64[j * step];
                    let (a, b) = (start + j, start + j + half);
                    let tr = re[b] * wr - im[b] * wi;
                    let ti = re[b] * wi + im[b] * wr;
                    re[b] = re[a] - tr;
                    im[b] = im[a] - ti;
                    re[a] += tr;
                    im[a] += ti;
                }
            }
            half *= 2;
        }
        // X[k] = E[k] + W^k O[k], E[k] = (Z[k] + conj Z[64-k]) / 2,
        // O[k] = (Z[k] - conj Z[64-k]) / 2i.
        for (k, m) in mag.iter_mut().enumerate().take(BINS) {
            let (zr, zi) = (re[k % 64], im[k % 64]);
            let (cr, ci) = (re[(64 - k) % 64], -im[(64 - k) % 64]);
            let (er, ei) = (0.5 * (zr + cr), 0.5 * (zi + ci));
            // (Z - conj Z') / 2i = (dr + i di) / 2i = (di - i dr) / 2.
            let (or, oi) = (0.5 * (zi - ci), -0.5 * (zr - cr));
            let (wr, wi) = self.twiddle128[k];
            let xr = er + or * wr - oi * wi;
            let xi = ei + or * wi + oi * wr;
            *m = (xr * xr + xi * xi).sqrt();
        }
    }
}

/// Streaming Silero probabilities over 8 kHz audio: `push` samples in any
/// chunks, get one [`SpeechProb`] per [`WINDOW`] samples, `finish` for the
/// last partial window. The same input gives the same probabilities however
/// it is chunked. `Send`; one per stream, all sharing one [`SileroModel`].
pub struct SileroStream {
    weights: Arc<Weights>,
    /// Context then the window being filled.
    input: [f32; INPUT],
    /// New samples in `input` after the context.
    filled: usize,
    /// First sample of the window being filled.
    start: u64,
    /// LSTM input then hidden state: the LSTM reads them as one vector.
    xh: [f32; 2 * HIDDEN],
    cell: [f32; HIDDEN],
    scratch: Box<Scratch>,
}

impl std::fmt::Debug for SileroStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SileroStream")
            .field("start", &self.start)
            .field("filled", &self.filled)
            .finish()
    }
}

/// The per-window working buffers. Activations are time-major with one zero
/// row before and after (the convolutions' padding).
struct Scratch {
    padded: [f32; PADDED],
    /// The STFT basis outputs (padded to whole blocks).
    basis_out: Vec<f32>,
    mag: [f32; (FRAMES + 2) * BINS],
    enc0: [f32; (FRAMES + 2) * 128],
    enc1: [f32; (FRAMES / 2 + 2) * 64],
    enc2: [f32; (FRAMES / 4 + 2) * 64],
    /// The encoder's output (one time row, padded like the others).
    enc3: [f32; 3 * HIDDEN],
    out128: [f32; 128],
    out64: [f32; 64],
    gates: [f32; 4 * HIDDEN],
}

impl SileroStream {
    /// A stream at sample 0 with the network's state at rest.
    pub fn new(model: &SileroModel) -> Self {
        let basis_len = match &model.weights.stft {
            Stft::Basis(p) => p.n_out,
            Stft::Fft(_) => 0,
        };
        SileroStream {
            weights: Arc::clone(&model.weights),
            input: [0.0; INPUT],
            filled: 0,
            start: 0,
            xh: [0.0; 2 * HIDDEN],
            cell: [0.0; HIDDEN],
            scratch: Box::new(Scratch {
                padded: [0.0; PADDED],
                basis_out: vec![0.0; basis_len],
                mag: [0.0; (FRAMES + 2) * BINS],
                enc0: [0.0; (FRAMES + 2) * 128],
                enc1: [0.0; (FRAMES / 2 + 2) * 64],
                enc2: [0.0; (FRAMES / 4 + 2) * 64],
                enc3: [0.0; 3 * HIDDEN],
                out128: [0.0; 128],
                out64: [0.0; 64],
                gates: [0.0; 4 * HIDDEN],
            }),
        }
    }

    /// Feeds 8 kHz samples (full scale ±1.0; NaN and infinities count as 0)
    /// and appends the probability of every window they complete to `out`.
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<SpeechProb>) {
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (WINDOW - self.filled).min(rest.len());
            let dst = &mut self.input[CONTEXT + self.filled..CONTEXT + self.filled + take];
            for (d, &s) in dst.iter_mut().zip(&rest[..take]) {
                *d = if s.is_finite() { s } else { 0.0 };
            }
            self.filled += take;
            rest = &rest[take..];
            if self.filled == WINDOW {
                self.window(out);
            }
        }
    }

    /// Ends the stream: a partial last window is zero-padded and its
    /// probability appended (as Silero's own tools do); then the stream is
    /// reset to sample 0 and a resting state, ready for a new stream.
    pub fn finish(&mut self, out: &mut Vec<SpeechProb>) {
        if self.filled > 0 {
            self.input[CONTEXT + self.filled..].fill(0.0);
            self.window(out);
        }
        self.input = [0.0; INPUT];
        self.start = 0;
        self.xh = [0.0; 2 * HIDDEN];
        self.cell = [0.0; HIDDEN];
    }

    /// Runs the network on the full window in `input`.
    fn window(&mut self, out: &mut Vec<SpeechProb>) {
        let prob = self.forward();
        out.push(SpeechProb {
            start: self.start,
            prob,
        });
        self.start += WINDOW as u64;
        self.filled = 0;
        self.input.copy_within(WINDOW.., 0);
    }

    fn forward(&mut self) -> f32 {
        let w = &*self.weights;
        let s = &mut *self.scratch;
        // Reflect padding: padded[INPUT + j] = input[INPUT - 2 - j].
        s.padded[..INPUT].copy_from_slice(&self.input);
        for j in 0..PADDED - INPUT {
            s.padded[INPUT + j] = self.input[INPUT - 2 - j];
        }
        for f in 0..FRAMES {
            let frame = &s.padded[f * HOP..f * HOP + N_FFT];
            let mag = &mut s.mag[(f + 1) * BINS..(f + 2) * BINS];
            match &w.stft {
                Stft::Fft(fft) => fft.magnitudes(frame, mag),
                Stft::Basis(basis) => {
                    basis.apply(0..N_FFT, frame, &mut s.basis_out);
                    for (k, m) in mag.iter_mut().enumerate() {
                        let (re, im) = (s.basis_out[k], s.basis_out[BINS + k]);
                        *m = (re * re + im * im).sqrt();
                    }
                }
            }
        }
        let [enc0, enc1, enc2, enc3] = &w.encoder;
        enc0.run(FRAMES, &s.mag, &mut s.out128, &mut s.enc0);
        enc1.run(FRAMES, &s.enc0, &mut s.out64, &mut s.enc1);
        enc2.run(FRAMES / 2, &s.enc1, &mut s.out64, &mut s.enc2);
        enc3.run(FRAMES / 4, &s.enc2, &mut s.out128, &mut s.enc3);
        self.xh[..HIDDEN].copy_from_slice(&s.enc3[HIDDEN..2 * HIDDEN]);

        w.lstm.apply(0..2 * HIDDEN, &self.xh, &mut s.gates);
        let (i_g, rest) = s.gates.split_at(HIDDEN);
        let (f_g, rest) = rest.split_at(HIDDEN);
        let (g_g, o_g) = rest.split_at(HIDDEN);
        let mut logit = w.decoder_b;
        for j in 0..HIDDEN {
            let c = sigmoid(f_g[j]) * self.cell[j] + sigmoid(i_g[j]) * g_g[j].tanh();
            let h = sigmoid(o_g[j]) * c.tanh();
            self.cell[j] = c;
            self.xh[HIDDEN + j] = h;
            logit += h.max(0.0) * w.decoder_w[j];
        }
        sigmoid(logit)
    }
}

/// A 3-tap convolution layer (padding 1) followed by ReLU.
struct Conv {
    /// Rows tap-major: row `tap * c_in + channel`.
    packed: Packed,
    c_in: usize,
    stride: usize,
}

impl Conv {
    /// Runs over time-major `input` (`t_in` rows of `c_in`, with a zero row
    /// before and after) into `output` (same layout, rows of `row.len()`,
    /// the layer's width). Taps that fall on the padding are skipped.
    fn run(&self, t_in: usize, input: &[f32], row: &mut [f32], output: &mut [f32]) {
        let (c_in, c_out) = (self.c_in, row.len());
        let t_out = (t_in - 1) / self.stride + 1;
        for t in 0..t_out {
            // Tap k reads padded row t * stride + k; rows 1..=t_in are real.
            let first = t * self.stride;
            let k_lo = 1usize.saturating_sub(first);
            let k_hi = 3.min(t_in + 1 - first);
            let x = &input[(first + k_lo) * c_in..(first + k_hi) * c_in];
            self.packed.apply(k_lo * c_in..k_hi * c_in, x, row);
            let out = &mut output[(t + 1) * c_out..(t + 2) * c_out];
            for (o, &v) in out.iter_mut().zip(row.iter()) {
                *o = v.max(0.0);
            }
        }
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
pub(crate) mod tests;
