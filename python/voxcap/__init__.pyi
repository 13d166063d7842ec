"""Type stubs for voxcap (the native module voxcap._voxcap, re-exported)."""

import os
from typing import IO, Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

#: A path to a WAV file.
_PathLike = Union[str, "os.PathLike[str]"]
#: What ``analyze`` takes: a path, a whole WAV in memory, a binary file-like
#: object (read in chunks), or 1-D samples (float32, float64 or int16; then
#: ``sample_rate`` is required).
_Source = Union[
    _PathLike,
    bytes,
    bytearray,
    memoryview,
    IO[bytes],
    "npt.NDArray[np.float32]",
    "npt.NDArray[np.float64]",
    "npt.NDArray[np.int16]",
]
#: A WAV source (``decode`` takes no samples).
_WavSource = Union[_PathLike, bytes, bytearray, memoryview, IO[bytes]]
#: Stop tones: ``"#*"``, ``"1, #"`` or ``["#", "*"]``.
_StopTones = Union[str, Sequence[str]]
#: The report: key for key what ``voxcap analyze --format json`` prints
#: (``file`` is the path, or None for other sources). A failed input in
#: ``analyze_many`` is ``{"file": ..., "error": {"kind": ..., "message": ...}}``.
_Report = Dict[str, Any]
#: One DTMF digit: ``{"digit": "5", "start_s": 1.23, "end_s": 1.31}``.
_Digit = Dict[str, Any]

class VoxcapError(Exception):
    """Base of voxcap's errors."""

    #: The CLI's error kind (``not_wav``, ``truncated``, ``internal`` ...).
    kind: str
    #: The path, or None for a source that is not a path.
    file: Optional[str]
    #: The CLI's message (``str(error)`` adds the input's name).
    message: str

class DecodeError(VoxcapError, ValueError):
    """The input is not a WAV voxcap can analyse."""

def analyze(
    source: _Source,
    *,
    stop_tones: Optional[_StopTones] = None,
    initial_silence: Optional[float] = None,
    max_silence: Optional[float] = None,
    max_record: Optional[float] = None,
    reported: Union[str, int, None] = None,
    lenient: bool = False,
    pad_start_ms: int = 150,
    pad_end_ms: int = 300,
    sample_rate: Optional[int] = None,
) -> _Report:
    """Analyses one recording; the result equals the CLI's JSON line.

    Timers default to Graph's 5 s. ``reported`` is a completion reason name
    (``"stopToneDetected"``) or a subcode (``8514``). Raises ``DecodeError``
    for a bad input, ``OSError`` for a path that cannot be opened,
    ``ValueError`` naming the setting for a bad setting. The GIL is released
    while decoding and analysing.
    """

def analyze_many(
    paths: Iterable[_PathLike],
    *,
    jobs: Optional[int] = None,
    stop_tones: Optional[_StopTones] = None,
    initial_silence: Optional[float] = None,
    max_silence: Optional[float] = None,
    max_record: Optional[float] = None,
    reported: Union[str, int, None] = None,
    lenient: bool = False,
    pad_start_ms: int = 150,
    pad_end_ms: int = 300,
) -> "AnalyzeMany":
    """Analyses files (directories are walked for ``*.wav``, sorted) on
    ``jobs`` native threads (default: all cores) and yields one dict per
    file in input order; a file that fails yields its error dict, as the CLI
    prints it, and the iteration goes on."""

class AnalyzeMany(Iterator[_Report]):
    """The iterator ``analyze_many`` returns; dropping it cancels the rest."""

    def __iter__(self) -> "AnalyzeMany": ...
    def __next__(self) -> _Report: ...

class Analyzer:
    """A streaming analyser: push samples as they come, then finish.

    The result is the same whatever the chunk sizes. The sample type of the
    first push (float32, float64 or int16; bytes are 16-bit little-endian
    PCM) is the stream's; later pushes must match.
    """

    def __init__(
        self,
        sample_rate: int,
        *,
        stop_tones: Optional[_StopTones] = None,
        initial_silence: Optional[float] = None,
        max_silence: Optional[float] = None,
        max_record: Optional[float] = None,
        reported: Union[str, int, None] = None,
        lenient: bool = False,
        pad_start_ms: int = 150,
        pad_end_ms: int = 300,
    ) -> None: ...
    def push(
        self,
        samples: Union[
            bytes,
            "npt.NDArray[np.float32]",
            "npt.NDArray[np.float64]",
            "npt.NDArray[np.int16]",
        ],
    ) -> List[_Digit]:
        """Feeds samples; returns the DTMF digits completed by this push."""
    def finish(self) -> _Report:
        """Ends the stream; returns the report (``file`` is None)."""

def decode(source: _WavSource, *, lenient: bool = False) -> Tuple["npt.NDArray[np.float32]", int]:
    """Decodes a WAV to mono float32 samples (as the analysis sees them,
    before resampling) and its sample rate."""
