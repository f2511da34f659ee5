//! A tiny deterministic generator for property tests (splitmix64): reproducible, no dependency.

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Uniform in lo..=hi.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.below((hi - lo) as u64 + 1) as i64)
    }
}

impl Rng {
    /// A bigint from anywhere in its range, biased to where fixed-width arithmetic breaks: the
    /// ends (i64::MIN, i64::MAX), 0 and -1 and their neighbours, values 2^63 apart (`v` and
    /// `v + i64::MIN`, modulo 2^64), and uniform draws over all 2^64 values.
    pub fn any_i64(&mut self) -> i64 {
        const EDGES: [i64; 9] = [
            i64::MIN,
            i64::MIN + 1,
            -(1 << 62),
            -1,
            0,
            1,
            1 << 62,
            i64::MAX - 1,
            i64::MAX,
        ];
        match self.below(4) {
            0 => EDGES[self.below(EDGES.len() as u64) as usize],
            // Near an edge: a few steps away, either side (wrapping keeps it in range).
            1 => EDGES[self.below(EDGES.len() as u64) as usize]
                .wrapping_add(self.below(9) as i64 - 4),
            // The other half of the circle: 2^63 away from a small value.
            2 => (self.below(9) as i64 - 4).wrapping_add(i64::MIN),
            _ => self.next() as i64,
        }
    }
}
