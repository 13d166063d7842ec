#!/usr/bin/env python3
"""Scores speech detectors on voxcap's evaluation set with one set of frame metrics.

usage: score.py SET_DIR HALF NAME=PREDICTIONS [NAME=PREDICTIONS ...] [--json OUT]

PREDICTIONS is either voxcap's `analyze --format json` output (NDJSON: `speech` and `trim`
in seconds) or a JSON object {file: {"speech": [[start_s, end_s], ...]}} (silero.py).

Metrics, per 10 ms frame (a frame is speech when spans cover at least half of it), micro-
averaged over the clips of a cell (noise x SNR): precision, recall, F1. Onsets: the truth
segment starts after a gap of at least 300 ms (and the first), each matched to the nearest
detected segment start; the error is |detected - truth| (an onset with no detected start
within 500 ms counts as 500 ms). False speech: detected frames on no-speech clips. Trim (for
detectors that trim; otherwise the first detected start to the last end): audible truth lost
(samples of truth outside the window), clips that lose any, and dead air removed beyond the
pads (lead - 150 ms and tail - 300 ms, voxcap's default pads).
"""
import json
import os
import sys
from collections import defaultdict

import numpy as np

RATE, FRAME = 8000, 80
PAD_START, PAD_END = int(0.150 * RATE), int(0.300 * RATE)


def load(path):
    with open(path) as f:
        text = f.read()
    if path.endswith(".json") and text.lstrip().startswith("{") and "\n{" not in text.strip():
        d = json.loads(text)
        return {k: {"speech": v["speech"], "trim": v.get("trim")} for k, v in d.items()}
    out = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        if "speech" not in r:
            continue
        key = r["file"]
        key = key[key.index("clips/"):] if "clips/" in key else key
        out[key] = {
            "speech": [[s["start_s"], s["end_s"]] for s in r["speech"]],
            "trim": [r["trim"]["start_s"], r["trim"]["end_s"]] if r.get("trim") else None,
        }
    return out


def frames(spans_samples, n):
    cover = np.zeros(n, dtype=np.int8)
    for s, e in spans_samples:
        cover[max(0, s) : max(0, min(n, e))] = 1
    nf = n // FRAME
    return cover[: nf * FRAME].reshape(nf, FRAME).sum(axis=1) * 2 >= FRAME


def onsets(truth):
    out, last_end = [], None
    for s, e in truth:
        if last_end is None or s - last_end >= int(0.3 * RATE):
            out.append(s)
        last_end = e
    return out


def score(manifest, half, preds):
    cells = defaultdict(lambda: [0, 0, 0])  # tp, fp, fn
    onset_err = defaultdict(list)
    false_frames, nospeech = 0, 0
    trim = {"clips": 0, "cut": 0, "lost_samples": 0, "truth_samples": 0, "dead": 0, "removed": 0, "worst_cut_ms": 0.0, "cut_clips": []}
    missing = 0
    for clip in manifest["clips"]:
        if clip["half"] != half:
            continue
        p = preds.get(clip["file"])
        if p is None:
            missing += 1
            continue
        n = clip["samples"]
        det = [[int(round(s * RATE)), int(round(e * RATE))] for s, e in p["speech"]]
        d = frames(det, n)
        if clip["kind"] == "nospeech":
            false_frames += int(d.sum())
            nospeech += 1
            continue
        t = frames(clip["truth"], n)
        key = (clip["noise"], clip["snr_db"])
        extra = [("level:" + clip["level"], "any"), ("codec:" + clip["codec"], "any")]
        for k in [key, ("all", clip["snr_db"]) if clip["noise"] in ("white", "pink", "telephone") else None] + extra:
            if k is None:
                continue
            c = cells[k]
            c[0] += int((d & t).sum())
            c[1] += int((d & ~t).sum())
            c[2] += int((~d & t).sum())
        starts = [s for s, _ in det]
        for o in onsets(clip["truth"]):
            err = min([abs(s - o) for s in starts] + [int(0.5 * RATE)]) / RATE * 1000
            onset_err[clip["noise"]].append(err)
            onset_err["*"].append(err)
        # trim
        if p.get("trim") is not None:
            ws, we = int(round(p["trim"][0] * RATE)), int(round(p["trim"][1] * RATE))
        elif det:
            ws, we = det[0][0], det[-1][1]
        else:
            ws, we = 0, 0
        ts, te = clip["truth"][0][0], clip["truth"][-1][1]
        audible = clip.get("audible") or clip["truth"]
        lost = sum(max(0, e - s) - max(0, min(e, we) - max(s, ws)) for s, e in audible)
        if lost > 0:
            trim["cut_clips"].append([clip["file"], round(lost / RATE * 1000)])
        trim["clips"] += 1
        trim["truth_samples"] += sum(e - s for s, e in audible)
        trim["lost_samples"] += lost
        if lost > 0:
            trim["cut"] += 1
            trim["worst_cut_ms"] = max(trim["worst_cut_ms"], lost / RATE * 1000)
        lead_dead = max(0, ts - PAD_START)
        tail_dead = max(0, (n - te) - PAD_END)
        trim["dead"] += lead_dead + tail_dead
        trim["removed"] += min(lead_dead, max(0, ws)) + min(tail_dead, max(0, n - we))
    out = {"cells": {}, "onset_median_ms": {}, "false_speech_frames": false_frames, "nospeech_clips": nospeech, "missing": missing}
    for k, (tp, fp, fn) in sorted(cells.items(), key=lambda kv: (str(kv[0][0]), -(kv[0][1] if isinstance(kv[0][1], int) else 99))):
        pr = tp / (tp + fp) if tp + fp else 0.0
        rc = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * pr * rc / (pr + rc) if pr + rc else 0.0
        out["cells"][f"{k[0]}/{k[1]}"] = {"precision": round(pr, 4), "recall": round(rc, 4), "f1": round(f1, 4)}
    for k, v in onset_err.items():
        out["onset_median_ms"][k] = round(float(np.median(v)), 1)
    trim["kept"] = round(1 - trim["lost_samples"] / max(1, trim["truth_samples"]), 5)
    trim["dead_removed"] = round(trim["removed"] / max(1, trim["dead"]), 4)
    out["trim"] = trim
    return out


