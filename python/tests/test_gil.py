"""The GIL is released during decoding and analysis, so Python threads
calling analyze() run in parallel.

Two checks: (1) a Python thread keeps running while another thread is
inside a long analyze() call (holds on any machine, loaded or not, one
core or many); (2) the timing ratio of 4 threads against 1 for the same
total work, asserted when there are at least two cores, best time against
best time over up to five interleaved rounds, so that a busy neighbour on a
shared 2-core machine does not fail it."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import voxcap
from conftest import dtmf

RATE = 16000
LONG = np.tile(dtmf("123456789", RATE).astype(np.float32), 12)  # about 25 s
WAV_SHORT = np.tile(dtmf("1#", RATE).astype(np.float32), 4)  # about 3 s


def test_python_runs_while_another_thread_analyses() -> None:
    done = threading.Event()
    ticks_during = 0

    def work() -> None:
        for _ in range(3):
            voxcap.analyze(LONG, sample_rate=RATE)
        done.set()

    worker = threading.Thread(target=work)
    start = time.perf_counter()
    worker.start()
    while not done.is_set():
        ticks_during += 1
        time.sleep(0)  # a pure-Python step that needs the GIL
    worker.join()
    elapsed = time.perf_counter() - start
    # Holding the GIL, the analysis would let this loop run only at the
    # interpreter's switch points (none inside a native call).
    assert elapsed > 0.05
    assert ticks_during > 200, (ticks_during, elapsed)


def run(threads: int, calls: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _: voxcap.analyze(WAV_SHORT, sample_rate=RATE), range(calls)))
    return time.perf_counter() - start


def test_four_threads_beat_one() -> None:
    cores = os.cpu_count() or 1
    calls = 16
    run(1, 2)  # warm-up
    ones: list[float] = []
    fours: list[float] = []
    for _ in range(5):
        # Interleaved, and the best of each compared, so that a neighbour's
        # burst of work slows one measurement, not the ratio.
        ones.append(run(1, calls))
        fours.append(run(4, calls))
        if min(fours) / min(ones) < 0.8:
            break
    ratio = min(fours) / min(ones)
    if cores >= 2:
        # Ideal on 2 cores: 0.5; with the GIL held it would be about 1.0.
        assert ratio < 0.8, (ones, fours)
    else:
        assert ratio < 1.3, (ones, fours)
