//! Mergeable histograms of durations with a bounded relative error, for percentiles over any
//! number of days without reading the tickets themselves.
//!
//! A duration of `v` microseconds falls in bucket `i = ceil(log_γ v)`, which holds the values
//! in `(γ^(i-1), γ^i]`; zero has a bucket of its own. A bucket stands for `2γ^i / (γ + 1)`, at
//! most [`RELATIVE_ERROR`] away from any value it holds. Buckets of several days add up by
//! index, so a window's histogram is the sum of its days'.
//!
//! A percentile is Postgres's `percentile_cont`: the values at the two ranks around
//! `p · (n - 1)`, interpolated. Each of the two is replaced by its bucket's value, at most 1 %
//! off, and an interpolation between two values each at most 1 % off is at most 1 % off: the
//! answer is within 1 % of the exact percentile (before rounding to the millisecond).

/// The largest relative difference between a percentile and the exact one.
pub const RELATIVE_ERROR: f64 = 0.01;

/// `γ = (1 + α) / (1 - α)`: the ratio between the bounds of a bucket.
const GAMMA: f64 = (1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR);

/// The bucket of durations of zero (or less, which no ticket has).
const ZERO: i32 = -1;

/// The bucket of a duration in microseconds.
pub fn bucket(micros: i64) -> i32 {
    if micros <= 0 {
        return ZERO;
    }
    // At most about 2,200 for a century: far from the ends of `i32`.
    ((micros as f64).ln() / GAMMA.ln()).ceil().max(0.0) as i32
}

/// The duration, in microseconds, that a bucket stands for.
pub fn value(bucket: i32) -> f64 {
    if bucket <= ZERO {
        return 0.0;
    }
    2.0 * GAMMA.powi(bucket) / (GAMMA + 1.0)
}

/// The largest bucket a duration has (`i64::MAX` µs falls in 2,184); anything above is not a
/// bucket of ours.
const LAST: i32 = 2_200;

/// Counts per bucket, `counts[i]` for bucket `ZERO + i`: a window adds up a few hundred buckets
/// per stored row, which a vector does without a lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<i64>,
}

impl Histogram {
    /// Adds `n` values of `bucket` (a negative `n` takes them out).
    pub fn add(&mut self, bucket: i32, n: i64) {
        if !(ZERO..=LAST).contains(&bucket) {
            tracing::warn!(bucket, "not a histogram bucket; left out");
            return;
        }
        let i = (bucket - ZERO) as usize;
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += n;
    }

    /// Adds the counts of the buckets `first`, `first + 1`, … (`None`: none in that bucket).
    pub fn add_run(&mut self, first: i32, counts: &[Option<i64>]) {
        for (bucket, n) in (first..).zip(counts) {
            if let Some(n) = n {
                self.add(bucket, *n);
            }
        }
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
    }

    /// How many values it holds.
    pub fn count(&self) -> i64 {
        self.counts.iter().filter(|n| **n > 0).sum()
    }

    /// The `p`-th percentile (`0 ≤ p ≤ 1`) in microseconds, as `percentile_cont` computes it,
    /// within [`RELATIVE_ERROR`]; `None` when it holds no value.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = p.clamp(0.0, 1.0) * (n - 1) as f64;
        let (lo, hi) = (rank.floor() as i64, rank.ceil() as i64);
        let (lo_value, hi_value) = (self.at_rank(lo)?, self.at_rank(hi)?);
        Some(lo_value + (rank - lo as f64) * (hi_value - lo_value))
    }

    /// The value of the `rank`-th smallest value's bucket (from 0).
    fn at_rank(&self, rank: i64) -> Option<f64> {
        let mut seen = 0;
        for (bucket, n) in (ZERO..).zip(&self.counts).filter(|(_, n)| **n > 0) {
            seen += n;
            if rank < seen {
                return Some(value(bucket));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `percentile_cont` over the exact values.
    fn exact(values: &mut [i64], p: f64) -> f64 {
        values.sort_unstable();
        let rank = p * (values.len() - 1) as f64;
        let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
        values[lo] as f64 + (rank - lo as f64) * (values[hi] - values[lo]) as f64
    }

    /// A small deterministic generator (xorshift), so that the test needs no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn every_value_is_within_the_bound_of_its_bucket() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..100_000 {
            let micros = (rng.next() % 100_000_000_000_000) as i64 + 1;
            let approx = value(bucket(micros));
            let error = (approx - micros as f64).abs() / micros as f64;
            assert!(error <= RELATIVE_ERROR + 1e-9, "{micros}: {approx}");
        }
        assert_eq!(value(bucket(0)), 0.0);
    }

    #[test]
    fn percentiles_of_merged_days_are_within_one_percent_of_the_exact_ones() {
        let mut rng = Rng(42);
        for round in 0..200 {
            let n = 1 + (rng.next() % 500) as usize;
            // Durations from a second to a month, spread over the orders of magnitude, as
            // response and resolution times are; some zero.
            let mut values: Vec<i64> = (0..n)
                .map(|_| match rng.next() % 20 {
                    0 => 0,
                    _ => (10f64.powf(6.0 + (rng.next() % 6_400) as f64 / 1_000.0)) as i64,
                })
                .collect();
            let mut days = [Histogram::default(), Histogram::default()];
            for (i, v) in values.iter().enumerate() {
                days[i % 2].add(bucket(*v), 1);
            }
            let mut window = Histogram::default();
            for day in &days {
                window.merge(day);
            }
            for p in [0.0, 0.5, 0.9, 0.99, 1.0] {
                let (approx, exact) = (window.percentile(p).unwrap(), exact(&mut values, p));
                assert!(
                    (approx - exact).abs() <= RELATIVE_ERROR * exact + 1e-6,
                    "round {round}, p{p}: {approx} vs {exact}"
                );
            }
        }
    }

    #[test]
    fn a_stored_run_of_buckets_adds_as_its_values_do() {
        assert!(bucket(i64::MAX) <= LAST);
        let mut one_by_one = Histogram::default();
        for (b, n) in [(-1, 2), (3, 1), (5, 4)] {
            one_by_one.add(b, n);
        }
        let mut run = Histogram::default();
        run.add_run(-1, &[Some(2), None, None, None, Some(1), None, Some(4)]);
        assert_eq!(run, one_by_one);
        // Buckets past the last one a duration can have are left out, not allocated.
        run.add_run(LAST, &[None, Some(1)]);
        assert_eq!(run, one_by_one);
        assert_eq!(run.percentile(1.0), Some(value(5)));
    }

    #[test]
    fn an_empty_histogram_has_no_percentile_and_taken_out_values_are_gone() {
        let mut h = Histogram::default();
        assert_eq!(h.percentile(0.5), None);
        h.add(bucket(5_000_000), 1);
        h.add(bucket(5_000_000), -1);
        assert_eq!(h.count(), 0);
        assert_eq!(h.percentile(0.9), None);
    }
}
