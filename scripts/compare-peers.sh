#!/usr/bin/env bash
# Side-by-side of voxcap with the tools people use today, on one generated
# corpus (issue 8): multimon-ng and spandsp for DTMF, py-webrtcvad and Silero
# VAD 6.2.3 (its ONNX model under onnxruntime, issue 15) for speech frames, sox
# `silence` and ffmpeg `silenceremove` for trimming. Prints a
# markdown report (accuracy and speed per tool) to stdout and to
# OUTDIR/report.md. Not run by CI: it needs the peers and takes minutes.
#
# Corpus: crates/dsp/examples/peer_corpus.rs (DTMF strings across the Q.24
# envelope; the committed speech fixtures at known offsets in white and pink
# noise at 20/10/5 dB SNR) plus, for talk-off, testdata/speech/*.wav and the
# music of the talk-off corpus (scripts/talkoff-corpus.sh) when present.
#
# Usage: scripts/compare-peers.sh [OUTDIR]
#   TALKOFF_DIR   talk-off corpus (default target/corpus/talkoff); its music/
#                 subfolder is used when present.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-$(mktemp -d /tmp/voxcap-peers.XXXXXX)}
talkoff_dir=${TALKOFF_DIR:-target/corpus/talkoff}
mkdir -p "$out"

# --- peers ---------------------------------------------------------------
need_apt=()
command -v sox >/dev/null || need_apt+=(sox libsox-fmt-all)
command -v ffmpeg >/dev/null || need_apt+=(ffmpeg)
command -v multimon-ng >/dev/null || need_apt+=(multimon-ng)
dpkg-query -W -f='${Status}' libspandsp-dev 2>/dev/null | grep -q "install ok installed" || need_apt+=(libspandsp-dev)
command -v cc >/dev/null || need_apt+=(gcc)
if ((${#need_apt[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${need_apt[@]}" >&2
  else
    echo "compare-peers: missing ${need_apt[*]} (run as root or apt-get install them)" >&2
    exit 1
  fi
fi
if ! python3 -c 'import webrtcvad' 2>/dev/null; then
  if [[ $(id -u) -eq 0 ]]; then
    apt-get install -y python3-webrtcvad >&2 2>/dev/null || pip install webrtcvad >&2
  else
    pip install --user webrtcvad >&2
  fi
fi
cc -O2 -o "$out/spandsp_dtmf" scripts/peers/spandsp_dtmf.c -lspandsp -lm

# --- voxcap and the corpus ---------------------------------------------------
cargo build --release -q -p voxcap --bin voxcap
cargo build --release -q -p voxcap-dsp --example peer_corpus
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
voxcap=$target_dir/release/voxcap
corpus_tool=$target_dir/release/examples/peer_corpus
rm -rf "$out/corpus" && "$corpus_tool" "$out/corpus"
corpus=$out/corpus

talkoff=()
for f in testdata/speech/*.wav; do talkoff+=("$root/$f"); done
if [[ -d $talkoff_dir/music ]]; then
  for f in "$talkoff_dir"/music/*.wav; do talkoff+=("$(realpath "$f")"); done
else
  echo "compare-peers: no music talk-off corpus at $talkoff_dir/music (run scripts/talkoff-corpus.sh); speech only" >&2
fi
printf '%s\n' "${talkoff[@]}" > "$out/talkoff.list"
dtmf_files=("$corpus"/dtmf/*.wav)
speech_files=("$corpus"/speech/*.wav)

now() { date +%s.%N; }
speed() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$(echo "$4 - $3" | bc -l)" "$5" >> "$out/speed.tsv"; }
: > "$out/speed.tsv"

# --- DTMF: voxcap, multimon-ng, spandsp ---------------------------------------
# CLI wall time over every DTMF and talk-off file, one process per tool for
# voxcap (it takes many paths), one per file for the others (they take one).
t0=$(now)
"$voxcap" analyze --format json "${dtmf_files[@]}" "${talkoff[@]}" > "$out/voxcap_dtmf.ndjson"
speed voxcap "dtmf cli, one process, full analysis" "$t0" "$(now)" all
t0=$(now)
: > "$out/voxcap_per_file.ndjson"
for f in "${dtmf_files[@]}" "${talkoff[@]}"; do "$voxcap" analyze --format json "$f" >> "$out/voxcap_per_file.ndjson"; done
speed voxcap "dtmf cli, one process per file, full analysis" "$t0" "$(now)" all

# multimon-ng reads WAV through sox (resampled to its 22050 Hz); the
# conversion is part of its wall time, as it is when people use it.
t0=$(now)
: > "$out/multimon.tsv"
for f in "${dtmf_files[@]}" "${talkoff[@]}"; do
  d=$(multimon-ng -q -c -a DTMF -t wav "$f" 2>/dev/null | sed -n 's/^DTMF: //p' | tr -d '\n')
  printf '%s\t%s\n' "$f" "$d" >> "$out/multimon.tsv"
done
speed multimon-ng "dtmf cli, one process per file (incl. its sox resampling)" "$t0" "$(now)" all

t0=$(now)
: > "$out/spandsp.tsv"
for f in "${dtmf_files[@]}" "${talkoff[@]}"; do
  d=$("$out/spandsp_dtmf" "$f" | sed -n 's/^{"digit":"\(.\)".*/\1/p' | tr -d '\n')
  printf '%s\t%s\n' "$f" "$d" >> "$out/spandsp.tsv"
done
speed spandsp "dtmf driver, one process per file (incl. reading the whole file first)" "$t0" "$(now)" all

# In-memory DTMF throughput on the same audio: every DTMF clip and talk-off
# file laid end to end in one 8 kHz WAV, timed inside each program.
sox "${dtmf_files[@]}" "${talkoff[@]}" -r 8000 -c 1 -b 16 "$out/dtmf_all.wav"
for i in 1 2 3; do "$out/spandsp_dtmf" "$out/dtmf_all.wav" 5 | tail -n 1; done > "$out/spandsp_speed.ndjson"
for i in 1 2 3; do "$corpus_tool" --speed "$out/dtmf_all.wav"; done > "$out/voxcap_speed_dtmf.ndjson"
"$corpus_tool" --speed "${speech_files[@]}" > "$out/voxcap_speed_speech.ndjson"

# --- speech: Silero VAD (ONNX under onnxruntime, in a venv) and voxcap fused ---
# Silero's model is the ONNX file inside the silero-vad wheel (MIT), fetched
# with `pip download` (scripts/speech-set/fetch-silero.sh), never committed.
venv=${VOXCAP_SPEECH_VENV:-$target_dir/speech-venv}
if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import numpy, onnxruntime' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check numpy==2.2.6 onnxruntime==1.23.2 >&2
fi
silero_model=$(bash scripts/speech-set/fetch-silero.sh "$target_dir/corpus/silero" "$venv")
"$venv/bin/python" scripts/peers/silero_spans.py "$silero_model" "$out/silero_speech.json" "${speech_files[@]}"
"$voxcap" analyze --format json --speech-model "$silero_model" "${speech_files[@]}" > "$out/voxcap_fused_speech.ndjson"

# --- trimming: voxcap, sox, ffmpeg -------------------------------------------
# Timed runs write to a tmpfs when there is one: voxcap fsyncs each trimmed
# file before renaming it into place and sox/ffmpeg do not, so on a disk the
# figure would mostly compare fsync with no fsync. A voxcap run writing to
# disk with its fsyncs is timed as well, for the record.
if [[ -d /dev/shm && -w /dev/shm ]]; then trim=$(mktemp -d /dev/shm/voxcap-trim.XXXXXX); else trim=$out/trim-tmp; fi
trim_fs=$(df --output=fstype "$trim" | tail -n 1)
rm -rf "$out/trim" && mkdir -p "$out/trim/voxcap_disk"
mkdir -p "$trim/voxcap" "$trim/sox_lead" "$trim/sox_full" "$trim/ffmpeg_lead" "$trim/ffmpeg_full"
t0=$(now)
"$voxcap" analyze --format json --trim-out "$trim/voxcap" "${speech_files[@]}" > "$out/voxcap_speech.ndjson"
speed voxcap "trim cli, one process, full analysis + trimmed WAVs written ($trim_fs)" "$t0" "$(now)" speech
t0=$(now)
for f in "${speech_files[@]}"; do "$voxcap" analyze --format json --trim-out "$trim/voxcap" "$f" > /dev/null; done
speed voxcap "trim cli, one process per file, full analysis + trimmed WAVs written ($trim_fs)" "$t0" "$(now)" speech
# The common recipe: trim the lead, reverse, trim the (former) tail, reverse.
t0=$(now)
for f in "${speech_files[@]}"; do
  sox "$f" "$trim/sox_full/$(basename "$f")" silence 1 0.1 1% reverse silence 1 0.1 1% reverse
done
speed sox "trim cli, one process per file (silence 1 0.1 1% reverse ... reverse; $trim_fs)" "$t0" "$(now)" speech
t0=$(now)
for f in "${speech_files[@]}"; do
  ffmpeg -nostdin -v error -y -i "$f" -af silenceremove=start_periods=1:start_threshold=-50dB,areverse,silenceremove=start_periods=1:start_threshold=-50dB,areverse "$trim/ffmpeg_full/$(basename "$f")"
done
speed ffmpeg "trim cli, one process per file (silenceremove -50dB, areverse, ...; $trim_fs)" "$t0" "$(now)" speech
t0=$(now)
"$voxcap" analyze --format json --trim-out "$out/trim/voxcap_disk" "${speech_files[@]}" > /dev/null
speed voxcap "trim cli, one process, trimmed WAVs written to $(df --output=fstype "$out" | tail -n 1) with voxcap's fsync per file" "$t0" "$(now)" speech
# Lead-only runs, untimed, so that each end's cut can be measured.
for f in "${speech_files[@]}"; do
  sox "$f" "$trim/sox_lead/$(basename "$f")" silence 1 0.1 1%
  ffmpeg -nostdin -v error -y -i "$f" -af silenceremove=start_periods=1:start_threshold=-50dB "$trim/ffmpeg_lead/$(basename "$f")"
done
cp -r "$trim"/. "$out/trim/" && rm -rf "$trim"

# --- scoring (py-webrtcvad runs inside the scorer) ----------------------------
python3 scripts/peers/score.py "$corpus" "$out" | tee "$out/report.md"
