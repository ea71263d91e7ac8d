//! Exponential back-off for the retry loops of the workspace (the relay here; the projectors,
//! the listener and the WebSocket feed of the engine): one doubling pause, capped, in one place.

use std::time::Duration;

/// Pauses that start at `first` and double after every failure up to `max`; [`Backoff::reset`]
/// starts over after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// Pauses from `first` (at most `max`), doubling up to `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            next: first.min(max),
            max,
        }
    }

    /// The pause before the next attempt; the one after it is twice as long (up to the cap).
    pub fn next_pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        pause
    }

    /// After a success: the next pause is the first again.
    pub fn reset(&mut self) {
        self.next = self.first.min(self.max);
    }

    /// The pause after `doublings` doublings of `first`, capped at `max`, for loops that count
    /// their failures rather than keep a [`Backoff`].
    pub fn nth(first: Duration, max: Duration, doublings: u32) -> Duration {
        first
            .saturating_mul(2_u32.saturating_pow(doublings.min(31)))
            .min(max)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(5));
        let pauses: Vec<_> = (0..10).map(|_| backoff.next_pause().as_millis()).collect();
        assert_eq!(
            pauses,
            [50, 100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]
        );
        backoff.reset();
        assert_eq!(backoff.next_pause(), Duration::from_millis(50));
    }

    proptest! {
        #[test]
        fn the_nth_pause_is_the_pause_after_n_failures(
            first_ms in 1_u64..1_000,
            max_ms in 1_u64..100_000,
            n in 0_u32..64,
        ) {
            let (first, max) = (Duration::from_millis(first_ms), Duration::from_millis(max_ms));
            let mut backoff = Backoff::new(first, max);
            let walked = (0..=n).map(|_| backoff.next_pause()).last();
            prop_assert_eq!(walked, Some(Backoff::nth(first, max, n)));
        }
    }
}
