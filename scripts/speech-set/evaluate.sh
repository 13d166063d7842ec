#!/usr/bin/env bash
# Scores voxcap's speech detector and trim beside Silero VAD on the held-back half of the
# speech evaluation set (issue 15), in one run, with one scorer (score.py).
#
#   scripts/speech-set/evaluate.sh [--half tune|held] [--voxcap PATH] [--model PATH] [--check]
#
# Builds the set first if needed (prepare.sh). --voxcap runs that CLI binary's `analyze`
# (default: the voxcap-dsp example `speech_set`, built in release, the same analysis
# without the CLI). --model also scores the fused detector (classical + Silero's model at
# PATH, `--speech-model`; "silero" means the set's own copy) as a third column, `fused`.
# Writes target/speech-eval/<half>.json and prints the table.
# --check fails (exit 1) when a guarded figure regresses (score.py --check).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
half=held voxcap="" model="" check=()
while (($#)); do
  case $1 in
  --half) half=$2; shift 2 ;;
  --voxcap) voxcap=$2; shift 2 ;;
  --model) model=$2; shift 2 ;;
  --check) check=(--check); shift ;;
  *) echo "evaluate.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
set_dir="${VOXCAP_SPEECH_SET:-$root/target/corpus/speech-set}"
venv="${VOXCAP_SPEECH_VENV:-$root/target/speech-venv}"
[[ $model == silero ]] && model="$set_dir/silero/silero_vad.onnx"
out="$root/target/speech-eval"
mkdir -p "$out"
bash "$root/scripts/speech-set/prepare.sh"
if [[ -n $voxcap ]]; then
  mapfile -t clips < <("$venv/bin/python" -c '
import json, sys
m = json.load(open(sys.argv[1] + "/manifest.json"))
print("\n".join(sys.argv[1] + "/" + c["file"] for c in m["clips"] if c["half"] == sys.argv[2]))' "$set_dir" "$half")
  "$voxcap" analyze --format json "${clips[@]}" >"$out/voxcap-$half.ndjson" || [[ $? -eq 1 ]]
  if [[ -n $model ]]; then
    "$voxcap" analyze --format json --speech-model "$model" "${clips[@]}" >"$out/fused-$half.ndjson" ||
      [[ $? -eq 1 ]]
  fi
else
  cargo build -q --release -p voxcap-dsp --features neural --example speech_set
  "$root/target/release/examples/speech_set" "$set_dir" "$half" >"$out/voxcap-$half.ndjson"
  if [[ -n $model ]]; then
    "$root/target/release/examples/speech_set" "$set_dir" "$half" --model "$model" >"$out/fused-$half.ndjson"
  fi
fi
fused=()
[[ -n $model ]] && fused=(fused="$out/fused-$half.ndjson")
stamp=$(cat "$set_dir/stamp")
if [[ ! -s $out/silero-$half.json || $(cat "$out/silero-$half.stamp" 2>/dev/null) != "$stamp" ]]; then
  "$venv/bin/python" "$root/scripts/speech-set/silero.py" "$set_dir/silero/silero_vad.onnx" \
    "$set_dir" "$half" "$out/silero-$half.json"
  echo "$stamp" >"$out/silero-$half.stamp"
fi
"$venv/bin/python" "$root/scripts/speech-set/score.py" "$set_dir" "$half" \
  voxcap="$out/voxcap-$half.ndjson" "${fused[@]}" silero="$out/silero-$half.json" --json "$out/$half.json" "${check[@]}"
