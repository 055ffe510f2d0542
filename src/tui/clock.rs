//! Where the workbench reads the time. It runs on the system clock; tests give it a manual
//! clock that moves only when told, so elapsed times, rates, ETAs and how long a toast stays are
//! the same on every run, however late a frame is drawn.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How far ahead of the system clock a manual clock starts.
const MANUAL_LEAD: Duration = Duration::from_secs(24 * 60 * 60);

/// The system clock, or a manual one shared by its clones.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    manual: Option<Arc<Mutex<Instant>>>,
}

impl Clock {
    /// The system's monotonic clock.
    pub fn system() -> Clock {
        Clock { manual: None }
    }

    /// A clock moving only by [`Clock::advance`]. It stands a day ahead of the system clock,
    /// so a time read from the system where this clock was meant shows up at once.
    pub fn manual() -> Clock {
        let start = Instant::now() + MANUAL_LEAD;
        Clock {
            manual: Some(Arc::new(Mutex::new(start))),
        }
    }

    pub fn now(&self) -> Instant {
        match &self.manual {
            Some(at) => *at.lock().unwrap_or_else(|e| e.into_inner()),
            None => Instant::now(),
        }
    }

    /// Moves a manual clock (and its clones) forward.
    ///
    /// # Panics
    /// On the system clock, which nobody moves.
    pub fn advance(&self, by: Duration) {
        let at = self
            .manual
            .as_ref()
            .expect("only a manual clock can be advanced");
        *at.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_its_clones_follow() {
        let clock = Clock::manual();
        let start = clock.now();
        assert!(
            start > Instant::now(),
            "it stands ahead of the system clock"
        );
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.now(), start);
        let clone = clock.clone();
        clock.advance(Duration::from_secs(3));
        assert_eq!(clone.now() - start, Duration::from_secs(3));
    }

    #[test]
    fn the_system_clock_moves_on_its_own() {
        let clock = Clock::system();
        let start = clock.now();
        std::thread::sleep(Duration::from_millis(5));
        assert!(clock.now() > start);
    }
}
