//! Monotonic time as the cores see it: milliseconds since an origin the caller picks.

use std::fmt;
use std::ops::Add;
use std::time::Duration;

/// A point in monotonic time, in milliseconds since an origin chosen by the caller (a driver
/// uses the moment it started; a simulation uses virtual time zero).
///
/// Cores never read a clock: every `handle` call carries the current `Millis`, and
/// `poll_timeout` answers in `Millis`, so traces print readably and replays are exact.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u64);

impl Millis {
    /// The origin.
    pub const ZERO: Self = Self(0);

    /// Milliseconds elapsed from `earlier` to `self` (zero if `earlier` is later).
    pub fn since(self, earlier: Self) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Millis {
    type Output = Self;

    /// Saturating: a huge duration yields the far future instead of overflowing.
    fn add(self, rhs: Duration) -> Self {
        let ms = u64::try_from(rhs.as_millis()).unwrap_or(u64::MAX);
        Self(self.0.saturating_add(ms))
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_saturates_and_since_clamps() {
        assert_eq!(Millis(5) + Duration::from_millis(7), Millis(12));
        assert_eq!(
            Millis(u64::MAX - 1) + Duration::from_secs(10),
            Millis(u64::MAX)
        );
        assert_eq!(Millis(3).since(Millis(10)), Duration::ZERO);
        assert_eq!(Millis(10).since(Millis(3)), Duration::from_millis(7));
    }
}
