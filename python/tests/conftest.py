"""Shared fixtures: the CLI binary, the committed corpora, a folder of
generated recordings, and a helper that runs ``voxcap analyze --format json``."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIPS = ROOT / "testdata" / "clips"
MALFORMED = ROOT / "testdata" / "malformed"
SPEECH = ROOT / "testdata" / "speech"


def voxcap_bin() -> str:
    """The CLI binary: VOXCAP_BIN (set by scripts/test), else target/debug/voxcap."""
    path = os.environ.get("VOXCAP_BIN", str(ROOT / "target" / "debug" / "voxcap"))
    if not Path(path).is_file():
        pytest.fail(f"the voxcap binary is missing at {path}: build it (cargo build --bin voxcap) or set VOXCAP_BIN")
    return path


def cli_json(paths: List[str], *flags: str) -> List[Dict[str, Any]]:
    """What ``voxcap analyze --format json`` prints for ``paths``, parsed."""
    run = subprocess.run(
        [voxcap_bin(), "analyze", "--format", "json", "-j", "2", *flags, *paths],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode in (0, 1), run.stderr
    reports = [json.loads(line) for line in run.stdout.splitlines()]
    # The CLI adds each input file's ``sha256`` and ``bytes`` (provenance,
    # docs/compliance.md); the package's dicts are the analysis alone. Check
    # them against the file, then compare the rest.
    for r in reports:
        if "sha256" in r:
            data = Path(r["file"]).read_bytes()
            assert r.pop("sha256") == hashlib.sha256(data).hexdigest(), r["file"]
            assert r.pop("bytes") == len(data), r["file"]
    return reports


# --- a folder of generated recordings --------------------------------------

KEYS = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633),
}


def dtmf(keys: str, rate: int, lead_s: float = 0.3, tail_s: float = 0.5) -> np.ndarray:
    """Key presses of 90 ms with 70 ms gaps, at -10 dBFS per tone, in mono float64."""
    parts = [np.zeros(int(lead_s * rate))]
    t = np.arange(int(0.09 * rate)) / rate
    for k in keys:
        lo, hi = KEYS[k]
        parts.append(0.3 * np.sin(2 * np.pi * lo * t) + 0.3 * np.sin(2 * np.pi * hi * t))
        parts.append(np.zeros(int(0.07 * rate)))
    parts.append(np.zeros(int(tail_s * rate)))
    return np.concatenate(parts)


def mulaw(x: np.ndarray) -> bytes:
    """G.711 µ-law bytes (the continuous companding curve, quantised)."""
    x = np.clip(x, -1.0, 1.0)
    y = np.sign(x) * np.log1p(255 * np.abs(x)) / np.log1p(255)
    q = np.round((y + 1) / 2 * 255).astype(np.int16)
    return (~q.astype(np.uint8)).tobytes()


def alaw(x: np.ndarray) -> bytes:
    """G.711 A-law bytes (the continuous companding curve, quantised)."""
    x = np.clip(x, -1.0, 1.0)
    a = np.abs(x)
    big = a >= 1 / 87.6
    y = np.where(big, (1 + np.log(np.maximum(a, 1e-12) * 87.6)) / (1 + np.log(87.6)), a * 87.6 / (1 + np.log(87.6)))
    code = np.minimum(np.round(y * 127), 127).astype(np.uint8) | np.where(x >= 0, 0x80, 0).astype(np.uint8)
    return (code ^ 0x55).tobytes()


def encode(x: np.ndarray, codec: str) -> tuple[int, int, bytes]:
    """(format tag, bits, data) for mono or interleaved samples ``x``."""
    if codec == "u8":
        return 1, 8, (np.clip(np.round(x * 128) + 128, 0, 255)).astype(np.uint8).tobytes()
    if codec == "s16":
        return 1, 16, np.clip(np.round(x * 32768), -32768, 32767).astype("<i2").tobytes()
    if codec == "s24":
        v = np.clip(np.round(x * 8388608), -8388608, 8388607).astype("<i4").tobytes()
        return 1, 24, b"".join(v[i : i + 3] for i in range(0, len(v), 4))
    if codec == "s32":
        return 1, 32, np.clip(np.round(x * 2147483648.0), -2147483648, 2147483647).astype("<i4").tobytes()
    if codec == "f32":
        return 3, 32, x.astype("<f4").tobytes()
    if codec == "f64":
        return 3, 64, x.astype("<f8").tobytes()
    if codec == "mulaw":
        return 7, 8, mulaw(x)
    if codec == "alaw":
        return 6, 8, alaw(x)
    raise ValueError(codec)


def write_wav(path: Path, x: np.ndarray, rate: int, codec: str, channels: int = 1) -> None:
    """A canonical WAV (16-byte fmt chunk) holding ``x`` (interleaved when stereo)."""
    tag, bits, data = encode(x, codec)
    align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    if len(data) % 2:
        body += b"\0"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def speech_clip(rate: int) -> np.ndarray:
    """A committed speech fixture, resampled by linear interpolation to ``rate``."""
    import wave

    path = sorted(SPEECH.glob("espeak_*.wav"))[0]
    with wave.open(str(path)) as w:
        src_rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768
        if w.getnchannels() > 1:
            x = x.reshape(-1, w.getnchannels()).mean(axis=1)
    t = np.arange(int(len(x) * rate / src_rate)) * src_rate / rate
    return np.interp(t, np.arange(len(x)), x)


def make_recordings(folder: Path) -> List[Path]:
    """DTMF, speech, noise and silence in every codec the decoder reads."""
    rng = np.random.default_rng(18)
    files = []

    def add(name: str, x: np.ndarray, rate: int, codec: str, channels: int = 1) -> None:
        path = folder / name
        write_wav(path, x, rate, codec, channels)
        files.append(path)

    for codec in ["u8", "s16", "s24", "s32", "f32", "f64", "mulaw", "alaw"]:
        rate = 8000 if codec in ("mulaw", "alaw", "u8") else 16000
        add(f"{codec}_{rate}_dtmf_159D.wav", dtmf("159D", rate), rate, codec)
        add(f"{codec}_{rate}_speech.wav", np.concatenate([np.zeros(rate // 2), speech_clip(rate), np.zeros(rate)]), rate, codec)
        add(f"{codec}_{rate}_noise.wav", rng.normal(0, 0.05, rate * 2), rate, codec)
    add("s16_44100_stereo_speech_dtmf.wav", np.repeat(np.concatenate([speech_clip(44100), dtmf("#", 44100)]), 2), 44100, "s16", 2)
    add("f32_48000_silence.wav", np.zeros(48000), 48000, "f32")
    add("s16_8000_clipped_square.wav", np.sign(np.sin(2 * np.pi * 400 * np.arange(8000) / 8000)) * 1.2, 8000, "s16")
    return files


@pytest.fixture(scope="session")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> List[Path]:
    return make_recordings(tmp_path_factory.mktemp("recordings"))
