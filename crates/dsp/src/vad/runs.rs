//! Growing runs of speech frames: following weak edges above the floor,
//! stretching over a speech model's votes, padding (split out of `vad.rs`).

/// Follows each run outwards while the frames stay `gate_db` above the local
/// floor (at most `max` frames each way, never into a `blocked` frame): the
/// decay of a word, a trailing fricative or a breathy onset is quieter than
/// anything webrtc-vad calls voice, but it still stands clear of the noise.
/// Runs that come to touch are merged.
pub(super) fn extend_edges(
    runs: &[(usize, usize)],
    above: &[f32],
    blocked: &[bool],
    gate_db: f32,
    max: usize,
) -> Vec<(usize, usize)> {
    grow_runs(runs, above.len(), max, |i| {
        !blocked[i] && above[i] > gate_db
    })
}

/// Grows each run outwards over frames where `open` holds, at most `max`
/// frames each way within `0..n`, and merges runs that come to touch.
fn grow_runs(
    runs: &[(usize, usize)],
    n: usize,
    max: usize,
    open: impl Fn(usize) -> bool,
) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(runs.len());
    for &(s, e) in runs {
        let (mut s2, mut e2) = (s.min(n), e);
        while s2 > 0 && s - s2 < max && open(s2 - 1) {
            s2 -= 1;
        }
        while e2 < n && e2 - e < max && open(e2) {
            e2 += 1;
        }
        match out.last_mut() {
            Some(last) if s2 <= last.1 => last.1 = last.1.max(e2),
            _ => out.push((s2, e2)),
        }
    }
    out
}

/// Stretches each run over the model's votes next to it: while the frames
/// before its start (after its end) are `votes` and not `blocked`, at most
/// `max` frames each way. The gates decide whether there is speech; the
/// model's run says how far it goes (soft endings, pauses inside a word).
/// Runs that come to touch are merged.
pub(super) fn stretch_runs(
    runs: &[(usize, usize)],
    votes: &[bool],
    blocked: &[bool],
    max: usize,
) -> Vec<(usize, usize)> {
    let n = blocked.len().min(votes.len());
    grow_runs(runs, n, max, |i| votes[i] && !blocked[i])
}

/// Extends frame runs by the pads, stopping at DTMF masks so a segment never
/// overlaps a key press, and merges runs that come to touch.
pub(super) fn pad_runs(
    runs: &[(usize, usize)],
    masked: &[bool],
    on_pad: usize,
    off_pad: usize,
) -> Vec<(usize, usize)> {
    let n = masked.len();
    let mut segs: Vec<(usize, usize)> = Vec::new();
    for &(s, e) in runs {
        let mut s2 = s;
        while s2 > 0 && s - s2 < on_pad && !masked[s2 - 1] {
            s2 -= 1;
        }
        let mut e2 = e;
        while e2 < n && e2 - e < off_pad && !masked[e2] {
            e2 += 1;
        }
        match segs.last_mut() {
            Some(last) if s2 <= last.1 => last.1 = last.1.max(e2),
            _ => segs.push((s2, e2)),
        }
    }
    segs
}
