//! Tests of the Silero forward pass: the kernels against plain formulas, a
//! synthetic model (seeded random weights, the real basis) for loading errors,
//! chunking and the two STFT paths, and the real model against onnxruntime's
//! probabilities (`testdata/silero/`), which needs `VOXCAP_SILERO_MODEL`.

use super::*;
use crate::vad::onnx::testing::model_of_initializers;

/// The environment variable naming the real model for [`matches_onnxruntime`].
const MODEL_ENV: &str = "VOXCAP_SILERO_MODEL";

#[test]
fn fft_matches_the_dft_basis() {
    let fft = Fft128::new();
    let mut rng = crate::synth::Rng::new(7);
    let frame: Vec<f32> = (0..N_FFT)
        .map(|_| rng.next_f64() as f32 * 2.0 - 1.0)
        .collect();
    let mut got = [0.0f32; BINS];
    fft.magnitudes(&frame, &mut got);
    for (k, &g) in got.iter().enumerate() {
        let (mut re, mut im) = (0.0f64, 0.0f64);
        for (n, &x) in frame.iter().enumerate() {
            let w = 0.5 - 0.5 * (std::f64::consts::TAU * n as f64 / 128.0).cos();
            let a = std::f64::consts::TAU * (k * n) as f64 / 128.0;
            re += f64::from(x) * w * a.cos();
            im -= f64::from(x) * w * a.sin();
        }
        let want = (re * re + im * im).sqrt();
        assert!((f64::from(g) - want).abs() < 1e-5, "bin {k}: {g} vs {want}");
    }
}

#[test]
fn packed_apply_is_a_matrix_vector_product_over_the_rows_asked() {
    let (n_out, n_in) = (40, 7);
    let m = |o: usize, i: usize| (o * 7 + i) as f32 * 0.01 - 1.0;
    let bias: Vec<f32> = (0..n_out).map(|o| o as f32).collect();
    let p = Packed::new(n_out, n_in, &bias, m);
    assert_eq!(p.n_out, 64);
    let x = [0.5, -1.0, 2.0];
    let mut out = vec![0.0; p.n_out];
    p.apply(2..5, &x, &mut out);
    for o in 0..n_out {
        let want = bias[o] + (0..3).map(|k| m(o, 2 + k) * x[k]).sum::<f32>();
        assert!((out[o] - want).abs() < 1e-5, "{o}");
    }
    assert!(out[n_out..].iter().all(|&v| v == 0.0));
}

/// The 8 kHz tensors (suffix, shape) of a Silero file.
fn shapes() -> Vec<(String, Vec<u64>)> {
    let mut v = vec![(BASIS.to_string(), vec![130, 1, 128])];
    for (n, &(c_in, c_out, _)) in ENCODER.iter().enumerate() {
        v.push((
            encoder_name(n, "weight"),
            vec![c_out as u64, c_in as u64, 3],
        ));
        v.push((encoder_name(n, "bias"), vec![c_out as u64]));
    }
    v.push((W_IH.to_string(), vec![512, 128]));
    v.push((W_HH.to_string(), vec![512, 128]));
    v.push((B_IH.to_string(), vec![512]));
    v.push((B_HH.to_string(), vec![512]));
    v.push((DECODER_W.to_string(), vec![1, 128, 1]));
    v.push((DECODER_B.to_string(), vec![1]));
    v
}

/// The periodic-Hann DFT basis, [130][128], as Silero stores it.
fn hann_basis() -> Vec<f32> {
    let mut b = vec![0.0f32; 130 * 128];
    for k in 0..BINS {
        for n in 0..N_FFT {
            let w = 0.5 - 0.5 * (std::f64::consts::TAU * n as f64 / 128.0).cos();
            let a = std::f64::consts::TAU * (k * n) as f64 / 128.0;
            b[k * 128 + n] = (w * a.cos()) as f32;
            b[(BINS + k) * 128 + n] = (-w * a.sin()) as f32;
        }
    }
    b
}

/// A Silero-shaped model under `prefix` with seeded weights scaled by fan-in
/// (so that the probabilities move), each tensor passed through `edit`
/// (which may drop it by returning false).
fn synthetic(prefix: &str, edit: impl Fn(&str, &mut Vec<u64>, &mut Vec<f32>) -> bool) -> Vec<u8> {
    let mut rng = crate::synth::Rng::new(15);
    let mut tensors = Vec::new();
    for (suffix, mut dims) in shapes() {
        let n: u64 = dims.iter().product();
        let fan_in = if dims.len() > 1 {
            dims[1..].iter().product::<u64>()
        } else {
            16
        };
        let scale = 2.0 / (fan_in as f64).sqrt();
        let mut data: Vec<f32> = if suffix == BASIS {
            hann_basis()
        } else {
            (0..n)
                .map(|_| ((rng.next_f64() * 2.0 - 1.0) * scale) as f32)
                .collect()
        };
        if edit(&suffix, &mut dims, &mut data) {
            tensors.push((format!("{prefix}{suffix}"), dims, data));
        }
    }
    model_of_initializers(&tensors)
}

fn keep(_: &str, _: &mut Vec<u64>, _: &mut Vec<f32>) -> bool {
    true
}

