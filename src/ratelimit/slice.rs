//! Slices of a busy budget, held in process so that not every request waits on Redis.
//!
//! A caller sending many requests a second to one replica would otherwise cost a Redis round
//! trip each. Instead the replica claims a few of the caller's requests at once (a slice), in
//! the same GCRA step, and decides the next ones from memory. What keeps this within the budget:
//! - A slice is spent in Redis when claimed, so every replica still draws from one budget; Redis
//!   grants no more than is left.
//! - Slices grow only while the caller keeps coming back within [`LIFE`] (1, 2, 4, … requests),
//!   up to a thousandth of the budget and at most [`LARGEST`]. An occasional caller, and any
//!   budget under 2,000 a minute, is decided in Redis one request at a time, exactly as before.
//! - A slice is usable for [`LIFE`]. What it has not used by then is given back with the
//!   replica's next claim for that budget; if none comes (the caller stopped), it stays spent,
//!   at most one slice's worth, until the budget refills.
//! - After a refusal slices start again from one request, so near the limit most decisions are
//!   Redis' own.
//! - One claim at a time per budget and replica: requests that find their slice used up while
//!   the next one is being claimed are decided in Redis one by one, as if there were no slices,
//!   so a slow Redis slows them no more than before.
//!
//! A look (a budget checked, not spent) is remembered for [`LIFE`] likewise, when it found at
//! least a slice's worth left.

use std::time::{Duration, Instant};

use super::Quota;

/// How long a slice, or a look that found plenty left, may be acted on.
pub(super) const LIFE: Duration = Duration::from_millis(100);
/// The most requests one slice holds.
const LARGEST: u64 = 64;
/// A slice holds at most this fraction of a budget (its per-minute limit divided by this).
const SHARE: u64 = 1_000;

impl Quota {
    /// How many requests one claim may take; 1 decides every request in Redis.
    pub(super) fn largest_slice(self) -> u64 {
        (self.per_min / SHARE).clamp(1, LARGEST)
    }
}

/// One budget's slice on this replica.
#[derive(Debug, Default)]
pub(super) struct Slice {
    /// Claimed and not used yet (past [`LIFE`]: to give back).
    tokens: u64,
    /// When the last claim was answered, and how many it asked for.
    at: Option<Instant>,
    size: u64,
    /// What Redis said was left after the claim, and until the budget would be whole.
    remaining: u64,
    reset: Duration,
    /// A look that found at least a slice's worth left: when, what was left, and until whole.
    clear: Option<(Instant, u64, Duration)>,
    /// Since when a claim is in flight. One lost with its request (a cancelled future) stops
    /// counting after [`LIFE`].
    claiming: Option<Instant>,
}

/// What a decision from memory reports: requests left and time until the budget is whole.
pub(super) type Local = (u64, Duration);

impl Slice {
    /// Spends one request of the slice, if it holds one still good at `now`.
    pub(super) fn take(&mut self, now: Instant) -> Option<Local> {
        let elapsed = young(self.at, now)?;
        self.tokens = self.tokens.checked_sub(1)?;
        Some((
            self.remaining + self.tokens,
            self.reset.saturating_sub(elapsed),
        ))
    }

    /// Answers a look from memory: requests are left in the slice, or a recent look found plenty.
    pub(super) fn look(&self, now: Instant) -> Option<Local> {
        if let Some(elapsed) = young(self.at, now).filter(|_| self.tokens > 0) {
            return Some((
                self.remaining + self.tokens,
                self.reset.saturating_sub(elapsed),
            ));
        }
        let (at, remaining, reset) = self.clear?;
        let elapsed = young(Some(at), now)?;
        Some((remaining, reset.saturating_sub(elapsed)))
    }

