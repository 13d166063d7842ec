#!/usr/bin/env python3
"""Silero VAD 6.2.3 as a peer: its ONNX model under onnxruntime (one thread), its own
get_speech_timestamps rules (threshold 0.5, neg_threshold 0.35, min speech 250 ms, min
silence 100 ms, speech pad 30 ms), re-implemented from silero_vad/utils_vad.py without torch.

usage: silero.py MODEL.onnx SET_DIR HALF OUT.json   (HALF: tune, held or all)
Writes {file: {"speech": [[start_s, end_s], ...], "probs": [...]}} for every clip of HALF.
"""
import json
import os
import sys
import time
import wave

import numpy as np
import onnxruntime

RATE, WINDOW, CONTEXT = 8000, 256, 32


def read(path):
    with wave.open(path, "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def probs(session, x):
    state = np.zeros((2, 1, 128), dtype=np.float32)
    context = np.zeros((1, CONTEXT), dtype=np.float32)
    sr = np.array(RATE, dtype=np.int64)
    out = []
    for start in range(0, len(x), WINDOW):
        chunk = x[start : start + WINDOW]
        if len(chunk) < WINDOW:
            chunk = np.pad(chunk, (0, WINDOW - len(chunk)))
        inp = np.concatenate([context, chunk[None, :]], axis=1)
        p, state = session.run(None, {"input": inp, "state": state, "sr": sr})
        context = inp[:, -CONTEXT:]
        out.append(float(p[0][0]))
    return out


def timestamps(ps, n, threshold=0.5, min_speech_ms=250, min_silence_ms=100, pad_ms=30):
    min_speech = RATE * min_speech_ms / 1000
    pad = RATE * pad_ms / 1000
    min_silence = RATE * min_silence_ms / 1000
    neg = max(threshold - 0.15, 0.01)
    triggered, temp_end, speeches, cur = False, 0, [], {}
    for i, p in enumerate(ps):
        s = WINDOW * i
        if p >= threshold and temp_end:
            temp_end = 0
        if p >= threshold and not triggered:
            triggered, cur = True, {"start": s}
            continue
        if p < neg and triggered:
            if not temp_end:
                temp_end = s
            if s - temp_end < min_silence:
                continue
            cur["end"] = temp_end
            if cur["end"] - cur["start"] > min_speech:
                speeches.append(cur)
            cur, temp_end, triggered = {}, 0, False
    if cur and n - cur["start"] > min_speech:
        cur["end"] = n
        speeches.append(cur)
    for i, sp in enumerate(speeches):
        if i == 0:
            sp["start"] = int(max(0, sp["start"] - pad))
        if i != len(speeches) - 1:
            gap = speeches[i + 1]["start"] - sp["end"]
            if gap < 2 * pad:
                sp["end"] += int(gap // 2)
                speeches[i + 1]["start"] = int(max(0, speeches[i + 1]["start"] - gap // 2))
            else:
                sp["end"] = int(min(n, sp["end"] + pad))
                speeches[i + 1]["start"] = int(max(0, speeches[i + 1]["start"] - pad))
        else:
            sp["end"] = int(min(n, sp["end"] + pad))
    return [[sp["start"] / RATE, sp["end"] / RATE] for sp in speeches]


def main():
    model, set_dir, half, out_path = sys.argv[1:5]
    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
    manifest = json.load(open(os.path.join(set_dir, "manifest.json")))
    result, samples, busy = {}, 0, 0.0
    for clip in manifest["clips"]:
        if half != "all" and clip["half"] != half:
            continue
        x = read(os.path.join(set_dir, clip["file"]))
        t0 = time.process_time()
        ps = probs(session, x)
        busy += time.process_time() - t0
        samples += len(x)
        result[clip["file"]] = {"speech": timestamps(ps, len(x)), "probs": [round(p, 4) for p in ps]}
    tmp = out_path + ".part"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, out_path)
    print(f"silero: {len(result)} clips, {samples / RATE / 60:.1f} min, {samples / max(busy, 1e-9):.3g} samples/s CPU")


if __name__ == "__main__":
    main()
