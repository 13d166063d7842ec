//! The DTMF keypad (ITU-T Q.23): which digit sits at which pair of row and
//! column frequencies. The detector ([`crate::dtmf`]) decodes with these
//! tables and the test-signal generators ([`crate::synth`]) encode with them.

/// The DTMF keypad in row-major order: rows are the low group, columns the high group.
pub const DTMF_KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Low-group (row) DTMF frequencies in Hz.
pub const DTMF_LOW_HZ: [f32; 4] = [697.0, 770.0, 852.0, 941.0];

/// High-group (column) DTMF frequencies in Hz.
pub const DTMF_HIGH_HZ: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// All sixteen DTMF digits, in keypad order.
pub const DTMF_DIGITS: [char; 16] = [
    '1', '2', '3', 'A', '4', '5', '6', 'B', '7', '8', '9', 'C', '*', '0', '#', 'D',
];

/// The (low, high) frequency pair of a DTMF digit, or `None` for other characters.
pub fn dtmf_frequencies(digit: char) -> Option<(f32, f32)> {
    let digit = digit.to_ascii_uppercase();
    for (r, row) in DTMF_KEYPAD.iter().enumerate() {
        for (c, &d) in row.iter().enumerate() {
            if d == digit {
                return Some((DTMF_LOW_HZ[r], DTMF_HIGH_HZ[c]));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_table_matches_q23() {
        assert_eq!(dtmf_frequencies('1'), Some((697.0, 1209.0)));
        assert_eq!(dtmf_frequencies('#'), Some((941.0, 1477.0)));
        assert_eq!(dtmf_frequencies('d'), Some((941.0, 1633.0)));
        assert_eq!(dtmf_frequencies('x'), None);
    }
}