    /// The next claim, once [`take`](Self::take) found nothing: how many requests to ask for,
    /// and how many unused ones of the old slice to give back. `None` while another request's
    /// claim is in flight: this one is decided in Redis on its own.
    pub(super) fn claim(&mut self, now: Instant, largest: u64) -> Option<(u64, u64)> {
        if young(self.claiming, now).is_some() {
            return None;
        }
        self.claiming = Some(now);
        let back = std::mem::take(&mut self.tokens);
        let size = match young(self.at, now) {
            // The caller used its whole slice within its life: a larger one.
            Some(_) if back == 0 => (self.size * 2).clamp(1, largest),
            _ => 1,
        };
        Some((size, back))
    }

    /// Redis granted this replica's claim `granted` requests (at least one: the request being
    /// decided) of `size` asked for.
    pub(super) fn granted(
        &mut self,
        now: Instant,
        size: u64,
        granted: u64,
        remaining: u64,
        reset: Duration,
    ) {
        *self = Slice {
            tokens: granted.saturating_sub(1),
            at: Some(now),
            size,
            remaining,
            reset,
            clear: self.clear,
            claiming: None,
        };
    }

    /// The claim could not be made (Redis unreachable): what it was to give back is kept, to give
    /// back with the next one.
    pub(super) fn failed(&mut self, back: u64) {
        self.tokens += back;
        self.at = None;
        self.claiming = None;
    }

    /// Redis refused a request of this budget (`own_claim`: this replica's claim): no look
    /// remembered, and slices start again from one request.
    pub(super) fn refused(&mut self, own_claim: bool) {
        self.at = None;
        self.size = 0;
        self.clear = None;
        if own_claim {
            self.claiming = None;
        }
    }

    /// A look in Redis found `remaining` left: remembered if that is at least a slice's worth.
    pub(super) fn looked(&mut self, now: Instant, remaining: u64, reset: Duration, largest: u64) {
        self.clear = (remaining >= largest).then_some((now, remaining, reset));
    }
}

