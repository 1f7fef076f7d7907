//! LSB-first bit packing: values are appended low bit first, bytes fill from bit 0 upward.

/// Appends fixed-width fields to a byte buffer.
pub struct BitWriter {
    buf: Vec<u8>,
    acc: u64,
    filled: u32,
}

impl BitWriter {
    pub fn with_capacity(bytes: usize) -> Self {
        Self { buf: Vec::with_capacity(bytes), acc: 0, filled: 0 }
    }

    /// Appends the low `bits` bits of `value` (`bits <= 32`; higher bits must be zero).
    pub fn put(&mut self, value: u32, bits: u32) {
        debug_assert!(bits <= 32 && (bits == 32 || value >> bits == 0), "{value} does not fit {bits} bits");
        self.acc |= (value as u64) << self.filled;
        self.filled += bits;
        while self.filled >= 8 {
            self.buf.push(self.acc as u8);
            self.acc >>= 8;
            self.filled -= 8;
        }
    }

    /// The bytes, with the last one zero-padded.
    pub fn finish(mut self) -> Vec<u8> {
        if self.filled > 0 {
            self.buf.push(self.acc as u8);
        }
        self.buf
    }
}

/// Reads fixed-width fields written by [`BitWriter`].
pub struct BitReader<'a> {
    data: &'a [u8],
    next: usize,
    acc: u64,
    filled: u32,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, next: 0, acc: 0, filled: 0 }
    }

    /// The next `bits` bits (`bits <= 32`), or `None` past the end.
    pub fn get(&mut self, bits: u32) -> Option<u32> {
        while self.filled < bits {
            let b = *self.data.get(self.next)?;
            self.next += 1;
            self.acc |= (b as u64) << self.filled;
            self.filled += 8;
        }
        let v = (self.acc & ((1u64 << bits) - 1)) as u32;
        self.acc >>= bits;
        self.filled -= bits;
        Some(v)
    }

    /// True when every byte was consumed and the leftover padding bits are zero.
    pub fn at_clean_end(&self) -> bool {
        self.next == self.data.len() && self.acc == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_pack_tightly() {
        let fields: Vec<(u32, u32)> =
            (0..100u32).map(|i| ((i * 2654435761) % (1 << (i % 13)), i % 13)).collect();
        let mut w = BitWriter::with_capacity(0);
        for (v, b) in &fields {
            w.put(*v, *b);
        }
        let total: u32 = fields.iter().map(|f| f.1).sum();
        let bytes = w.finish();
        assert_eq!(bytes.len(), total.div_ceil(8) as usize);
        let mut r = BitReader::new(&bytes);
        for (v, b) in &fields {
            assert_eq!(r.get(*b), Some(*v));
        }
        assert!(r.at_clean_end());
        assert_eq!(r.get(8), None);
    }

    #[test]
    fn four_two_bit_values_share_a_byte() {
        let mut w = BitWriter::with_capacity(1);
        for v in [1, 2, 3, 0] {
            w.put(v, 2);
        }
        assert_eq!(w.finish(), vec![0b00_11_10_01]);
    }

    #[test]
    fn dirty_padding_is_detected() {
        let mut r = BitReader::new(&[0b1000_0001]);
        assert_eq!(r.get(1), Some(1));
        assert!(!r.at_clean_end());
    }
}