/// A Silero-shaped model with seeded weights (probabilities that move).
pub(crate) fn seeded_model() -> SileroModel {
    SileroModel::from_bytes(&synthetic("model_8k.", keep)).expect("the synthetic model loads")
}

/// A Silero-shaped model whose output ignores the audio: the decoder's
/// weights are zero and its bias is `logit`, so every window's probability
/// is `sigmoid(logit)` (for the fusion tests: a model that calls everything
/// speech, or nothing).
pub(crate) fn constant_model(logit: f32) -> SileroModel {
    let bytes = synthetic("model_8k.", |name, _, data| {
        if name == DECODER_W {
            data.iter_mut().for_each(|v| *v = 0.0);
        } else if name == DECODER_B {
            data[0] = logit;
        }
        true
    });
    SileroModel::from_bytes(&bytes).expect("the synthetic model loads")
}

/// Three seconds of a seeded test signal: noise with a gliding tone burst.
fn signal() -> Vec<f32> {
    let mut rng = crate::synth::Rng::new(3);
    (0..24_000)
        .map(|i| {
            let t = i as f32 / 8000.0;
            let burst = if (8000..16000).contains(&i) {
                0.3 * (t * (900.0 + 400.0 * t) * std::f32::consts::TAU).sin()
            } else {
                0.0
            };
            burst + 0.02 * (rng.next_f64() as f32 - 0.5)
        })
        .collect()
}

fn run(model: &SileroModel, x: &[f32], chunk: usize) -> Vec<SpeechProb> {
    let mut stream = SileroStream::new(model);
    let mut out = Vec::new();
    for c in x.chunks(chunk.max(1)) {
        stream.push(c, &mut out);
    }
    stream.finish(&mut out);
    out
}

#[test]
fn chunking_does_not_change_the_probabilities() {
    let model = SileroModel::from_bytes(&synthetic("model_8k.", keep)).unwrap();
    let x = signal();
    let whole = run(&model, &x, x.len());
    assert_eq!(whole.len(), x.len().div_ceil(WINDOW));
    for (k, p) in whole.iter().enumerate() {
        assert_eq!(p.start, (k * WINDOW) as u64);
        assert!((0.0..=1.0).contains(&p.prob), "{p:?}");
    }
    let spread = whole.iter().map(|p| p.prob).fold(f32::NAN, f32::max)
        - whole.iter().map(|p| p.prob).fold(f32::NAN, f32::min);
    assert!(
        spread > 0.01,
        "the synthetic network should react to the burst: {spread}"
    );
    for chunk in [1, 160, 255, 256, 257, 1024] {
        assert_eq!(run(&model, &x, chunk), whole, "chunk {chunk}");
    }
}

#[test]
fn finish_resets_the_stream_for_the_next_one() {
    let model = SileroModel::from_bytes(&synthetic("model_8k.", keep)).unwrap();
    let x = signal();
    let mut stream = SileroStream::new(&model);
    let (mut first, mut second) = (Vec::new(), Vec::new());
    stream.push(&x, &mut first);
    stream.finish(&mut first);
    stream.push(&x, &mut second);
    stream.finish(&mut second);
    assert_eq!(first, second);
    let mut none = Vec::new();
    stream.finish(&mut none);
    assert!(none.is_empty(), "nothing pushed, nothing emitted");
}

#[test]
fn non_finite_samples_count_as_silence() {
    let model = SileroModel::from_bytes(&synthetic("model_8k.", keep)).unwrap();
    let mut x = signal();
    let mut zeroed = x.clone();
    for i in [5, 9000, 9001, 20000] {
        x[i] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::NAN][i % 4];
        zeroed[i] = 0.0;
    }
    assert_eq!(run(&model, &x, 512), run(&model, &zeroed, 512));
}

#[test]
fn fft_and_basis_paths_agree() {
    let bytes = synthetic("If_0_else_branch__Inline_0__", keep);
    let fft = SileroModel::load(&bytes, true).unwrap();
    let basis = SileroModel::load(&bytes, false).unwrap();
    assert_eq!((fft.stft_kind(), basis.stft_kind()), ("fft", "basis"));
    let x = signal();
    let (a, b) = (run(&fft, &x, 1000), run(&basis, &x, 1000));
    let diff = a
        .iter()
        .zip(&b)
        .map(|(p, q)| (p.prob - q.prob).abs())
        .fold(0.0, f32::max);
    assert!(diff < 1e-5, "fft vs basis: {diff}");
}

#[test]
fn a_basis_that_is_not_the_hann_dft_runs_as_a_convolution() {
    let bytes = synthetic("model_8k.", |s, _, d| {
        if s == BASIS {
            d[7] += 0.01;
        }
        true
    });
    assert_eq!(
        SileroModel::from_bytes(&bytes).unwrap().stft_kind(),
        "basis"
    );
}

