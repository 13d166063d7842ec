"""bytes, bytearray, memoryview, file-like objects and numpy arrays give
the path's result (with ``file`` None); decode() gives the samples."""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest

import voxcap
from conftest import CLIPS

PCM16 = sorted(p for p in CLIPS.glob("*.wav") if p.name.startswith("pcm_s16le") and "mono" in p.name)


def without_file(report: Dict[str, Any]) -> Dict[str, Any]:
    return {**report, "file": None}


class Trickle(io.RawIOBase):
    """A reader that hands out at most 7 bytes per read, counting calls."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos, self.calls = data, 0, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        self.calls += 1
        assert n > 0, "read in chunks, never all at once"
        chunk = self.data[self.pos : self.pos + min(n, 7)]
        self.pos += len(chunk)
        return chunk


@pytest.mark.parametrize("clip", sorted(CLIPS.glob("*.wav")), ids=lambda p: p.name)
def test_in_memory_and_file_like_sources_equal_the_path(clip: Path) -> None:
    want = without_file(voxcap.analyze(str(clip), lenient=True))
    data = clip.read_bytes()
    assert voxcap.analyze(data, lenient=True) == want
    assert voxcap.analyze(bytearray(data), lenient=True) == want
    assert voxcap.analyze(memoryview(data), lenient=True) == want
    assert voxcap.analyze(io.BytesIO(data), lenient=True) == want
    with open(clip, "rb") as f:
        assert voxcap.analyze(f, lenient=True) == want
    assert voxcap.analyze(clip, lenient=True) == {**want, "file": str(clip)}


def test_a_file_like_source_is_read_in_chunks() -> None:
    clip = CLIPS / "pcm_s16le_16000_mono_tone1k.wav"
    trickle = Trickle(clip.read_bytes())
    assert voxcap.analyze(trickle) == without_file(voxcap.analyze(clip))
    assert trickle.calls > 10


@pytest.mark.parametrize("clip", PCM16, ids=lambda p: p.name)
def test_int16_samples_equal_the_pcm16_file(clip: Path) -> None:
    with wave.open(str(clip)) as w:
        rate = w.getframerate()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert voxcap.analyze(samples, sample_rate=rate) == without_file(voxcap.analyze(clip))
    # A strided view converts the same.
    doubled = np.repeat(samples, 2)[::2]
    assert voxcap.analyze(doubled, sample_rate=rate) == without_file(voxcap.analyze(clip))


def test_decoded_float_samples_round_trip() -> None:
    clip = CLIPS / "extensible_float32_16000_mono_tone1k.wav"
    samples, rate = voxcap.decode(clip)
    assert samples.dtype == np.float32 and samples.ndim == 1 and rate == 16000
    assert voxcap.analyze(samples, sample_rate=rate) == without_file(voxcap.analyze(clip))
    as_f64 = voxcap.analyze(samples.astype(np.float64), sample_rate=rate)
    assert as_f64["format"] == {"codec": "pcm_f64le", "sample_rate": 16000, "channels": 1, "bits": 64}
    assert {k: v for k, v in as_f64.items() if k != "format"} == {
        k: v for k, v in voxcap.analyze(samples, sample_rate=rate).items() if k != "format"
    }


@pytest.mark.parametrize("clip", sorted(CLIPS.glob("*.wav")), ids=lambda p: p.name)
def test_decode_gives_the_analysed_duration_from_every_source(clip: Path) -> None:
    samples, rate = voxcap.decode(clip, lenient=True)
    report = voxcap.analyze(clip, lenient=True)
    assert rate == report["format"]["sample_rate"]
    assert len(samples) / rate == pytest.approx(report["duration_s"])
    for other in (clip.read_bytes(), io.BytesIO(clip.read_bytes())):
        again, again_rate = voxcap.decode(other, lenient=True)
        assert again_rate == rate and np.array_equal(again, samples)


def test_decode_refuses_samples() -> None:
    with pytest.raises(TypeError):
        voxcap.decode(np.zeros(8, dtype=np.float32))
