#!/usr/bin/env bash
# Compares voxcap's trim with sox `silence` and ffmpeg `silenceremove` on the
# same generated clips (speech placed 1 s in, 1.5 s of tail, in digital
# silence, -60 dBFS and -40 dBFS white noise), and prints a markdown table of
# how much each keeps before the labelled onset and after the labelled offset
# (negative: it cut into speech). Needs sox, ffmpeg and python3.
#
# Usage: scripts/compare-trim.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d /tmp/voxcap-trim-compare.XXXXXX)}
mkdir -p "$out"
VOXCAP_TRIM_COMPARE_DIR="$out" cargo test -q -p voxcap-dsp --test dsp trim_compare >/dev/null

# Typical settings from the tools' documentation: sox trims below 1% of full
# scale (-40 dBFS) lasting 0.1 s; ffmpeg below -50 dB. Each end is trimmed
# separately (via reverse) so the removed lead and tail can be measured.
dur() { soxi -D "$1"; }
{
  printf 'file\tsox_lead_removed\tsox_tail_removed\tffmpeg_lead_removed\tffmpeg_tail_removed\n'
  tail -n +2 "$out/clips.tsv" | while IFS=$'\t' read -r file _rest; do
    in="$out/$file"
    d=$(dur "$in")
    sox "$in" /tmp/vc_s1.wav silence 1 0.1 1%
    sox "$in" /tmp/vc_s2.wav reverse silence 1 0.1 1% reverse
    ffmpeg -nostdin -v error -y -i "$in" -af silenceremove=start_periods=1:start_threshold=-50dB /tmp/vc_f1.wav
    ffmpeg -nostdin -v error -y -i "$in" -af areverse,silenceremove=start_periods=1:start_threshold=-50dB,areverse /tmp/vc_f2.wav
    printf '%s\t%s\t%s\t%s\t%s\n' "$file" \
      "$(echo "$d - $(dur /tmp/vc_s1.wav)" | bc -l)" "$(echo "$d - $(dur /tmp/vc_s2.wav)" | bc -l)" \
      "$(echo "$d - $(dur /tmp/vc_f1.wav)" | bc -l)" "$(echo "$d - $(dur /tmp/vc_f2.wav)" | bc -l)"
  done
} > "$out/tools.tsv"
rm -f /tmp/vc_s1.wav /tmp/vc_s2.wav /tmp/vc_f1.wav /tmp/vc_f2.wav

python3 - "$out" <<'PY'
import csv, statistics, sys
out = sys.argv[1]
clips = {r["file"]: r for r in csv.DictReader(open(f"{out}/clips.tsv"), delimiter="\t")}
tools = {r["file"]: r for r in csv.DictReader(open(f"{out}/tools.tsv"), delimiter="\t")}
rows = {}
for f, c in clips.items():
    d, on, off = float(c["duration_s"]), float(c["truth_onset_s"]), float(c["truth_offset_s"])
    t = tools[f]
    kept = {
        "voxcap": (on - float(c["ours_start_s"]), float(c["ours_end_s"]) - off),
        "sox silence 1%": (on - float(t["sox_lead_removed"]), (d - float(t["sox_tail_removed"])) - off),
        "ffmpeg silenceremove -50dB": (on - float(t["ffmpeg_lead_removed"]), (d - float(t["ffmpeg_tail_removed"])) - off),
    }
    for tool, (lead, tail) in kept.items():
        rows.setdefault((c["condition"], tool), []).append((lead, tail, on, d - off))
print("| condition | trimmer | clips | median kept before onset ms | worst ms | median kept after offset ms | worst ms | clips cut into speech | dead air removed % | dead air beyond 150/300 ms pads removed % |")
print("|---|---|---|---|---|---|---|---|---|---|")
for (cond, tool), v in sorted(rows.items()):
    lead = [x[0] * 1000 for x in v]; tail = [x[1] * 1000 for x in v]
    cut = sum(1 for x in v if x[0] < -0.0005 or x[1] < -0.0005)
    excess = sum(x[2] + x[3] for x in v)
    removed = sum((x[2] - max(x[0], 0)) + (x[3] - max(x[1], 0)) for x in v)
    beyond = sum(max(x[2] - 0.15, 0) + max(x[3] - 0.3, 0) for x in v)
    removed_beyond = sum(min(x[2] - max(x[0], 0), max(x[2] - 0.15, 0)) + min(x[3] - max(x[1], 0), max(x[3] - 0.3, 0)) for x in v)
    print(f"| {cond} | {tool} | {len(v)} | {statistics.median(lead):.0f} | {min(lead):.0f} | "
          f"{statistics.median(tail):.0f} | {min(tail):.0f} | {cut} | {100 * removed / excess:.0f} | {100 * removed_beyond / beyond:.0f} |")
PY
