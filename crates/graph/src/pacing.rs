//! Client-side pacing: a request budget per mailbox and a shared pause that
//! every task honours after a 429, so one throttled answer does not turn into a
//! storm of retries from the other in-flight tasks.

use std::collections::VecDeque;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// At most `capacity` requests in any `window` (a sliding window, the same
/// rule the service applies: "10,000 requests per 10 minutes per mailbox").
/// A sliding log is stricter than a refilling token bucket of the same size:
/// a bucket would allow a second burst before the service's window has moved
/// on, which is exactly the 429 we want to avoid.
#[derive(Debug)]
pub struct RequestBudget {
    capacity: usize,
    window: Duration,
    state: Mutex<BudgetState>,
}

#[derive(Debug, Default)]
struct BudgetState {
    sent: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

impl RequestBudget {
    /// A budget of `capacity` requests per `window`. A capacity of 0 is
    /// treated as 1.
    pub fn new(capacity: usize, window: Duration) -> Self {
        RequestBudget {
            capacity: capacity.max(1),
            window,
            state: Mutex::new(BudgetState::default()),
        }
    }

    /// The Outlook default: 10,000 requests per 10 minutes.
    pub fn outlook_default() -> Self {
        Self::new(10_000, Duration::from_secs(600))
    }

    /// Waits until `n` requests may be sent, then counts them.
    pub async fn acquire(&self, n: usize) {
        let n = n.clamp(1, self.capacity);
        loop {
            let wait = {
                let mut s = self.state.lock();
                let now = Instant::now();
                while s.sent.front().is_some_and(|t| *t + self.window <= now) {
                    s.sent.pop_front();
                }
                if let Some(p) = s.paused_until.filter(|p| *p > now) {
                    Some(p - now)
                } else if s.sent.len() + n <= self.capacity {
                    for _ in 0..n {
                        s.sent.push_back(now);
                    }
                    None
                } else {
                    let idx = s.sent.len() + n - self.capacity - 1;
                    let t = s.sent[idx] + self.window;
                    Some(
                        t.saturating_duration_since(now)
                            .max(Duration::from_millis(1)),
                    )
                }
            };
            match wait {
                None => return,
                Some(d) => tokio::time::sleep(d).await,
            }
        }
    }

    /// Every task waits at least `d` before its next request (a `Retry-After`).
    pub fn pause_for(&self, d: Duration) {
        let until = Instant::now() + d;
        let mut s = self.state.lock();
        if s.paused_until.is_none_or(|p| p < until) {
            s.paused_until = Some(until);
        }
    }

    /// Requests counted in the current window.
    pub fn in_window(&self) -> usize {
        let mut s = self.state.lock();
        let now = Instant::now();
        while s.sent.front().is_some_and(|t| *t + self.window <= now) {
            s.sent.pop_front();
        }
        s.sent.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn budget_blocks_until_the_window_moves() {
        let b = RequestBudget::new(3, Duration::from_secs(10));
        let start = Instant::now();
        for _ in 0..3 {
            b.acquire(1).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        b.acquire(1).await;
        assert!(start.elapsed() >= Duration::from_secs(10));
        assert_eq!(b.in_window(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn pause_delays_everyone() {
        let b = RequestBudget::new(100, Duration::from_secs(10));
        b.pause_for(Duration::from_secs(2));
        let start = Instant::now();
        b.acquire(1).await;
        assert!(start.elapsed() >= Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn batch_acquire_counts_each_part() {
        let b = RequestBudget::new(20, Duration::from_secs(10));
        b.acquire(15).await;
        let start = Instant::now();
        b.acquire(10).await;
        assert!(start.elapsed() >= Duration::from_secs(10));
        assert_eq!(b.in_window(), 10);
    }
}
