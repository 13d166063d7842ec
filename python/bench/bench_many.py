"""Bench: analyze_many over 1,000 five-second 16 kHz clips with 2 jobs,
beside ``voxcap analyze -j 2 --format json`` on the same files, in one run.

Usage (release builds of both, as users get them):

    cargo build --release --bin voxcap
    python -m venv target/pybench && target/pybench/bin/pip install ./python
    VOXCAP_BIN=target/release/voxcap target/pybench/bin/python python/bench/bench_many.py

Each side runs in a fresh child process (so its peak RSS is its own),
alternately, ``--rounds`` times; the best wall time of each is reported as
clips per second, with the largest peak RSS seen. Targets: analyze_many at
least 90% of the CLI's clips/s, at most 150 MiB RSS.
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RATE = 16000
SECONDS = 5

CHILD = """
import sys, voxcap
n = 0
for r in voxcap.analyze_many([sys.argv[1]], jobs=2):
    assert "error" not in r, r
    n += 1
print(n)
"""


def clip(i: int, rng: np.random.Generator) -> np.ndarray:
    """Five seconds: noise, with a key press, a tone or a burst of babble."""
    n = RATE * SECONDS
    x = rng.normal(0, 0.01, n)
    t = np.arange(n) / RATE
    kind = i % 3
    if kind == 0:
        seg = slice(RATE, RATE + RATE // 10)
        x[seg] += 0.3 * np.sin(2 * np.pi * 770 * t[seg]) + 0.3 * np.sin(2 * np.pi * 1336 * t[seg])
    elif kind == 1:
        x += 0.2 * np.sin(2 * np.pi * (300 + i % 500) * t) * (np.sin(2 * np.pi * 3 * t) > 0)
    else:
        x[RATE : 3 * RATE] += rng.normal(0, 0.2, 2 * RATE) * np.abs(np.sin(2 * np.pi * 4 * t[RATE : 3 * RATE]))
    return x


def write_corpus(folder: Path, count: int) -> None:
    rng = np.random.default_rng(1000)
    for i in range(count):
        data = np.clip(np.round(clip(i, rng) * 32767), -32768, 32767).astype("<i2").tobytes()
        fmt = struct.pack("<HHIIHH", 1, 1, RATE, RATE * 2, 2, 16)
        body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
        (folder / f"clip_{i:04}.wav").write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def measure(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of one child process.

    The RSS comes from /usr/bin/time, not from wait4: a child forked from
    this process inherits its high-water mark (numpy, the corpus), which
    would hide the child's own."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        start = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        wall = time.perf_counter() - start
        return wall, int(rss.read().split()[-1]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    cli = os.environ.get("VOXCAP_BIN", "target/release/voxcap")
    with tempfile.TemporaryDirectory(prefix="voxcap-bench-") as tmp:
        folder = Path(tmp)
        write_corpus(folder, args.clips)
        sides = {
            "voxcap analyze -j 2": [cli, "analyze", "-j", "2", "--format", "json", str(folder)],
            "analyze_many(jobs=2)": [sys.executable, "-c", CHILD, str(folder)],
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
        for _ in range(args.rounds):
            for name, cmd in sides.items():
                wall, rss = measure(cmd)
                results[name].append((wall, rss))
    print(f"{args.clips} clips of {SECONDS} s at {RATE} Hz, best of {args.rounds} rounds, os.cpu_count()={os.cpu_count()}")
    best = {}
    for name, runs in results.items():
        wall = min(w for w, _ in runs)
        rss = max(r for _, r in runs)
        best[name] = args.clips / wall
        walls = ", ".join(f"{w:.2f}" for w, _ in runs)
        print(f"  {name:22} {best[name]:8.1f} clips/s  peak RSS {rss:6.1f} MiB  (walls: {walls} s)")
    ratio = best["analyze_many(jobs=2)"] / best["voxcap analyze -j 2"]
    print(f"  analyze_many / CLI: {ratio:.1%} (target >= 90%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
