#!/usr/bin/env python3
"""Reference Silero probabilities for voxcap's pure-Rust forward pass (vad::silero).

usage: make-ref.py MODEL.onnx > ref-silero_vad-6.2.3.json
(MODEL.onnx from the silero-vad 6.2.3 wheel, as scripts/speech-set/prepare.sh fetches it;
run with a python that has onnxruntime and numpy, e.g. target/speech-venv/bin/python.)

Cases, every one a fresh stream at 8 kHz (window 256, context 32, state zeros), the last
partial window zero-padded, exactly as scripts/speech-set/silero.py runs the model:
  fixtures      each testdata/speech/*.wav on its own
  concat        all of them end to end, in the order of "order" (one long stream)
  concat_quiet  the same samples times float32(0.01) (-40 dB)
"""
import glob
import json
import os
import sys

import numpy as np
import onnxruntime

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts", "speech-set"))
from silero import probs, read  # noqa: E402


def main():
    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(sys.argv[1], sess_options=opts, providers=["CPUExecutionProvider"])
    paths = sorted(glob.glob(os.path.join(ROOT, "testdata", "speech", "*.wav")))
    clips = {os.path.basename(p): read(p) for p in paths}
    order = [os.path.basename(p) for p in paths]
    concat = np.concatenate([clips[name] for name in order])
    ref = {
        "model": os.path.basename(sys.argv[1]),
        "onnxruntime": onnxruntime.__version__,
        "order": order,
        "fixtures": {name: probs(session, x) for name, x in clips.items()},
        "concat": probs(session, concat),
        "concat_quiet": probs(session, concat * np.float32(0.01)),
    }
    json.dump(ref, sys.stdout, indent=0)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