/// How long ago `at` was, while that is within a slice's life.
fn young(at: Option<Instant>, now: Instant) -> Option<Duration> {
    let elapsed = now.checked_duration_since(at?)?;
    (elapsed < LIFE).then_some(elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn quota(per_min: u64) -> Quota {
        Quota { per_min }
    }

    #[test]
    fn a_slice_is_a_thousandth_of_a_budget_at_most_64_and_small_budgets_have_none() {
        assert_eq!(quota(1_200).largest_slice(), 1);
        assert_eq!(quota(1_999).largest_slice(), 1);
        assert_eq!(quota(6_000).largest_slice(), 6);
        assert_eq!(quota(1_000_000_000).largest_slice(), 64);
    }

    #[test]
    fn an_occasional_caller_claims_one_request_at_a_time() {
        let t0 = Instant::now();
        let mut slice = Slice::default();
        assert_eq!(slice.take(t0), None);
        assert_eq!(slice.claim(t0, 64), Some((1, 0)));
        slice.granted(t0, 1, 1, 99, MS);
        // Its next request comes after the slice's life: one again.
        let later = t0 + LIFE;
        assert_eq!(slice.take(later), None);
        assert_eq!(slice.claim(later, 64), Some((1, 0)));
    }

    #[test]
    fn a_busy_caller_doubles_its_slice_up_to_the_largest_and_counts_down_from_memory() {
        let t0 = Instant::now();
        let mut slice = Slice::default();
        let mut sizes = Vec::new();
        let mut now = t0;
        for _ in 0..6 {
            let (size, back) = slice.claim(now, 8).unwrap();
            assert_eq!(back, 0);
            sizes.push(size);
            slice.granted(now, size, size, 1_000, 60 * MS);
            for _ in 1..size {
                now += MS / 10;
                assert!(slice.take(now).is_some());
            }
            now += MS / 10;
            assert_eq!(slice.take(now), None, "the slice is used up");
        }
        assert_eq!(sizes, [1, 2, 4, 8, 8, 8]);
        // What a decision from memory reports: what Redis left plus what the slice still holds.
        slice.granted(now, 8, 8, 1_000, 60 * MS);
        assert_eq!(slice.take(now + 10 * MS), Some((1_006, 50 * MS)));
    }

    #[test]
    fn one_claim_at_a_time_and_one_lost_with_its_request_stops_counting_after_its_life() {
        let t0 = Instant::now();
        let mut slice = Slice::default();
        assert!(slice.claim(t0, 8).is_some());
        assert_eq!(slice.claim(t0 + MS, 8), None, "decided in Redis on its own");
        // The claim's request went away before the answer: the next claim may go after LIFE.
        assert_eq!(slice.claim(t0 + LIFE, 8), Some((1, 0)));
        slice.granted(t0 + LIFE, 1, 1, 10, MS);
        assert!(slice.claim(t0 + LIFE, 8).is_some());
    }

    #[test]
    fn what_is_left_of_a_slice_is_not_used_after_its_life_and_goes_back_with_the_next_claim() {
        let t0 = Instant::now();
        let mut slice = Slice::default();
        slice.granted(t0, 8, 8, 500, MS);
        assert!(slice.take(t0 + MS).is_some());
        assert_eq!(slice.take(t0 + LIFE), None);
        assert_eq!(
            slice.claim(t0 + LIFE, 8),
            Some((1, 6)),
            "six unused go back, one is asked for"
        );
        // Redis could not be reached: the six are given back with the claim after.
        slice.failed(6);
        assert_eq!(slice.take(t0 + LIFE), None);
        assert_eq!(slice.claim(t0 + LIFE, 8), Some((1, 6)));
        // Redis granted less than asked, near the limit: only that is held.
        let mut slice = Slice::default();
        slice.granted(t0, 8, 3, 0, MS);
        assert!(slice.take(t0).is_some());
        assert!(slice.take(t0).is_some());
        assert_eq!(slice.take(t0), None);
    }

    #[test]
    fn after_a_refusal_slices_start_again_from_one_request() {
        let t0 = Instant::now();
        let mut slice = Slice::default();
        slice.granted(t0, 4, 4, 0, MS);
        for _ in 0..3 {
            slice.take(t0);
        }
        assert_eq!(slice.claim(t0 + MS, 8), Some((8, 0)));
        slice.refused(true);
        assert_eq!(slice.claim(t0 + MS, 8), Some((1, 0)));
        // Another request's refusal leaves this replica's claim in flight.
        slice.refused(false);
        assert_eq!(slice.claim(t0 + MS, 8), None);
    }

    #[test]
    fn a_look_is_remembered_only_when_it_found_a_slice_s_worth_left_and_only_for_its_life() {
        let t0 = Instant::now();
        let mut slice = Slice::default();
        slice.looked(t0, 7, 60 * MS, 8);
        assert_eq!(slice.look(t0), None, "under a slice's worth: asked again");
        slice.looked(t0, 8, 60 * MS, 8);
        assert_eq!(slice.look(t0 + MS), Some((8, 59 * MS)));
        assert_eq!(slice.look(t0 + LIFE), None);
        // A remembered look holds no requests to spend.
        slice.looked(t0, 800, MS, 8);
        assert_eq!(slice.take(t0), None);
        assert_eq!(slice.claim(t0, 8), Some((1, 0)));
        // A slice with requests left answers looks too.
        slice.granted(t0, 2, 2, 5, MS);
        assert_eq!(slice.look(t0), Some((6, MS)));
        // A slice past its life, its unused requests not given back yet, does not stop a look
        // from being remembered; a refusal forgets it but keeps what is to give back.
        slice.granted(t0, 8, 8, 900, MS);
        let later = t0 + LIFE;
        slice.looked(later, 900, MS, 8);
        assert_eq!(slice.look(later), Some((900, MS)));
        slice.refused(false);
        assert_eq!(slice.look(later), None);
        assert_eq!(slice.claim(later, 8), Some((1, 7)));
    }
}
