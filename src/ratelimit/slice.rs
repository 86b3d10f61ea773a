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
//! - A slice is usable for [`LIFE`] from Redis' answer. What it has not used by then is given
//!   back with the replica's next claim for that budget, as long as the budget would not be
//!   whole yet by the claim's answer; after that those requests have come back by themselves.
//!   (Another replica's give-back can make the budget whole sooner than this one knows: a
//!   give-back may then count up to a slice twice.) If no claim comes (the caller stopped), or a
//!   claim gets no answer (Redis may have taken them back before failing), they stay spent: at
//!   most one slice, until the budget refills.
//! - After a refusal slices start again from one request (a claim in flight keeps what it was
//!   granted), so near the limit most decisions are Redis' own.
//! - One claim at a time per budget and replica (one without an answer after three seconds,
//!   its request gone, is given up on, and its late answer decides only its own request):
//!   requests that find their slice used up while the next one is being claimed are decided in
//!   Redis one by one, as if there were no slices, so a slow Redis slows them no more than
//!   before.
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

/// How long a claim may be in flight before another may go: longer than a Redis call takes
/// (`redis.rs` gives a command 500 ms, and running a script is at most three commands), so
/// mostly a claim lost with its request (a cancelled future) is given up on.
const CLAIM_PATIENCE: Duration = Duration::from_secs(3);

/// One budget's slice on this replica.
#[derive(Debug, Default)]
pub(super) struct Slice {
    /// Claimed and not used yet (past [`LIFE`]: to give back).
    tokens: u64,
    /// When the last claim was answered, and how many it asked for (0 after a refusal).
    at: Option<Instant>,
    size: u64,
    /// What Redis said was left after the claim, and until the budget would be whole.
    remaining: u64,
    reset: Duration,
    /// Until when unused requests may be given back: by then the budget would be whole, so they
    /// have come back by themselves, and giving them back again would count them twice.
    back_until: Option<Instant>,
    /// A look that found at least a slice's worth left: when, what was left, and until whole.
    clear: Option<(Instant, u64, Duration)>,
    /// The claim in flight, by number, and since when; and the last number given.
    claiming: Option<(u64, Instant)>,
    claims: u64,
}

/// One claim: its number, when it was sent, how many requests it asks for and how many it
/// gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Claim {
    pub(super) id: u64,
    pub(super) sent: Instant,
    pub(super) take: u64,
    pub(super) back: u64,
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

    /// The next claim, once [`take`](Self::take) found nothing. `None` while another request's
    /// claim is in flight: this one is decided in Redis on its own.
    pub(super) fn claim(&mut self, now: Instant, largest: u64) -> Option<Claim> {
        if let Some((_, since)) = self.claiming
            && now.saturating_duration_since(since) < CLAIM_PATIENCE
        {
            return None;
        }
        self.claims += 1;
        self.claiming = Some((self.claims, now));
        let unused = std::mem::take(&mut self.tokens);
        let back = match self.back_until {
            Some(until) if now < until => unused,
            _ => 0,
        };
        let take = match young(self.at, now) {
            // The caller used its whole slice within its life: a larger one.
            Some(_) if unused == 0 => (self.size * 2).clamp(1, largest),
            _ => 1,
        };
        Some(Claim {
            id: self.claims,
            sent: now,
            take,
            back,
        })
    }

    /// Redis granted `claim` `granted` requests (at least one: the request being decided),
    /// answering at `now`, leaving `remaining` and the budget whole again after `reset`. The
    /// answer to a claim given up on decides its own request only: the rest stays spent.
    pub(super) fn granted(
        &mut self,
        claim: Claim,
        now: Instant,
        granted: u64,
        remaining: u64,
        reset: Duration,
    ) {
        if claim.id != self.claims {
            return;
        }
        self.tokens += granted.saturating_sub(1);
        self.at = Some(now);
        // A refusal seen while the claim was in flight: slices start again from one.
        self.size = if self.size == 0 { 1 } else { claim.take };
        self.remaining = remaining;
        self.reset = reset;
        // From the sending, which came before Redis measured `reset`: never too late.
        self.back_until = Some(claim.sent + reset);
        self.finish(claim);
    }

    /// The claim got no answer (Redis unreachable, or it answered too late). What it was to give
    /// back counts as spent: Redis may have taken it back before the error.
    pub(super) fn failed(&mut self, claim: Claim) {
        self.at = None;
        self.finish(claim);
    }

    /// Redis refused a request of this budget (`claim`: this replica's claim, else a request
    /// decided on its own): no look remembered, and slices start again from one request.
    pub(super) fn refused(&mut self, claim: Option<Claim>) {
        self.at = None;
        self.size = 0;
        self.clear = None;
        if let Some(claim) = claim {
            self.finish(claim);
        }
    }

    /// A look in Redis found `remaining` left: remembered if that is at least a slice's worth.
    pub(super) fn looked(&mut self, now: Instant, remaining: u64, reset: Duration, largest: u64) {
        self.clear = (remaining >= largest).then_some((now, remaining, reset));
    }

    fn finish(&mut self, claim: Claim) {
        if self.claiming.is_some_and(|(id, _)| id == claim.id) {
            self.claiming = None;
        }
    }
}

