"""The stubs are complete enough for ``mypy --strict`` on the usage example,
and the example runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import voxcap
from conftest import CLIPS

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "usage.py"


def test_mypy_strict_accepts_the_example() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(EXAMPLE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_mypy_strict_rejects_a_misuse(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import voxcap\nvoxcap.analyze('x.wav', max_silence='long')\nvoxcap.Analyzer()\n")
    run = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(bad)], capture_output=True, text=True, check=False)
    assert run.returncode == 1 and run.stdout.count("error:") >= 2, run.stdout


def test_the_example_runs() -> None:
    run = subprocess.run([sys.executable, str(EXAMPLE), str(CLIPS)], capture_output=True, text=True, check=False)
    assert "123#" in run.stdout and "refused: not_wav" in run.stdout, run.stdout + run.stderr


def test_the_public_names() -> None:
    cargo = (Path(__file__).resolve().parents[2] / "Cargo.toml").read_text()
    version = re.search(r'\[workspace\.package\]\nversion = "([^"]+)"', cargo)
    assert version and voxcap.__version__ == version.group(1)
    assert issubclass(voxcap.DecodeError, voxcap.VoxcapError) and issubclass(voxcap.DecodeError, ValueError)
    assert set(voxcap.__all__) >= {"analyze", "analyze_many", "Analyzer", "decode", "DecodeError", "VoxcapError"}
