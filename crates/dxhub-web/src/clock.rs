//! The web layer's clock. Sessions, sign-in locks and publication stamps read the time from
//! here, so that a test can move time forward instead of sleeping through it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Seconds since the Unix epoch: the system's, or a hand-set one that only moves when told.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock { manual: None }
    }

    /// A clock that stands at `start` (Unix seconds) until [`Clock::advance`] moves it.
    pub fn manual(start: i64) -> Self {
        Clock {
            manual: Some(Arc::new(AtomicI64::new(start))),
        }
    }

    /// Now, in Unix seconds.
    pub fn now(&self) -> i64 {
        match &self.manual {
            Some(t) => t.load(Ordering::SeqCst),
            None => jiff::Timestamp::now().as_second(),
        }
    }

    /// Moves a manual clock forward by `secs` (every clone sees it); the system clock
    /// cannot be moved, so this panics on it.
    pub fn advance(&self, secs: i64) {
        match &self.manual {
            Some(t) => {
                t.fetch_add(secs, Ordering::SeqCst);
            }
            None => panic!("the system clock cannot be moved"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let c = Clock::manual(1_000);
        let d = c.clone();
        assert_eq!(c.now(), 1_000);
        d.advance(5);
        assert_eq!(c.now(), 1_005);
        let s = Clock::system().now();
        assert!(s > 1_700_000_000, "{s}");
    }
}
