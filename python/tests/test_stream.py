"""Analyzer: the same report whatever the chunk sizes (hypothesis), digits
as they complete, and the file's report for its own PCM."""

from __future__ import annotations

import wave
from typing import Any, Dict, List

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import voxcap
from conftest import CLIPS, dtmf

CLIP = CLIPS / "pcm_s16le_8000_mono_dtmf_123hash.wav"


def pcm16(path: Any) -> np.ndarray:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


SAMPLES = pcm16(CLIP)
WHOLE = {**voxcap.analyze(CLIP), "file": None}
# Two streams: the committed DTMF clip, and generated float keys at 16 kHz.
KEYS = dtmf("0*#9", 16000).astype(np.float32)
KEYS_WHOLE = voxcap.analyze(KEYS, sample_rate=16000)


def stream(samples: np.ndarray, rate: int, cuts: List[int], as_bytes: bool = False) -> Dict[str, Any]:
    analyzer = voxcap.Analyzer(rate)
    digits: List[Dict[str, Any]] = []
    edges = sorted({min(c, len(samples)) for c in cuts} | {0, len(samples)})
    for a, b in zip(edges, edges[1:]):
        chunk = samples[a:b]
        digits += analyzer.push(chunk.tobytes() if as_bytes else chunk)
    report = analyzer.finish()
    assert digits == report["dtmf"][: len(digits)], "pushed digits are the report's, in order"
    return report


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(SAMPLES)), max_size=40), st.booleans())
def test_pcm_chunks_give_the_files_report(cuts: List[int], as_bytes: bool) -> None:
    assert stream(SAMPLES, 8000, cuts, as_bytes) == WHOLE


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=30))
def test_float_chunk_sizes_do_not_matter(sizes: List[int]) -> None:
    cuts = list(np.cumsum(sizes))
    assert stream(KEYS, 16000, cuts) == KEYS_WHOLE


@pytest.mark.parametrize("size", [1, 160, 1024, len(SAMPLES)])
def test_the_usual_chunk_sizes(size: int) -> None:
    assert stream(SAMPLES, 8000, list(range(0, len(SAMPLES), size))) == WHOLE


def test_digits_arrive_while_streaming() -> None:
    analyzer = voxcap.Analyzer(8000, stop_tones="#")
    got = []
    for chunk in np.array_split(SAMPLES, 50):
        got += [d["digit"] for d in analyzer.push(chunk)]
    assert got[:3] == ["1", "2", "3"]
    report = analyzer.finish()
    assert "".join(d["digit"] for d in report["dtmf"]) == "123#"
    assert report == {**voxcap.analyze(CLIP, stop_tones="#"), "file": None}


def test_a_finished_stream_refuses_more() -> None:
    analyzer = voxcap.Analyzer(8000)
    analyzer.push(SAMPLES[:100])
    analyzer.finish()
    with pytest.raises(ValueError, match="finished"):
        analyzer.push(SAMPLES[:100])
    with pytest.raises(ValueError, match="finished"):
        analyzer.finish()


def test_mixed_sample_types_are_refused() -> None:
    analyzer = voxcap.Analyzer(8000)
    analyzer.push(SAMPLES[:100])
    with pytest.raises(ValueError, match="started with pcm_s16le"):
        analyzer.push(SAMPLES[:100].astype(np.float32))
    # The stream goes on after the refusal.
    analyzer.push(SAMPLES[100:])
    assert analyzer.finish() == WHOLE


def test_an_empty_stream_reports_nothing() -> None:
    report = voxcap.Analyzer(16000).finish()
    assert report["duration_s"] == 0 and report["dtmf"] == [] and report["file"] is None
