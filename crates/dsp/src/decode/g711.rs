//! ITU-T G.711 µ-law and A-law expansion tables, built at compile time.
//!
//! The tables hold the 16-bit linear value of each code word scaled to
//! `f32` full scale (divided by 32768), so decoding a byte is one load.

/// Expands one µ-law code word to a 16-bit linear sample (G.711 table 2).
const fn mulaw_to_i16(code: u8) -> i16 {
    // Code words are transmitted inverted.
    let c = !code;
    let exponent = ((c >> 4) & 0x07) as i32;
    let mantissa = (c & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if c & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// Expands one A-law code word to a 16-bit linear sample (G.711 table 1).
const fn alaw_to_i16(code: u8) -> i16 {
    // Even bits are inverted on the line.
    let c = code ^ 0x55;
    let exponent = ((c >> 4) & 0x07) as i32;
    let mantissa = (c & 0x0F) as i32;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    // In A-law a set sign bit means a positive sample.
    if c & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

const fn build(alaw: bool) -> [f32; 256] {
    let mut table = [0f32; 256];
    let mut i = 0;
    while i < 256 {
        let v = if alaw {
            alaw_to_i16(i as u8)
        } else {
            mulaw_to_i16(i as u8)
        };
        table[i] = v as f32 / 32768.0;
        i += 1;
    }
    table
}

/// µ-law code word to `f32` sample (16-bit linear value / 32768).
pub(crate) static MULAW_TO_F32: [f32; 256] = build(false);

/// A-law code word to `f32` sample (16-bit linear value / 32768).
pub(crate) static ALAW_TO_F32: [f32; 256] = build(true);
