//! The one source of "now". Tests move a [`ManualClock`] instead of sleeping.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, SubsecRound, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

pub type SharedClock = Arc<dyn Clock>;

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// To the microsecond, as both databases keep times: a time the code holds equals the
    /// same time read back.
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// A clock that stands still until it is told to move.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Mutex::new(start))
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().expect("clock lock") += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}

/// A clock that started at a chosen instant and runs at the machine's pace from there
/// (development: `FENHONG_CLOCK_START`).
#[derive(Debug)]
pub struct StartedClock {
    start: DateTime<Utc>,
    began: std::time::Instant,
}

impl StartedClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            start,
            began: std::time::Instant::now(),
        }
    }
}

impl Clock for StartedClock {
    fn now(&self) -> DateTime<Utc> {
        (self.start + Duration::from_std(self.began.elapsed()).unwrap_or_else(|_| Duration::zero()))
            .trunc_subsecs(6)
    }
}
