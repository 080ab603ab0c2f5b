//! Login attempts per minute, per username and per client address.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

const WINDOW: Duration = Duration::from_secs(60);

/// A sliding one-minute window of attempts for each key, in this process. Every attempt
/// counts, whether its password was right or wrong, so parallel guesses cannot slip past.
pub struct LoginLimiter {
    per_minute: usize,
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute: per_minute.max(1) as usize,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Records an attempt under every key, or, if any key is at its limit, records nothing
    /// and tells how many seconds until the next attempt would be allowed.
    pub fn attempt(&self, keys: &[String], now: Instant) -> Result<(), u64> {
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        if attempts.len() > 10_000 {
            attempts.retain(|_, times| times.back().is_some_and(|t| now - *t < WINDOW));
        }
        let mut wait = Duration::ZERO;
        for key in keys {
            if let Some(times) = attempts.get_mut(key) {
                while times.front().is_some_and(|t| now - *t >= WINDOW) {
                    times.pop_front();
                }
                if times.len() >= self.per_minute {
                    let oldest = times.front().copied().unwrap_or(now);
                    wait = wait.max(WINDOW - (now - oldest));
                }
            }
        }
        if !wait.is_zero() {
            return Err(wait.as_secs_f64().ceil().max(1.0) as u64);
        }
        for key in keys {
            attempts.entry(key.clone()).or_default().push_back(now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eleventh_attempt_in_a_minute_waits_for_the_first_to_age() {
        let limiter = LoginLimiter::new(10);
        let start = Instant::now();
        let keys = ["user:anna".to_owned(), "addr:10.0.0.1".to_owned()];
        for i in 0..10 {
            assert_eq!(
                limiter.attempt(&keys, start + Duration::from_secs(i)),
                Ok(())
            );
        }
        assert_eq!(
            limiter.attempt(&keys, start + Duration::from_secs(15)),
            Err(45)
        );
        // Another address trying the same username is refused too, and not counted.
        let other = ["user:anna".to_owned(), "addr:10.0.0.2".to_owned()];
        assert!(limiter
            .attempt(&other, start + Duration::from_secs(15))
            .is_err());
        assert_eq!(
            limiter.attempt(&keys, start + Duration::from_secs(60)),
            Ok(())
        );
    }
}
