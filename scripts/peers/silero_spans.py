#!/usr/bin/env python3
"""Silero VAD 6.2.3 as a peer of scripts/compare-peers.sh: its ONNX model under
onnxruntime (one thread) with its own get_speech_timestamps rules, the same
code as the speech set's peer (scripts/speech-set/silero.py), on the peer
corpus's speech clips.

usage: silero_spans.py MODEL.onnx OUT.json WAV...
Writes {"speed_samples_per_s": N, "clips": {path: [[start_s, end_s], ...]}}.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "speech-set"))
import onnxruntime  # noqa: E402
from silero import probs, read, timestamps  # noqa: E402


def main():
    model, out_path, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
    clips, samples, busy = {}, 0, 0.0
    for path in paths:
        x = read(path)
        t0 = time.process_time()
        ps = probs(session, x)
        busy += time.process_time() - t0
        samples += len(x)
        clips[path] = timestamps(ps, len(x))
    with open(out_path + ".part", "w") as f:
        json.dump({"speed_samples_per_s": samples / max(busy, 1e-9), "clips": clips}, f)
    os.replace(out_path + ".part", out_path)


if __name__ == "__main__":
    main()
