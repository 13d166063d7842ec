"""The malformed corpus raises DecodeError with the CLI's kind and message;
bad settings raise ValueError naming the setting; nothing crashes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import voxcap
from conftest import CLIPS, MALFORMED, cli_json

CORPUS = sorted(MALFORMED.rglob("*.wav"))


def test_the_corpus_is_there() -> None:
    assert len(CORPUS) >= 25


@pytest.mark.parametrize("lenient", [False, True])
def test_malformed_files_fail_as_the_cli_says(lenient: bool) -> None:
    lines = cli_json([str(p) for p in CORPUS], *(["--lenient"] if lenient else []))
    failed = 0
    for line in lines:
        if "error" not in line:
            # Lenient decoding analyses some as far as they go.
            assert voxcap.analyze(line["file"], lenient=lenient) == line
            continue
        failed += 1
        with pytest.raises(voxcap.DecodeError) as caught:
            voxcap.analyze(line["file"], lenient=lenient)
        err = caught.value
        assert isinstance(err, ValueError) and isinstance(err, voxcap.VoxcapError)
        assert (err.kind, err.message, err.file) == (line["error"]["kind"], line["error"]["message"], line["file"])
        assert line["file"] in str(err)
        # The same bytes in memory fail the same way, named as such.
        with pytest.raises(voxcap.DecodeError) as in_memory:
            voxcap.analyze(Path(line["file"]).read_bytes(), lenient=lenient)
        assert in_memory.value.kind == err.kind and in_memory.value.file is None
    assert failed >= (20 if not lenient else 10)


def test_decode_fails_like_analyze() -> None:
    with pytest.raises(voxcap.DecodeError) as caught:
        voxcap.decode(MALFORMED / "text_file.wav")
    assert caught.value.kind == "not_wav"


def test_a_missing_path_is_an_os_error_naming_it() -> None:
    with pytest.raises(FileNotFoundError) as caught:
        voxcap.analyze("/nonexistent/x.wav")
    assert caught.value.filename == "/nonexistent/x.wav"


CLIP = str(CLIPS / "pcm_s16le_8000_mono_dtmf_123hash.wav")


@pytest.mark.parametrize(
    "settings,named",
    [
        ({"stop_tones": "#X"}, "stop_tones"),
        ({"stop_tones": ["#", "E"]}, "stop_tones"),
        ({"max_silence": 0}, "max_silence"),
        ({"initial_silence": -1.0}, "initial_silence"),
        ({"max_record": 7201}, "max_record"),
        ({"pad_start_ms": -5}, "pad_start_ms"),
        ({"pad_end_ms": 2**40}, "pad_end_ms"),
    ],
)
def test_a_bad_setting_is_a_value_error_naming_it(settings: dict, named: str) -> None:
    with pytest.raises(ValueError, match=f"^{named}: "):
        voxcap.analyze(CLIP, **settings)


@pytest.mark.parametrize(
    "call",
    [
        lambda: voxcap.analyze(CLIP, max_silence="long"),
        lambda: voxcap.analyze(CLIP, lenient="yes"),
        lambda: voxcap.analyze(CLIP, colour="red"),
        lambda: voxcap.analyze(12345),
        lambda: voxcap.analyze(io.StringIO("RIFF")),
        lambda: voxcap.analyze_many("one.wav"),
        lambda: voxcap.Analyzer(8000).push([0.0, 1.0]),
    ],
)
def test_wrong_types_are_type_errors(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError):
        call()


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: voxcap.analyze(np.zeros(10, dtype=np.float32)), "sample_rate"),
        (lambda: voxcap.analyze(CLIP, sample_rate=8000), "sample_rate"),
        (lambda: voxcap.analyze(np.zeros((2, 10), dtype=np.float32), sample_rate=8000), "1-D"),
        (lambda: voxcap.analyze(np.zeros(10, dtype=np.int32), sample_rate=8000), "int16"),
        (lambda: voxcap.analyze_many([CLIP], jobs=0), "jobs"),
        (lambda: voxcap.Analyzer(8000).push(b"\0\0\0"), "16-bit"),
    ],
)
def test_bad_values_are_value_errors(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()


def test_an_unsupported_rate_is_a_decode_error_not_a_crash() -> None:
    with pytest.raises(voxcap.DecodeError) as caught:
        voxcap.analyze(np.zeros(100, dtype=np.float32), sample_rate=0)
    assert caught.value.kind == "unsupported_rate"
    with pytest.raises(voxcap.DecodeError):
        voxcap.Analyzer(0)


def test_a_failing_reader_raises_its_own_exception() -> None:
    class Broken(io.RawIOBase):
        def read(self, n: int = -1) -> bytes:
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        voxcap.analyze(Broken())


def test_a_reader_returning_text_is_named() -> None:
    class Text:
        def read(self, n: int) -> str:
            return "RIFF"

    with pytest.raises(TypeError, match="binary mode"):
        voxcap.analyze(Text())