#[test]
fn the_8k_network_is_picked_beside_a_16k_one() {
    let mut bytes16 = synthetic("model.", |s, dims, d| {
        if s == BASIS {
            *dims = vec![258, 1, 256];
            d.resize(258 * 256, 0.0);
        }
        true
    });
    let bytes8 = synthetic("model_8k.", keep);
    // Both graphs' initializers in one graph: splice the second graph's
    // fields after the first's, as one model (a graph field each).
    bytes16.extend_from_slice(&bytes8[2..]);
    let model = SileroModel::from_bytes(&bytes16).unwrap();
    assert_eq!(model.weights.prefix, "model_8k.");
}

#[test]
fn bad_models_are_named_errors() {
    let nan_bias = synthetic("m.", |s, _, d| {
        if s == B_HH {
            d[3] = f32::NAN;
        }
        true
    });
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "missing",
            synthetic("m.", |s, _, _| s != W_HH),
            "lacks tensor \"m.decoder.rnn.weight_hh\"",
        ),
        (
            "shape",
            synthetic("m.", |s, dims, _| {
                if s == DECODER_B {
                    *dims = vec![1, 1];
                }
                true
            }),
            "tensor \"m.decoder.decoder.2.bias\" has shape [1, 1], expected [1]",
        ),
        (
            "nan",
            nan_bias,
            "tensor \"m.decoder.rnn.bias_hh\" holds a value that is not finite",
        ),
        (
            "no 8k",
            synthetic("m.", |s, _, _| s != BASIS),
            "no 8 kHz Silero network",
        ),
        (
            "not onnx",
            b"hello, world".to_vec(),
            "not a valid ONNX model",
        ),
    ];
    for (what, bytes, expected) in cases {
        let err = SileroModel::from_bytes(&bytes).unwrap_err().to_string();
        assert!(err.contains(expected), "{what}: {err}");
    }
}

#[test]
fn truncated_or_corrupted_models_give_errors_not_panics() {
    let bytes = synthetic("model_8k.", keep);
    let mut rng = crate::synth::Rng::new(99);
    for _ in 0..200 {
        let cut = (rng.next_u64() % bytes.len() as u64) as usize;
        assert!(
            SileroModel::from_bytes(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
        let mut corrupt = bytes.clone();
        let at = (rng.next_u64() % 4096) as usize;
        corrupt[at] ^= 1 << (rng.next_u64() % 8);
        let _ = SileroModel::from_bytes(&corrupt);
    }
}

/// The real model (either file of the wheel) against onnxruntime 1.23.2 on
/// the committed speech fixtures (see `testdata/silero/README.md`): every
/// probability within 1e-4.
#[test]
#[allow(clippy::print_stdout)]
fn matches_onnxruntime() {
    let path = std::env::var_os(MODEL_ENV).unwrap_or_else(|| {
        panic!(
            "{MODEL_ENV} is not set: the `neural` feature's tests need Silero's model; point it \
             at silero_vad.onnx from the silero-vad 6.2.3 wheel \
             (scripts/speech-set/prepare.sh fetches it to target/corpus/speech-set/silero/)"
        )
    });
    let path = std::path::PathBuf::from(path);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let model =
        SileroModel::from_reader(file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(model.stft_kind(), "fft");
    // Each of the wheel's two files has its own weights and its own reference.
    let ref_name = match model.weights.prefix.as_str() {
        "model_8k." => "ref-silero_vad_op18_ifless-6.2.3.json",
        _ => "ref-silero_vad-6.2.3.json",
    };
    let ref_path = format!(
        "{}/../../testdata/silero/{ref_name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ref_path).expect(&ref_path)).expect(&ref_path);
    let fixtures = voxcap_testkit::speech::speech_fixtures();
    let clip = |name: &str| -> &[f32] {
        &fixtures
            .iter()
            .find(|f| f.file_name == name)
            .unwrap_or_else(|| panic!("fixture {name}"))
            .samples
    };
    let order: Vec<&str> = reference["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        order.len(),
        fixtures.len(),
        "the reference covers every fixture"
    );
    let concat: Vec<f32> = order.iter().flat_map(|n| clip(n).iter().copied()).collect();
    let quiet: Vec<f32> = concat.iter().map(|v| v * 0.01).collect();
    let mut cases: Vec<(String, Vec<f32>, &serde_json::Value)> = order
        .iter()
        .map(|n| (n.to_string(), clip(n).to_vec(), &reference["fixtures"][n]))
        .collect();
    cases.push(("concat".into(), concat, &reference["concat"]));
    cases.push(("concat_quiet".into(), quiet, &reference["concat_quiet"]));
    let mut worst = 0.0f64;
    for (name, x, want) in &cases {
        let want: Vec<f64> = want
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no reference"))
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let got = run(&model, x, 4096);
        assert_eq!(got.len(), want.len(), "{name}: windows");
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            let d = (f64::from(g.prob) - w).abs();
            worst = worst.max(d);
            assert!(
                d < 1e-4,
                "{name}: window {k} (sample {}): {} vs onnxruntime {w}",
                g.start,
                g.prob
            );
        }
    }
    // Shown with --nocapture: the figure the module docs quote.
    println!(
        "max |rust - onnxruntime| = {worst:.2e} over {} cases",
        cases.len()
    );
}

#[test]
fn streams_and_models_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<SileroModel>();
    send_sync::<SileroStream>();
}