/// How long ago `at` was, while that is within a slice's life (an `at` recorded by another
/// request after this one read the clock counts as now).
fn young(at: Option<Instant>, now: Instant) -> Option<Duration> {
    let elapsed = now.saturating_duration_since(at?);
    (elapsed < LIFE).then_some(elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn quota(per_min: u64) -> Quota {
        Quota { per_min }
    }

    /// A claim's size and what it gives back.
    fn asks(claim: Option<Claim>) -> Option<(u64, u64)> {
        claim.map(|c| (c.take, c.back))
    }

    /// Claims and is granted all it asked for, with plenty left and `reset` until whole.
    fn claimed(slice: &mut Slice, now: Instant, largest: u64, reset: Duration) -> Claim {
        let claim = slice.claim(now, largest).unwrap();
        slice.granted(claim, now, claim.take, 1_000, reset);
        claim
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
        assert_eq!(claimed(&mut slice, t0, 64, MS).take, 1);
        // Its next request comes after the slice's life: one again.
        let later = t0 + LIFE;
        assert_eq!(slice.take(later), None);
        assert_eq!(asks(slice.claim(later, 64)), Some((1, 0)));
    }

    #[test]
    fn a_busy_caller_doubles_its_slice_up_to_the_largest_and_counts_down_from_memory() {
        let t0 = Instant::now();
        let mut slice = Slice::default();
        let mut sizes = Vec::new();
        let mut now = t0;
        for _ in 0..6 {
            let claim = claimed(&mut slice, now, 8, 60 * MS);
            assert_eq!(claim.back, 0);
            sizes.push(claim.take);
            for _ in 1..claim.take {
                now += MS / 10;
                assert!(slice.take(now).is_some());
            }
            now += MS / 10;
            assert_eq!(slice.take(now), None, "the slice is used up");
        }
        assert_eq!(sizes, [1, 2, 4, 8, 8, 8]);
        // What a decision from memory reports: what Redis left plus what the slice still holds.
        claimed(&mut slice, now, 8, 60 * MS);
        assert_eq!(slice.take(now + 10 * MS), Some((1_006, 50 * MS)));
    }

    #[test]
    fn one_claim_at_a_time_and_one_lost_with_its_request_is_given_up_on_after_a_while() {
        let t0 = Instant::now();
        let then = t0 + CLAIM_PATIENCE;
        let mut slice = Slice::default();
        let slow = slice.claim(t0, 8).unwrap();
        assert_eq!(
            slice.claim(t0 + LIFE, 8),
            None,
            "decided in Redis on its own"
        );
        let next = slice.claim(then, 8).unwrap();
        // The slow claim's answer comes after all: it decides its own request, holds nothing
        // for later and does not end the claim in flight.
        slice.granted(slow, then, 5, 10, MS);
        assert_eq!(slice.take(then), None);
        assert_eq!(slice.claim(then, 8), None);
        slice.granted(next, then, 2, 10, MS);
        assert!(slice.take(then).is_some());
        assert_eq!(slice.take(then), None);
        assert!(slice.claim(then, 8).is_some());
        // Nor does a late failure or refusal.
        let mut slice = Slice::default();
        let slow = slice.claim(t0, 8).unwrap();
        let next = slice.claim(then, 8).unwrap();
        slice.failed(slow);
        slice.refused(Some(slow));
        assert_eq!(slice.claim(then, 8), None);
        slice.granted(next, then, 1, 10, MS);
        assert!(slice.claim(then, 8).is_some());
    }

    #[test]
    fn what_is_left_of_a_slice_is_given_back_with_the_next_claim_until_the_budget_is_whole() {
        let t0 = Instant::now();
        let mut slice = Slice::default();
        let claim = slice.claim(t0, 8).unwrap();
        slice.granted(claim, t0, 8, 500, 2 * LIFE);
        assert!(slice.take(t0 + MS).is_some());
        assert_eq!(slice.take(t0 + LIFE), None, "past its life");
        assert_eq!(
            asks(slice.claim(t0 + LIFE, 8)),
            Some((1, 6)),
            "six unused go back, one is asked for"
        );
        // Past the time the budget would be whole, the unused have come back by themselves.
        let mut slice = Slice::default();
        let claim = slice.claim(t0, 8).unwrap();
        slice.granted(claim, t0, 8, 500, LIFE);
        assert_eq!(asks(slice.claim(t0 + LIFE, 8)), Some((1, 0)));
        // A claim without an answer gives nothing back twice.
        let mut slice = Slice::default();
        let claim = slice.claim(t0, 8).unwrap();
        slice.granted(claim, t0, 8, 500, 2 * LIFE);
        let lost = slice.claim(t0 + LIFE, 8).unwrap();
        assert_eq!(lost.back, 7);
        slice.failed(lost);
        assert_eq!(asks(slice.claim(t0 + LIFE, 8)), Some((1, 0)));
        // Redis granted less than asked, near the limit: only that is held.
        let mut slice = Slice::default();
        let claim = slice.claim(t0, 8).unwrap();
        slice.granted(claim, t0, 3, 0, MS);
        assert!(slice.take(t0).is_some());
        assert!(slice.take(t0).is_some());
        assert_eq!(slice.take(t0), None);
    }

    /// Claims three slices (1, 2 and 4 requests) and uses them up.
    fn busy(slice: &mut Slice, now: Instant) {
        for _ in 0..3 {
            claimed(slice, now, 8, MS);
            while slice.take(now).is_some() {}
        }
    }

    #[test]
    fn after_a_refusal_slices_start_again_from_one_request() {
        let t0 = Instant::now();
        let mut slice = Slice::default();
        busy(&mut slice, t0);
        let claim = slice.claim(t0, 8).unwrap();
        assert_eq!(claim.take, 8);
        slice.refused(Some(claim));
        assert_eq!(asks(slice.claim(t0, 8)), Some((1, 0)));
        // Another request's refusal leaves this replica's claim in flight, and the size it
        // asked for is forgotten when it is granted.
        let mut slice = Slice::default();
        busy(&mut slice, t0);
        let claim = slice.claim(t0, 8).unwrap();
        slice.refused(None);
        assert_eq!(slice.claim(t0, 8), None);
        slice.granted(claim, t0, 8, 0, MS);
        for _ in 0..7 {
            assert!(slice.take(t0).is_some());
        }
        assert_eq!(asks(slice.claim(t0, 8)), Some((2, 0)));
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
        // A slice with requests left answers looks too.
        let claim = slice.claim(t0, 8).unwrap();
        slice.granted(claim, t0, 2, 5, MS);
        assert_eq!(slice.look(t0), Some((6, MS)));
        // A slice past its life does not stop a look from being remembered; a refusal forgets
        // it but keeps what is to give back.
        let claim = slice.claim(t0, 8).unwrap();
        slice.granted(claim, t0, 4, 5, 10 * LIFE);
        let later = t0 + LIFE;
        slice.looked(later, 900, MS, 8);
        assert_eq!(slice.look(later), Some((900, MS)));
        slice.refused(None);
        assert_eq!(slice.look(later), None);
        assert_eq!(asks(slice.claim(later, 8)), Some((1, 3)));
    }
}
