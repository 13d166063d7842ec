#!/usr/bin/env bash
# Fetches Silero VAD 6.2.3's two ONNX files (MIT; inside the silero-vad wheel as
# silero_vad/data/*.onnx) into DIR with `pip download` from PyPI (no torch, no install),
# and prints the absolute path of DIR/silero_vad.onnx. Never committed; kept while present.
#
# usage: fetch-silero.sh DIR VENV   (VENV: a venv with pip, created when absent)
# Used by prepare.sh (the Silero peer) and scripts/test (the `neural` feature's tests,
# through VOXCAP_SILERO_MODEL).
set -euo pipefail
dir=$1 venv=$2
model="$dir/silero_vad.onnx"
if [[ ! -s $model ]]; then
  [[ -x $venv/bin/pip ]] || python3 -m venv "$venv"
  mkdir -p "$dir"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "$venv/bin/pip" download -q --disable-pip-version-check --no-deps silero-vad==6.2.3 -d "$tmp" >&2
  "$venv/bin/python" - "$tmp" "$dir" <<'PY'
import glob, sys, zipfile
whl = glob.glob(sys.argv[1] + "/silero_vad-6.2.3-*.whl")[0]
with zipfile.ZipFile(whl) as z:
    for name in ("silero_vad.onnx", "silero_vad_op18_ifless.onnx"):
        with open(f"{sys.argv[2]}/{name}.part", "wb") as f:
            f.write(z.read("silero_vad/data/" + name))
PY
  for name in silero_vad.onnx silero_vad_op18_ifless.onnx; do
    mv "$dir/$name.part" "$dir/$name"
  done
fi
# Absolute: cargo runs tests in the crate's directory, not here.
echo "$(cd "$dir" && pwd)/silero_vad.onnx"
