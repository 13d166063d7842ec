"""analyze() equals the CLI's JSON, key for key, for every committed clip
and every generated recording, with default and non-default settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import pytest

import voxcap
from conftest import CLIPS, cli_json


def check_parity(paths: List[Path], flags: List[str], settings: Dict[str, Any]) -> None:
    names = [str(p) for p in paths]
    lines = cli_json(names, *flags)
    assert [line["file"] for line in lines] == names
    for line in lines:
        assert "error" not in line, line
        assert voxcap.analyze(line["file"], **settings) == line


CASES = [
    ([], {}),
    (
        ["--stop-tones", "#*", "--reported", "8514", "--max-silence", "3", "--pad-start-ms", "0"],
        {"stop_tones": "#*", "reported": 8514, "max_silence": 3, "pad_start_ms": 0},
    ),
    (
        ["--reported", "maxSilenceTimeout", "--initial-silence", "2.5", "--max-record", "30", "--pad-end-ms", "1000", "--lenient"],
        {"reported": "maxSilenceTimeout", "initial_silence": 2.5, "max_record": 30.0, "pad_end_ms": 1000, "lenient": True},
    ),
]


@pytest.mark.parametrize("flags,settings", CASES)
def test_every_committed_clip_equals_the_cli(flags: List[str], settings: Dict[str, Any]) -> None:
    clips = sorted(CLIPS.glob("*.wav"))
    assert len(clips) >= 20
    check_parity(clips, flags, settings)


@pytest.mark.parametrize("flags,settings", CASES[:2])
def test_every_generated_recording_equals_the_cli(recordings: List[Path], flags: List[str], settings: Dict[str, Any]) -> None:
    check_parity(recordings, flags, settings)


def test_the_generated_folder_has_what_it_claims(recordings: List[Path]) -> None:
    reports = [voxcap.analyze(p) for p in recordings]
    codecs = {r["format"]["codec"] for r in reports}
    assert codecs == {"pcm_u8", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_f64le", "pcm_mulaw", "pcm_alaw"}
    digits = {"".join(d["digit"] for d in r["dtmf"]) for r in reports if "dtmf" in r["file"]}
    assert "159D" in digits
    assert any(r["speech"] for r in reports if "speech" in r["file"])
    assert any(r["clipped_samples"] > 0 for r in reports)


def test_the_readme_example_prints_the_digits() -> None:
    report = voxcap.analyze(str(CLIPS / "pcm_s16le_8000_mono_dtmf_123hash.wav"))
    assert "".join(d["digit"] for d in report["dtmf"]) == "123#"
    assert report["file"].endswith("pcm_s16le_8000_mono_dtmf_123hash.wav")