# Regression guards of --check, on the held-back half (docs/speech.md lists them with the
# figures they guard; the issue's own targets are higher and are reported, not guarded):
# voxcap ahead of or level with Silero at 30 and 20 dB in every noise, no false speech,
# the trim keeping >= 99.5% of the audible speech while removing >= 95% of the dead air,
# and onsets within 30 ms (median).
def check(results):
    v, peer = results["voxcap"], results.get("silero")
    failures = []
    if v["missing"]:
        failures.append(f"{v['missing']} clips have no voxcap result")
    if v["false_speech_frames"]:
        failures.append(f"{v['false_speech_frames']} false speech frames on no-speech clips")
    if v["trim"]["kept"] < 0.995:
        failures.append(f"trim keeps {v['trim']['kept']} of the audible speech (< 0.995)")
    if v["trim"]["dead_removed"] < 0.95:
        failures.append(f"trim removes {v['trim']['dead_removed']} of the dead air (< 0.95)")
    if v["onset_median_ms"].get("*", 1e9) > 30:
        failures.append(f"median onset error {v['onset_median_ms'].get('*')} ms (> 30)")
    if peer:
        for noise in ("white", "pink", "telephone", "babble", "all"):
            for snr in (30, 20):
                k = f"{noise}/{snr}"
                a, b = v["cells"][k]["f1"], peer["cells"][k]["f1"]
                if a + 0.005 < b:
                    failures.append(f"F1 {k}: voxcap {a} below Silero {b}")
    return failures


def main():
    args = sys.argv[1:]
    json_out = None
    do_check = "--check" in args
    if do_check:
        args.remove("--check")
    if "--json" in args:
        i = args.index("--json")
        json_out = args[i + 1]
        del args[i : i + 2]
    set_dir, half = args[0], args[1]
    manifest = json.load(open(os.path.join(set_dir, "manifest.json")))
    results = {}
    for spec in args[2:]:
        name, path = spec.split("=", 1)
        results[name] = score(manifest, half, load(path))
    names = list(results)
    keys = list(results[names[0]]["cells"])
    print(f"half: {half}")
    print("cell".ljust(16) + "".join(f"{n[:22]:>24}" for n in names))
    for k in keys:
        row = k.ljust(16)
        for n in names:
            c = results[n]["cells"].get(k, {})
            row += f"{c.get('precision', 0):>8.3f}{c.get('recall', 0):>8.3f}{c.get('f1', 0):>8.3f}"
        print(row)
    for label, f in [("onset median ms", lambda r: r["onset_median_ms"].get("*")),
                     ("false speech frames", lambda r: r["false_speech_frames"]),
                     ("trim kept", lambda r: r["trim"]["kept"]),
                     ("clips cut", lambda r: f"{r['trim']['cut']}/{r['trim']['clips']}"),
                     ("worst cut ms", lambda r: round(r["trim"]["worst_cut_ms"])),
                     ("dead air removed", lambda r: r["trim"]["dead_removed"]),
                     ("missing", lambda r: r["missing"])]:
        print(label.ljust(16) + "".join(f"{str(f(results[n])):>24}" for n in names))
    if json_out:
        with open(json_out + ".part", "w") as fh:
            json.dump(results, fh, indent=1)
        os.replace(json_out + ".part", json_out)
    if do_check:
        failures = check(results)
        for f in failures:
            print(f"speech-set check FAILED: {f}", file=sys.stderr)
        if failures:
            sys.exit(1)
        print("speech-set check: every guarded figure holds")


if __name__ == "__main__":
    main()
