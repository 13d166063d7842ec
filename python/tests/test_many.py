"""analyze_many: input order, errors as the CLI prints them, directories,
and an early stop that does not hang."""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest

import voxcap
from conftest import CLIPS, MALFORMED, cli_json


@pytest.mark.parametrize("jobs", [1, 2, 7])
def test_results_come_in_input_order_with_errors_as_the_cli(jobs: int, tmp_path: Path, recordings: List[Path]) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    for p in recordings[:5]:
        (folder / p.name).write_bytes(p.read_bytes())
    paths = [
        *[str(p) for p in sorted(CLIPS.glob("*.wav"))],
        str(MALFORMED / "truncated_data.wav"),
        str(tmp_path / "missing.wav"),
        str(folder),
        str(MALFORMED / "text_file.wav"),
        *[str(p) for p in recordings],
    ]
    want = cli_json(paths, "--stop-tones", "#", "--reported", "stopToneDetected")
    got = list(voxcap.analyze_many(paths, jobs=jobs, stop_tones="#", reported="stopToneDetected"))
    assert got == want
    before_folder = paths.index(str(folder))
    assert [g["file"] for g in got][:before_folder] == paths[:before_folder]
    assert [g["file"] for g in got][before_folder : before_folder + 5] == sorted(str(folder / p.name) for p in recordings[:5])
    errors = {g["file"]: g["error"]["kind"] for g in got if "error" in g}
    assert errors[str(tmp_path / "missing.wav")] == "io"
    assert errors[str(MALFORMED / "text_file.wav")] == "not_wav"
    assert len(errors) == 3


def test_path_objects_and_generators_are_taken() -> None:
    clips = sorted(CLIPS.glob("*.wav"))[:4]
    got = list(voxcap.analyze_many((p for p in clips), jobs=2))
    assert got == [voxcap.analyze(p) for p in clips]


def test_stopping_early_does_not_hang(recordings: List[Path]) -> None:
    many = voxcap.analyze_many(recordings * 20, jobs=2)
    first = next(many)
    assert first["file"] == str(recordings[0])
    del many  # the rest are cancelled


def test_an_empty_list_yields_nothing() -> None:
    assert list(voxcap.analyze_many([])) == []
