#!/usr/bin/env bash
# Builds voxcap's speech evaluation set (issue 15) under
# ${VOXCAP_SPEECH_SET:-target/corpus/speech-set}: real recorded speech from Debian packages
# and espeak-ng phrases in many voices, mixed into clips with noise and telephone codecs,
# with frame truth taken from the clean sources, split into a tuning half and a held-back
# half. See docs/speech.md ("The evaluation set") for the rules; build.py does the mixing.
#
# Idempotent: sources already converted are kept; the clips are rebuilt only when build.py
# or the source list changed (a stamp file records its hash).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
root=$(cd "$(dirname "$0")/../.." && pwd)
out="${VOXCAP_SPEECH_SET:-$root/target/corpus/speech-set}"
venv="${VOXCAP_SPEECH_VENV:-$root/target/speech-venv}"
packages=(sox libsox-fmt-all espeak-ng alsa-utils klettres-data ktuberling-data
  fillets-ng-data-nl pocketsphinx-testdata python3-venv)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "speech-set: installing ${missing[*]}"
    apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
      { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
  else
    echo "speech-set: missing packages ${missing[*]} (run as root or install them)" >&2
    exit 1
  fi
fi

# Python for the mixer and for the Silero peer: numpy and onnxruntime from PyPI, pinned;
# the Silero model is the ONNX file inside the silero-vad wheel (MIT), fetched with
# `pip download`, never committed.
if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import numpy, onnxruntime' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check numpy==2.2.6 onnxruntime==1.23.2
fi
"$root/scripts/speech-set/fetch-silero.sh" "$out/silero" "$venv" >/dev/null

src="$out/sources"
mkdir -p "$src/real" "$src/espeak"
to8k=(-r 8000 -c 1 -b 16 -e signed-integer)

# --- real speech: a seeded sample of each package's recordings ----------------------------
pick() { # prefix count dir pattern...
  local prefix=$1 count=$2 dir=$3
  shift 3
  local args=() p
  for p in "$@"; do args+=(-o -name "$p"); done
  find "$dir" -type f \( "${args[@]:1}" \) -size +6k | sort |
    awk -v n="$count" -v pre="$prefix" 'BEGIN{srand(15)} {a[NR]=$0} END{
      for (i = NR; i > 1; i--) { j = int(rand() * i) + 1; t = a[i]; a[i] = a[j]; a[j] = t }
      for (i = 1; i <= n && i <= NR; i++) print pre "\t" a[i] }'
}
{
  pick fillets 260 /usr/share/games/fillets-ng '*.ogg'
  pick klettres 120 /usr/share/klettres '*.ogg' '*.wav'
  pick ktuberling 120 /usr/share/ktuberling '*.ogg' '*.wav' '*.flac'
  pick pocketsphinx 20 /usr/share/pocketsphinx/test/data '*.wav'
  pick alsa 9 /usr/share/sounds/alsa '*.wav'
} >"$src/real.list"
while IFS=$'\t' read -r prefix f; do
  name="$prefix-$(printf '%s' "$f" | md5sum | cut -c1-10)"
  printf '%s\t%s\n' "$f" "$src/real/$name.wav"
done <"$src/real.list" | while IFS=$'\t' read -r f dst; do
  [[ -s $dst ]] || printf '%s\0%s\0' "$f" "$dst"
done | xargs -0 -r -n 2 -P 2 sh -c 'sox -V1 "$0" -r 8000 -c 1 -b 16 -e signed-integer "$1.part.wav" 2>/dev/null && mv "$1.part.wav" "$1" || rm -f "$1.part.wav"'

# --- espeak-ng: many voices, phrases chosen for soft endings and long pauses ------------
voices=(en en-us en-gb-scotland en-gb-x-rp en-gb-x-gbclan en-gb-x-gbcwmd en-029 en-us+f2
  en-us+f4 en+m4 en+f3 en-gb+m7 en+klatt2 en-us+klatt4 de de+f2 fr fr+m3 es es+f3 it nl pt
  pl sv cs fi hu ro tr)
phrases=(
  "Please call me back this afternoon."
  "It's about the bus."
  "Yes."
  "Stop."
  "Thanks, bye for now."
  "I'll send the file with the fish."
  "Hello. <break time='1600ms'/> Are you there? <break time='1200ms'/> Hello?"
  "Could you check the length of the path."
  "Half past six."
  "Hmm, well, I guess that's fine, sure."
)
speeds=(120 150 175 200)
i=0
for v in "${voices[@]}"; do
  for p in "${!phrases[@]}"; do
    dst="$src/espeak/espeak-${v//+/_}-p$p.wav"
    i=$((i + 1))
    [[ -s $dst ]] && continue
    s=${speeds[$((i % ${#speeds[@]}))]}
    pitch=$((30 + (i * 17) % 50))
    espeak-ng -m -v "$v" -s "$s" -p "$pitch" --stdout "${phrases[$p]}" 2>/dev/null |
      sox -V1 -t wav - "${to8k[@]}" "$dst.part.wav" && mv "$dst.part.wav" "$dst"
  done
done

stamp=$(cat "$root/scripts/speech-set/build.py" "$src/real.list" <(ls "$src/espeak") | sha256sum | cut -c1-16)
if [[ -s $out/manifest.json && $(cat "$out/stamp" 2>/dev/null) == "$stamp" ]]; then
  echo "speech-set: up to date in $out"
  exit 0
fi
rm -rf "$out/clips"
"$venv/bin/python" "$root/scripts/speech-set/build.py" "$src" "$out"
echo "$stamp" >"$out/stamp"
