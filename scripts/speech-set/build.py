#!/usr/bin/env python3
"""Mixes voxcap's speech evaluation set from clean sources (issue 15).

usage: build.py SOURCES_DIR OUT_DIR

SOURCES_DIR holds real/*.wav and espeak/*.wav, 8 kHz mono 16-bit (prepare.sh makes them).
OUT_DIR gets clips/*.wav (8 kHz mono 16-bit) and manifest.json. The rules, also in
docs/speech.md ("The evaluation set"):

Truth, from each clean source before mixing, high-passed at 150 Hz (rumble, hum and
handling noise below the voice band are not speech), per 10 ms frame (80 samples), by
hysteresis:
a core frame is within 35 dB of the source's loudest frame; a run of frames within 45 dB of
it is speech when it holds a core frame, so the decays, fricatives and plosive releases that
end and begin words count, but a lone breath or bump 40 dB down does not. Every speech frame
is also at least 6 dB above the source's own floor (its 10th-percentile frame, at least
-100 dBFS). Runs closer than 100 ms are merged and islands under 30 ms dropped.

Split: every source belongs to one half, by a hash of its name (espeak sources by voice, so
the held-back half has voices the tuning half never heard). A clip only mixes sources of one
half; babble for a half is made of that half's real recordings.

Clips: 1-4 utterances of one half, 0.3-1.5 s lead, 0.4-1.2 s gaps (a quarter of them long
pauses of 2-4 s), 0.6-2 s tail. Level per clip: normal (active level -28..-14 dBFS), quiet
(-45 dBFS) or clipped (active level -20 dBFS, then +20 dB into a hard clip at full scale). Each clip is rendered clean and in white,
pink, crowd babble and telephone-band (300-3400 Hz) noise at 30, 20, 10 and 5 dB SNR (speech
power over truth frames / noise power); each rendering then goes through one of: nothing,
G.711 mu-law, G.711 A-law, GSM 06.10 (sox), chosen in turn.

Audible truth: the truth frames in which the speech is at least as strong as the noise that
was added (frame power, before the codec) and above -70 dBFS (the idle noise of G.711). A trimmer cannot know of speech buried under the
noise, so the trim property ("never cuts speech") is judged on it; F1 uses the full truth.
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import wave

import numpy as np

RATE = 8000
FRAME = 80
TRUTH_BELOW_PEAK_DB = 45.0
TRUTH_CORE_BELOW_PEAK_DB = 35.0
TRUTH_HIGHPASS_HZ = 150.0
TRUTH_ABOVE_FLOOR_DB = 6.0
MERGE_FRAMES = 10
MIN_ISLAND_FRAMES = 3
NOISES = ["white", "pink", "babble", "telephone"]
SNRS = [30, 20, 10, 5]
CODECS = ["none", "ulaw", "alaw", "gsm"]
BASE_CLIPS_PER_HALF = 100
BABBLE_TALKERS = 24
AUDIBLE_MIN_DBFS = -70.0
VERSION = 1


def read_wav(path):
    with wave.open(path, "rb") as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2, path
        data = w.readframes(w.getnframes())
    return np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0


def write_wav(path, x):
    pcm = np.clip(np.round(x * 32768.0), -32768, 32767).astype("<i2")
    tmp = path + ".part"
    with wave.open(tmp, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    os.replace(tmp, path)


def frame_db(x):
    n = len(x) // FRAME
    f = x[: n * FRAME].reshape(n, FRAME)
    return 10.0 * np.log10(np.mean(f * f, axis=1) + 1e-20)


def runs(mask):
    """[start, end) frame runs of True."""
    out = []
    start = None
    for i, m in enumerate(mask):
        if m and start is None:
            start = i
        elif not m and start is not None:
            out.append([start, i])
            start = None
    if start is not None:
        out.append([start, len(mask)])
    return out


def highpass(x, hz=TRUTH_HIGHPASS_HZ):
    spec = np.fft.rfft(x)
    spec[np.fft.rfftfreq(len(x), 1.0 / RATE) < hz] = 0.0
    return np.fft.irfft(spec, len(x))


def truth_frames(x):
    db = frame_db(highpass(x))
    if len(db) == 0:
        return []
    peak = db.max()
    floor = max(np.percentile(db, 10), -100.0)
    core = (db > peak - TRUTH_CORE_BELOW_PEAK_DB) & (db > floor + TRUTH_ABOVE_FLOOR_DB)
    weak = (db > peak - TRUTH_BELOW_PEAK_DB) & (db > floor + TRUTH_ABOVE_FLOOR_DB)
    # hysteresis: a weak frame is speech only when a run of weak frames joins it to a core
    # frame (the decay of a word, a fricative ending), never on its own (a breath, a bump)
    segs = [s for s in runs(weak) if core[s[0] : s[1]].any()]
    merged = []
    for s in segs:
        if merged and s[0] - merged[-1][1] < MERGE_FRAMES:
            merged[-1][1] = s[1]
        else:
            merged.append(s)
    return [s for s in merged if s[1] - s[0] >= MIN_ISLAND_FRAMES]


def half_of(name):
    key = name
    if name.startswith("espeak-"):
        key = name.rsplit("-p", 1)[0]  # the voice
    return "held" if hashlib.sha256(key.encode()).digest()[0] % 2 else "tune"


def pink(rng, n):
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    spec /= np.sqrt(f)
    spec[0] = 0.0
    return np.fft.irfft(spec, n)


def telephone(rng, n):
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / RATE)
    spec[(f < 300) | (f > 3400)] = 0.0
    return np.fft.irfft(spec, n)


def crowd(rng, talkers, n):
    """BABBLE_TALKERS real recordings, each resampled by 0.88-1.12 and looped from a random
    offset, summed at equal power."""
    out = np.zeros(n)
    picks = rng.choice(len(talkers), size=BABBLE_TALKERS, replace=len(talkers) < BABBLE_TALKERS)
    for k in picks:
        x = talkers[k]
        factor = rng.uniform(0.88, 1.12)
        idx = np.arange(0, len(x) - 1, factor)
        y = np.interp(idx, np.arange(len(x)), x)
        y = y / (np.sqrt(np.mean(y * y)) + 1e-12)
        reps = int(np.ceil((n + len(y)) / len(y)))
        y = np.tile(y, reps)
        off = rng.integers(0, len(y) - n)
        out += y[off : off + n]
    return out


def noise(kind, rng, n, talkers):
    if kind == "white":
        x = rng.standard_normal(n)
    elif kind == "pink":
        x = pink(rng, n)
    elif kind == "telephone":
        x = telephone(rng, n)
    else:
        x = crowd(rng, talkers, n)
    return x / (np.sqrt(np.mean(x * x)) + 1e-12)


def codec_round_trip(clips, codec, tmpdir):
    """One sox call per codec over all its clips laid end to end (each a multiple of 160
    samples, so GSM frames never straddle two clips)."""
    if codec == "none" or not clips:
        return clips
    joined = np.concatenate(clips)
    src = os.path.join(tmpdir, "in.wav")
    enc = os.path.join(tmpdir, {"ulaw": "x.ul", "alaw": "x.al", "gsm": "x.gsm"}[codec])
    dst = os.path.join(tmpdir, "out.wav")
    write_wav(src, joined)
    args = {"ulaw": ["-e", "u-law"], "alaw": ["-e", "a-law"], "gsm": []}[codec]
    subprocess.run(["sox", "-V1", src, "-r", "8000", "-c", "1", *args, enc], check=True)
    subprocess.run(["sox", "-V1", enc, "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", dst], check=True)
    y = read_wav(dst)
    y = np.concatenate([y, np.zeros(max(0, len(joined) - len(y)))])[: len(joined)]
    out, pos = [], 0
    for c in clips:
        out.append(y[pos : pos + len(c)])
        pos += len(c)
    return out


def no_speech_clips(rng):
    """(name, samples): things that are not speech."""
    n = 6 * RATE
    t = np.arange(n) / RATE
    db = lambda v: 10 ** (v / 20.0)
    hum = sum(np.sin(2 * np.pi * 50 * k * t) / k for k in (1, 2, 3, 5))
    hum60 = sum(np.sin(2 * np.pi * 60 * k * t) / k for k in (1, 3))
    step = np.concatenate([db(-70) * rng.standard_normal(n // 2), db(-40) * rng.standard_normal(n - n // 2)])
    dtmf_keys = [(697, 1209), (770, 1336), (852, 1477), (941, 1336), (697, 1633)]
    dtmf = np.zeros(n)
    for i, (lo, hi) in enumerate(dtmf_keys):
        a = int((0.5 + i * 0.9) * RATE)
        b = a + int(0.12 * RATE)
        tt = t[a:b]
        dtmf[a:b] = 0.5 * (np.sin(2 * np.pi * lo * tt) + np.sin(2 * np.pi * hi * tt))
    beep = np.where(t < 0.5, np.sin(2 * np.pi * 1000 * t), 0.0)
    ring = np.where((t % 6) < 2, 0.5 * (np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * 480 * t)), 0.0)
    return [
        ("silence", np.zeros(n)),
        ("dither-90", db(-90) * rng.standard_normal(n)),
        ("white-40", db(-40) * rng.standard_normal(n)),
        ("white-20", db(-20) * rng.standard_normal(n)),
        ("pink-40", db(-40) * noise("pink", rng, n, None)),
        ("pink-25", db(-25) * noise("pink", rng, n, None)),
        ("telephone-30", db(-30) * noise("telephone", rng, n, None)),
        ("hum50-20", db(-20) * hum / np.max(np.abs(hum))),
        ("hum60-30", db(-30) * hum60 / np.max(np.abs(hum60))),
        ("hiss-45", db(-45) * noise("telephone", rng, n, None)),
        ("noise-step", step),
        ("dtmf-6", db(-6) * dtmf),
        ("dtmf-24", db(-24) * dtmf),
        ("beep-6", db(-6) * beep),
        ("ringback-20", db(-20) * ring),
        ("beep-in-white-40", db(-6) * beep + db(-40) * rng.standard_normal(n)),
    ]


def main():
    src_dir, out_dir = sys.argv[1], sys.argv[2]
    clips_dir = os.path.join(out_dir, "clips")
    os.makedirs(clips_dir, exist_ok=True)
    rng = np.random.default_rng(15)

    sources = {"tune": [], "held": []}
    for sub in ("real", "espeak"):
        for fn in sorted(os.listdir(os.path.join(src_dir, sub))):
            if not fn.endswith(".wav"):
                continue
            name = fn[:-4]
            x = read_wav(os.path.join(src_dir, sub, fn))
            if len(x) > 12 * RATE or len(x) < FRAME * 10:
                continue
            segs = truth_frames(x)
            if not segs or sum(e - s for s, e in segs) < 15:
                continue
            # cut the source to its speech +-100 ms of its own background
            a = max(0, (segs[0][0] - 10) * FRAME)
            b = min(len(x), (segs[-1][1] + 10) * FRAME)
            x = x[a:b]
            segs = [[s - a // FRAME, e - a // FRAME] for s, e in segs]
            sources[half_of(name)].append({"name": name, "x": x, "segs": segs, "real": sub == "real"})

    manifest = {"version": VERSION, "rate": RATE, "truth_rule": __doc__.split("Split:")[0].strip(), "clips": []}
    pending = {c: [] for c in CODECS}  # codec -> [(entry, samples)]
    render_index = 0
    for half in ("tune", "held"):
        srcs = sources[half]
        order = rng.permutation(len(srcs))
        talkers = [s["x"] for s in srcs if s["real"]]
        pos = 0
        for b in range(BASE_CLIPS_PER_HALF):
            k = int(rng.integers(1, 5))
            utts = [srcs[order[(pos + i) % len(order)]] for i in range(k)]
            pos += k
            level_class = rng.choice(["normal", "quiet", "clipped"], p=[0.7, 0.15, 0.15])
            level = {"normal": rng.uniform(-28, -14), "quiet": -45.0, "clipped": -20.0}[level_class]
            parts, truth = [], []
            cursor = int(rng.uniform(0.3, 1.5) * RATE)
            parts.append(np.zeros(cursor))
            for i, u in enumerate(utts):
                x = u["x"]
                act = np.concatenate([x[s * FRAME : e * FRAME] for s, e in u["segs"]])
                gain = 10 ** (level / 20.0) / (np.sqrt(np.mean(act * act)) + 1e-12)
                parts.append(x * gain)
                truth += [[cursor + s * FRAME, cursor + e * FRAME] for s, e in u["segs"]]
                cursor += len(x)
                if i + 1 < len(utts):
                    gap = rng.uniform(2.0, 4.0) if rng.random() < 0.25 else rng.uniform(0.4, 1.2)
                    parts.append(np.zeros(int(gap * RATE)))
                    cursor += int(gap * RATE)
            tail = int(rng.uniform(0.6, 2.0) * RATE)
            n = cursor + tail
            n += (-n) % 160
            speech = np.zeros(n)
            speech[: cursor] = np.concatenate(parts)[:cursor]
            if level_class == "clipped":
                speech = np.clip(speech * 10.0, -1.0, 1.0)
            mask = np.zeros(n, dtype=bool)
            for s, e in truth:
                mask[s:e] = True
            p_speech = np.mean(speech[mask] ** 2)
            base = f"{half}-{b:03d}"
            cells = [("clean", None)] + [(nz, snr) for nz in NOISES for snr in SNRS]
            for nz, snr in cells:
                x = speech.copy()
                # below -70 dBFS speech is under the codecs' own idle noise
                speech_db = frame_db(highpass(speech))
                loud = speech_db > AUDIBLE_MIN_DBFS
                if nz != "clean":
                    nx = noise(nz, rng, n, talkers) * np.sqrt(p_speech / 10 ** (snr / 10.0))
                    x += nx
                    # truth frames whose speech is at least as strong as the noise in them
                    loud &= speech_db >= frame_db(highpass(nx))
                tf = np.zeros(len(loud), dtype=bool)
                for s0, e0 in truth:
                    tf[s0 // FRAME : e0 // FRAME] = True
                audible = [[a * FRAME, b * FRAME] for a, b in runs(tf & loud)]
                codec = CODECS[render_index % len(CODECS)]
                render_index += 1
                name = f"{base}-{nz}{'' if snr is None else snr}"
                entry = {
                    "file": f"clips/{name}.wav",
                    "half": half,
                    "kind": "speech",
                    "base": base,
                    "noise": nz,
                    "snr_db": snr,
                    "codec": codec,
                    "level": level_class,
                    "level_dbfs": round(float(level), 1),
                    "sources": [u["name"] for u in utts],
                    "samples": n,
                    "truth": truth,
                    "audible": audible,
                }
                pending[codec].append((entry, x))
        for j, (nm, x) in enumerate(no_speech_clips(rng)):
            n = len(x)
            codec = CODECS[j % len(CODECS)]
            entry = {"file": f"clips/{half}-nospeech-{nm}.wav", "half": half, "kind": "nospeech", "base": f"{half}-nospeech-{nm}",
                     "noise": nm, "snr_db": None, "codec": codec, "level": None, "level_dbfs": None,
                     "sources": [], "samples": n, "truth": [], "audible": []}
            pending[codec].append((entry, x))

    with tempfile.TemporaryDirectory() as tmp:
        for codec, items in pending.items():
            out = codec_round_trip([x for _, x in items], codec, tmp)
            for (entry, _), y in zip(items, out):
                write_wav(os.path.join(out_dir, entry["file"]), y)
                manifest["clips"].append(entry)
    manifest["clips"].sort(key=lambda e: e["file"])
    counts = {h: sum(1 for c in manifest["clips"] if c["half"] == h) for h in ("tune", "held")}
    manifest["sources"] = {h: len(sources[h]) for h in sources}
    tmp = os.path.join(out_dir, "manifest.json.part")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=0)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(out_dir, "manifest.json"))
    print(f"speech-set: {len(manifest['clips'])} clips ({counts}) from sources {manifest['sources']} in {out_dir}")


if __name__ == "__main__":
    main()
