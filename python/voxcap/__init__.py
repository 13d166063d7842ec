"""voxcap: analyse call recordings as ``voxcap analyze`` does.

The work is done by the native module ``voxcap._voxcap`` (Rust, voxcap-dsp);
this package only re-exports it. See ``__init__.pyi`` for the API.
"""

from voxcap._voxcap import (
    AnalyzeMany,
    Analyzer,
    DecodeError,
    VoxcapError,
    __version__,
    analyze,
    analyze_many,
    decode,
)

__all__ = [
    "AnalyzeMany",
    "Analyzer",
    "DecodeError",
    "VoxcapError",
    "__version__",
    "analyze",
    "analyze_many",
    "decode",
]
