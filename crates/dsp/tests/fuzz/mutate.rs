//! Deterministic mutations of a seed WAV: byte and bit flips, truncations,
//! chunk-size and `fmt ` field edits, float payloads, inserted chunks.
//!
//! A case is a pure function of (base seed, seed index, case index), so any
//! finding is replayed by its numbers alone, whatever the thread count.

use voxcap_dsp::synth::Rng;

use crate::seeds::{Layout, Seed};

/// The case generator: `synth::Rng` (SplitMix64) with the picks a mutator needs.
pub(crate) struct SplitMix(Rng);

impl SplitMix {
    /// A generator from a seed.
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix(Rng::new(seed))
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A value in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// One element of `items`.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// The generator for one case.
pub(crate) fn case_rng(base: u64, seed_index: usize, case: u64) -> SplitMix {
    let mut mix = SplitMix::new(base ^ ((seed_index as u64) << 48));
    let k = mix.next_u64();
    SplitMix::new(k ^ case.wrapping_mul(0xD1B5_4A32_D192_ED03))
}

/// The bytes of one case and what was done to the seed, in order.
pub(crate) fn make_case(
    seed: &Seed,
    base: u64,
    seed_index: usize,
    case: u64,
) -> (Vec<u8>, Vec<String>) {
    let mut rng = case_rng(base, seed_index, case);
    let mut b = seed.bytes.clone();
    let mut log = Vec::new();
    for _ in 0..1 + rng.below(4) {
        log.push(mutate(&mut b, &seed.layout, &mut rng));
    }
    (b, log)
}

/// Float values that stress the decoder's sanitising and everything after it.
const F32_SPECIALS: &[f32] = &[
    1e30,
    -1e30,
    f32::MAX,
    -f32::MAX,
    3e38,
    1e20,
    16.0,
    16.000_002,
    -17.0,
    1.0,
    -1.0,
    0.0,
    -0.0,
    1e-30,
    f32::MIN_POSITIVE,
    f32::INFINITY,
    f32::NEG_INFINITY,
];

/// Bit patterns no literal spells: NaNs (quiet, signalling, negative, with
/// payloads) and subnormals (the smallest, the largest, negative).
const F32_BITS: &[u32] = &[
    0x7FC0_0000,
    0x7F80_0001,
    0xFFFF_FFFF,
    0x7FA5_A5A5,
    0x0000_0001,
    0x007F_FFFF,
    0x8000_0001,
    0x0040_0000,
];

const F64_SPECIALS: &[f64] = &[
    1e300,
    -1e300,
    f64::MAX,
    -f64::MAX,
    1e39,
    1e30,
    -1e30,
    16.0,
    1.0,
    0.0,
    1e-40,
    1e-310,
    5e-324,
    f64::MIN_POSITIVE,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
];

/// Sizes that writers, bugs and attackers put in size fields.
const SIZES: &[u32] = &[
    0,
    1,
    2,
    3,
    7,
    8,
    15,
    16,
    17,
    18,
    39,
    40,
    41,
    1023,
    1024,
    1025,
    0x7FFF_F000,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFF0,
    0xFFFF_FFFE,
    u32::MAX,
];

fn put16(b: &mut [u8], at: usize, v: u16) -> bool {
    if at + 2 <= b.len() {
        b[at..at + 2].copy_from_slice(&v.to_le_bytes());
        true
    } else {
        false
    }
}

fn put32(b: &mut [u8], at: usize, v: u32) -> bool {
    if at + 4 <= b.len() {
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        true
    } else {
        false
    }
}

fn put64(b: &mut [u8], at: usize, v: u64) -> bool {
    if at + 8 <= b.len() {
        b[at..at + 8].copy_from_slice(&v.to_le_bytes());
        true
    } else {
        false
    }
}

/// A position: half the time in the header, where the parsing happens.
fn position(b: &[u8], l: &Layout, rng: &mut SplitMix) -> usize {
    let header = l.data.min(b.len()).max(1);
    if rng.below(2) == 0 {
        rng.below(header)
    } else {
        rng.below(b.len().max(1))
    }
}

/// One mutation; returns what it did.
fn mutate(b: &mut Vec<u8>, l: &Layout, rng: &mut SplitMix) -> String {
    if b.is_empty() {
        b.extend_from_slice(b"RIFF");
        return "empty input: wrote RIFF".into();
    }
    match rng.below(12) {
        0 => {
            let at = position(b, l, rng);
            let x = 1 + rng.below(255) as u8;
            b[at] ^= x;
            format!("xor byte {at} with {x:#04x}")
        }
        1 => {
            let at = position(b, l, rng);
            let bit = rng.below(8);
            b[at] ^= 1 << bit;
            format!("flip bit {bit} of byte {at}")
        }
        2 => {
            let at = position(b, l, rng);
            let v = rng.next_u64() as u8;
            b[at] = v;
            format!("set byte {at} to {v:#04x}")
        }
        3 => {
            let at = position(b, l, rng);
            b.truncate(at);
            format!("truncate to {at} bytes")
        }
        4 => {
            let field = rng.pick(&l.size_fields);
            let v = match rng.below(3) {
                0 => rng.pick(SIZES),
                1 => (u32_at(b, field).unwrap_or(0) as i64 + rng.below(17) as i64 - 8) as u32,
                _ => rng.next_u64() as u32,
            };
            put32(b, field, v);
            format!("chunk size at {field} = {v:#x}")
        }
        5 => fmt_field(b, l, rng),
        6 => consistent_format(b, l, rng),
        7 | 8 => float_payload(b, l, rng),
        9 => {
            // A chunk before the data with a random or lying size.
            let at = l.data.saturating_sub(8).min(b.len());
            let tag = rng.pick(&[
                *b"LIST",
                *b"fact",
                *b"fmt ",
                *b"data",
                *b"junk",
                *b"\0\0\0\0",
            ]);
            let body = rng.below(24);
            let size = if rng.below(2) == 0 {
                body as u32
            } else {
                rng.pick(SIZES)
            };
            let mut chunk = tag.to_vec();
            chunk.extend_from_slice(&size.to_le_bytes());
            chunk.extend((0..body).map(|_| rng.next_u64() as u8));
            b.splice(at..at, chunk);
            format!(
                "insert chunk {:?} size {size:#x} with {body} body bytes at {at}",
                String::from_utf8_lossy(&tag)
            )
        }
        10 => {
            let n = 1 + rng.below(64);
            let at = rng.below(b.len());
            let end = (at + n).min(b.len());
            if rng.below(2) == 0 {
                let copy = b[at..end].to_vec();
                let to = rng.below(b.len() + 1);
                b.splice(to..to, copy);
                format!("copy bytes {at}..{end} to {to}")
            } else {
                b.drain(at..end);
                format!("remove bytes {at}..{end}")
            }
        }
        _ => {
            let (riff, data) = rng.pick(&[
                (0, 0),
                (u32::MAX, u32::MAX),
                (0x7FFF_F032, 0x7FFF_F000),
                (u32::MAX, 0),
                (0, u32::MAX),
            ]);
            put32(b, 4, riff);
            put32(b, l.data_size_field, data);
            if rng.below(2) == 0 {
                let extra = rng.below(7);
                b.extend((0..extra).map(|_| rng.next_u64() as u8));
            }
            format!("pipe sizes riff {riff:#x} data {data:#x}")
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// One raw `fmt ` field set to an edge value or a random one.
fn fmt_field(b: &mut [u8], l: &Layout, rng: &mut SplitMix) -> String {
    let f = l.fmt;
    let (name, at, wide, values): (&str, usize, bool, &[u32]) = match rng.below(9) {
        0 => (
            "format tag",
            f,
            false,
            &[0, 1, 2, 3, 6, 7, 0x11, 0x55, 0xFFFE, 0xFFFF],
        ),
        1 => (
            "channels",
            f + 2,
            false,
            &[0, 1, 2, 3, 8, 16, 17, 255, 0xFFFF],
        ),
        2 => (
            "sample rate",
            f + 4,
            true,
            &[
                0,
                1,
                999,
                1000,
                7999,
                8000,
                11_025,
                44_101,
                47_999,
                384_000,
                384_001,
                u32::MAX,
            ],
        ),
        3 => ("byte rate", f + 8, true, &[0, 1, u32::MAX]),
        4 => (
            "block align",
            f + 12,
            false,
            &[0, 1, 2, 3, 4, 6, 8, 16, 0xFFFF],
        ),
        5 => (
            "bits",
            f + 14,
            false,
            &[0, 1, 4, 8, 12, 16, 20, 24, 32, 48, 64, 0xFFFF],
        ),
        6 => ("cbSize", f + 16, false, &[0, 2, 22, 0xFFFF]),
        7 => (
            "valid bits",
            f + 18,
            false,
            &[0, 1, 12, 16, 20, 24, 32, 64, 0xFFFF],
        ),
        _ => (
            "sub-format tag",
            f + 24,
            false,
            &[0, 1, 3, 6, 7, 0x55, 0xFFFE],
        ),
    };
    let v = if rng.below(4) == 0 {
        rng.next_u64() as u32
    } else {
        rng.pick(values)
    };
    if wide {
        put32(b, at, v);
    } else {
        put16(b, at, v as u16);
    }
    format!("fmt {name} = {:#x}", if wide { v } else { v & 0xFFFF })
}

/// A new encoding with a matching block align and byte rate, so that the
/// header passes validation and the data is read in another encoding (PCM
/// read as float gives arbitrary, often huge, float values).
fn consistent_format(b: &mut [u8], l: &Layout, rng: &mut SplitMix) -> String {
    let (tag, bits) = rng.pick(&[
        (1u16, 8u16),
        (1, 16),
        (1, 24),
        (1, 32),
        (3, 32),
        (3, 64),
        (6, 8),
        (7, 8),
    ]);
    let channels = rng.pick(&[1u16, 2, 3, 5, 16]);
    let rate = rng.pick(&[
        1000u32, 8000, 11_025, 16_000, 22_050, 44_100, 48_000, 96_000, 384_000,
    ]);
    let f = l.fmt;
    let extensible = u32_at(b, f).is_some_and(|v| v as u16 == 0xFFFE) && l.fmt_len >= 40;
    if extensible {
        put16(b, f + 24, tag);
        put16(b, f + 18, bits);
    } else {
        put16(b, f, tag);
    }
    let align = channels * (bits / 8);
    put16(b, f + 2, channels);
    put32(b, f + 4, rate);
    put32(b, f + 8, rate * u32::from(align));
    put16(b, f + 12, align);
    put16(b, f + 14, bits);
    format!("format tag {tag} bits {bits}, {channels} ch, {rate} Hz (consistent)")
}

/// Special float values written over the audio data: one sample, a run, or
/// every k-th sample, as f32 or f64 whatever the seed's encoding.
fn float_payload(b: &mut [u8], l: &Layout, rng: &mut SplitMix) -> String {
    let wide = rng.below(3) == 0;
    let width = if wide { 8 } else { 4 };
    let v64 = if rng.below(5) == 0 {
        rng.next_u64()
    } else {
        rng.pick(F64_SPECIALS).to_bits()
    };
    let v32 = match rng.below(6) {
        0 => rng.next_u64() as u32,
        1 => rng.pick(F32_BITS),
        _ => rng.pick(F32_SPECIALS).to_bits(),
    };
    let slots = (l.data_len / width).max(1);
    let first = rng.below(slots);
    let (count, step) = match rng.below(3) {
        0 => (1, 1),
        1 => (1 + rng.below(64), 1),
        _ => (slots, 1 + rng.below(8)),
    };
    let mut written = 0;
    for k in 0..count {
        let at = l.data + (first + k * step) * width;
        let ok = if wide {
            put64(b, at, v64)
        } else {
            put32(b, at, v32)
        };
        if !ok {
            break;
        }
        written += 1;
    }
    if wide {
        format!(
            "f64 {:e} ({v64:#018x}) x{written} every {step} from sample slot {first}",
            f64::from_bits(v64)
        )
    } else {
        format!(
            "f32 {:e} ({v32:#010x}) x{written} every {step} from sample slot {first}",
            f32::from_bits(v32)
        )
    }
}
