#!/usr/bin/env bash
# Issue 15 item 5: one 30-minute 8 kHz recording with digits (the speech
# fixtures looped with pauses, two DTMF "1" presses a minute, white noise at
# about -55 dBFS, made with sox), then side by side in one run, best of
# ROUNDS (default 5) wall times: `voxcap analyze` (decode, DTMF, speech,
# trim, verification; the speech frames classified on a worker thread),
# the same with one thread (two inputs at -j 2 halve per file), sox
# decoding it, and spandsp's DTMF receiver scanning it (scripts/peers).
# Usage: scripts/speed-30min.sh [OUTDIR]   (needs sox and libspandsp-dev)
# BEFORE=path/to/an/older/voxcap adds its `analyze` as a row (timed in the
# same rounds, interleaved), and checks that its JSON report is the same.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/speed-30min}"
rounds="${ROUNDS:-5}"
mkdir -p "$out"
cargo build --release -q -p voxcap
cc -O2 -o "$out/spandsp_dtmf" scripts/peers/spandsp_dtmf.c -lspandsp -lm
if [[ ! -f "$out/rec30.wav" ]]; then
    parts=()
    i=0
    sox -n -r 8000 -c 1 -b 16 "$out/gap.wav" trim 0 0.8
    for f in testdata/speech/*.wav; do
        sox "$f" -r 8000 -c 1 -b 16 "$out/p$i.wav"
        parts+=("$out/p$i.wav" "$out/gap.wav")
        i=$((i + 1))
    done
    sox -n -r 8000 -b 16 -c 1 "$out/dt.wav" synth 0.1 sine 697 synth 0.1 sine mix 1209 vol 0.3
    sox -n -r 8000 -c 1 -b 16 "$out/sil.wav" trim 0 0.1
    sox "${parts[@]}" "$out/dt.wav" "$out/sil.wav" "$out/dt.wav" "$out/sil.wav" "$out/block.wav"
    blocks=()
    for _ in $(seq 31); do blocks+=("$out/block.wav"); done
    sox "${blocks[@]}" "$out/long.wav" trim 0 1800
    sox -n -r 8000 -c 1 -b 16 "$out/noise.wav" synth 1800 whitenoise vol 0.003
    sox -m "$out/long.wav" "$out/noise.wav" "$out/rec30.wav"
    rm -f "$out"/p*.wav "$out/long.wav" "$out/noise.wav" "$out/block.wav"
fi
cp "$out/rec30.wav" "$out/rec30b.wav"
best() { sort -n | head -n 1; }
t() { local s e; s=$(date +%s%N); "$@" > /dev/null 2>&1; e=$(date +%s%N); awk -v n=$((e - s)) 'BEGIN { printf "%.3f\n", n / 1e9 }'; }
before="${BEFORE:-}"
if [[ -n $before ]]; then
    if cmp -s <("$before" analyze "$out/rec30.wav") <(target/release/voxcap analyze "$out/rec30.wav"); then
        echo "the report of $before is the same as this build's"
    else
        echo "the report of $before differs from this build's"
    fi
fi
for name in voxcap voxcap_1thread_2files sox spandsp before; do : > "$out/$name.t"; done
for _ in $(seq "$rounds"); do
    [[ -z $before ]] || t "$before" analyze "$out/rec30.wav" >> "$out/before.t"
    t target/release/voxcap analyze "$out/rec30.wav" >> "$out/voxcap.t"
    t target/release/voxcap analyze -j 2 "$out/rec30.wav" "$out/rec30b.wav" >> "$out/voxcap_1thread_2files.t"
    t sox "$out/rec30.wav" -t raw /dev/null >> "$out/sox.t"
    t "$out/spandsp_dtmf" "$out/rec30.wav" >> "$out/spandsp.t"
done
v=$(best < "$out/voxcap.t"); v2=$(best < "$out/voxcap_1thread_2files.t")
s=$(best < "$out/sox.t"); d=$(best < "$out/spandsp.t")
printf 'best of %s, wall seconds, 30 min of 8 kHz audio\n' "$rounds"
[[ -z $before ]] || printf '  %s analyze (before)  %.3f\n' "$before" "$(best < "$out/before.t")"
printf '  voxcap analyze (worker lane)          %.3f\n' "$v"
printf '  voxcap analyze -j 2, two copies       %.3f (%.3f per file, one thread each)\n' "$v2" "$(awk -v a="$v2" 'BEGIN { print a / 2 }')"
printf '  sox decode                            %.3f\n' "$s"
printf '  spandsp DTMF (reads the file, 1 pass) %.3f\n' "$d"
printf '  sox + spandsp                         %.3f\n' "$(awk -v a="$s" -v b="$d" 'BEGIN { print a + b }')"
