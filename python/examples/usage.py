"""A tour of the voxcap API, type-checked by ``mypy --strict`` in the tests."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

import voxcap


def digits(report: Dict[str, Any]) -> str:
    return "".join(str(d["digit"]) for d in report["dtmf"])


def main(folder: Path) -> int:
    print("voxcap", voxcap.__version__)
    clip = folder / "pcm_s16le_8000_mono_dtmf_123hash.wav"
    report = voxcap.analyze(clip, stop_tones="#", reported="stopToneDetected", max_silence=5.0)
    print(report["file"], digits(report), report["completion"]["verdict"])

    with open(clip, "rb") as f:
        assert voxcap.analyze(f)["file"] is None
    assert voxcap.analyze(clip.read_bytes(), reported=8514)["dtmf"] == report["dtmf"]

    samples, rate = voxcap.decode(clip)
    peak: float = float(np.max(np.abs(samples)))
    print(f"{len(samples)} samples at {rate} Hz, peak {peak:.3f}")
    from_array = voxcap.analyze(samples, sample_rate=rate, pad_start_ms=0, pad_end_ms=0)
    print("from the array:", digits(from_array))

    analyzer = voxcap.Analyzer(rate, stop_tones=["#", "*"])
    live: List[str] = []
    for chunk in np.array_split(samples, 10):
        live += [str(d["digit"]) for d in analyzer.push(chunk)]
    streamed = analyzer.finish()
    print("streamed:", "".join(live), "then", digits(streamed))

    failures = 0
    for result in voxcap.analyze_many(sorted(folder.glob("*.wav")), jobs=2, lenient=True):
        if "error" in result:
            failures += 1
            print(result["file"], result["error"]["kind"])
    try:
        voxcap.analyze(io.BytesIO(b"not a wav"))
    except voxcap.DecodeError as e:
        print("refused:", e.kind, e.message)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
