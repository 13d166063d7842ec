#!/usr/bin/env bash
# Builds the DTMF talk-off corpus: >= 60 min of real speech and >= 60 min of
# real music from Debian packages, none of it containing DTMF, as 8 kHz mono
# 16-bit WAV files under ${VOXCAP_CORPUS_DIR:-target/corpus}/talkoff/{speech,music}.
#
# Read by crates/dsp/tests/dsp/dtmf_talkoff.rs. Idempotent: a file that already
# exists is not converted again, so a second run takes seconds.
#
# Sources
#   speech: espeak-ng reading the Debian licence texts in several voices,
#           languages and speeds; recorded words and phrases from klettres-data
#           and ktuberling-data; the alsa-utils test announcements.
#   music:  frozen-bubble-data, drascula-music, asc-music and
#           fretsonfire-songs-muldjord (ogg and mp3, decoded by sox with
#           libsox-fmt-all).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

out="${VOXCAP_CORPUS_DIR:-target/corpus}/talkoff"
min_minutes=60
packages=(sox libsox-fmt-all espeak-ng alsa-utils klettres-data ktuberling-data
  frozen-bubble-data drascula-music asc-music fretsonfire-songs-muldjord)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "talkoff-corpus: installing ${missing[*]}"
    apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
      { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
  else
    echo "talkoff-corpus: missing packages ${missing[*]} (run as root or install them)" >&2
    exit 1
  fi
fi

mkdir -p "$out/speech" "$out/music"
to8k=(-r 8000 -c 1 -b 16 -e signed-integer)

# One sox call per source directory: thousands of short clips concatenated,
# which is far faster than a process per clip.
concat_dir() { # class name dir pattern
  local class=$1 name=$2 dir=$3 pattern=$4 dst
  dst="$out/$class/$name.wav"
  [[ -s $dst ]] && return 0
  mapfile -d '' files < <(find "$dir" -type f -name "$pattern" -print0 | sort -z)
  ((${#files[@]})) || return 0
  # Clips differ in rate and channel count, so normalise each through a pipe.
  local tmp
  tmp=$(mktemp -d)
  for f in "${files[@]}"; do
    printf '%s\0' "$f"
  done | xargs -0 -P 2 -n 64 bash -c 'd=$0; for f; do sox -V1 "$f" -r 8000 -c 1 -b 16 -e signed-integer "$d/$(echo "$f" | md5sum | cut -c1-16).wav" 2>/dev/null || true; done' "$tmp"
  mapfile -d '' parts < <(find "$tmp" -name '*.wav' -print0 | sort -z)
  if ((${#parts[@]})); then
    sox -V1 "${parts[@]}" "${to8k[@]}" "$dst.part.wav" && mv "$dst.part.wav" "$dst"
  fi
  rm -rf "$tmp"
}

convert_file() { # class name src
  local dst="$out/$1/$2.wav"
  [[ -s $dst ]] && return 0
  sox -V1 "$3" "${to8k[@]}" "$dst.part.wav" && mv "$dst.part.wav" "$dst"
}

# --- speech ---------------------------------------------------------------
lic=/usr/share/common-licenses
speak() { # name voice speed pitch text-file
  local dst="$out/speech/$1.wav"
  [[ -s $dst ]] && return 0
  espeak-ng -v "$2" -s "$3" -p "$4" -f "$5" --stdout | sox -V1 -t wav - "${to8k[@]}" "$dst.part.wav"
  mv "$dst.part.wav" "$dst"
}
speak espeak-en-gpl3 en 165 50 "$lic/GPL-3" &
speak espeak-enus-f3-apache en-us+f3 150 70 "$lic/Apache-2.0" &
wait
speak espeak-engb-m3-mpl en-gb+m3 185 35 "$lic/MPL-2.0" &
speak espeak-de-lgpl de 155 45 "$lic/LGPL-2.1" &
wait
speak espeak-fr-f2-artistic fr+f2 170 60 "$lic/Artistic" &
speak espeak-es-gfdl es 175 40 "$lic/GFDL-1.3" &
wait
speak espeak-it-gpl2 it 160 55 "$lic/GPL-2" &
speak espeak-pt-lgpl3 pt 170 45 "$lic/LGPL-3" &
wait
speak espeak-nl-mpl11 nl 150 65 "$lic/MPL-1.1" &
speak espeak-pl-gfdl12 pl 175 40 "$lic/GFDL-1.2" &
wait
speak espeak-ru-bsd ru 165 50 "$lic/BSD" &
speak espeak-en-f4-fast-apache en+f4 200 90 "$lic/Apache-2.0" &
speak espeak-en-m7-slow-cc0 en+m7 130 20 "$lic/CC0-1.0" &
wait
concat_dir speech klettres /usr/share/klettres '*.ogg'
concat_dir speech ktuberling /usr/share/ktuberling/sounds '*.ogg'
concat_dir speech alsa /usr/share/sounds/alsa '*.wav'

# --- music ----------------------------------------------------------------
for f in /usr/share/games/frozen-bubble/snd/*.ogg; do
  convert_file music "frozen-bubble-$(basename "$f" .ogg)" "$f"
done
for f in /usr/share/scummvm/drascula/audio/*.ogg; do
  convert_file music "drascula-$(basename "$f" .ogg)" "$f" &
  (($(jobs -r | wc -l) >= 2)) && wait -n
done
wait
for f in /usr/share/games/asc/music/*.mp3; do
  convert_file music "asc-$(basename "$f" .mp3)" "$f"
done
# Rock/metal: full mixes and the separate guitar stems.
for f in /usr/share/games/fretsonfire/data/songs/muldjord/*/*.ogg; do
  convert_file music "fretsonfire-$(basename "$(dirname "$f")")-$(basename "$f" .ogg)" "$f"
done

# --- totals ---------------------------------------------------------------
status=0
for class in speech music; do
  minutes=$(find "$out/$class" -name '*.wav' ! -name '*.part.wav' -print0 |
    xargs -0 soxi -D | awk '{s += $1} END {printf "%.1f", s / 60}')
  echo "talkoff-corpus: $class $minutes min in $out/$class"
  awk -v m="$minutes" -v min="$min_minutes" 'BEGIN {exit !(m < min)}' && {
    echo "talkoff-corpus: $class has less than $min_minutes min" >&2
    status=1
  }
done
exit $status
