//! Vietnamese working time, for due dates.
//!
//! The model: a working day is a morning session (07:30–11:30) and an afternoon session
//! (13:30–17:00), Vietnam's time (UTC+7, no daylight saving), Monday to Friday, minus the days
//! off of the holiday table, plus the weekend days it marks as worked in exchange. Each session
//! counts as half a working day whatever its length, so processing times in half days
//! (0.5, 1.5 …) end on session boundaries when counted from one, and time runs evenly inside a
//! session. Working time is counted in integer ticks: 100 800 per session, the least common
//! multiple of both sessions' lengths in seconds, so both convert exactly (7 and 8 ticks a
//! second).
//!
//! Everything here is pure: the holiday set and the current time are arguments.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::macros::{offset, time};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset, Weekday};

/// Asia/Ho_Chi_Minh: UTC+7 all year.
pub const VIETNAM: UtcOffset = offset!(+7);

/// The working sessions of a day, in local time.
pub const SESSIONS: [(Time, Time); 2] =
    [(time!(07:30), time!(11:30)), (time!(13:30), time!(17:00))];

/// Ticks in one session (half a working day).
pub const TICKS_PER_HALF_DAY: i64 = 100_800;
/// Ticks in one working day.
pub const TICKS_PER_DAY: i64 = 2 * TICKS_PER_HALF_DAY;

/// Default cut-off: a receipt at or after 15:00 counts from the next working day.
pub const DEFAULT_CUTOFF: Time = time!(15:00);

/// A span of working time, signed (negative when a deadline has passed).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct WorkingTime(pub i64);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "a processing time is a non-negative number of working days in halves (0.5, 1, 1.5 …) up to 365"
)]
pub struct BadProcessingTime(pub f64);

impl WorkingTime {
    pub const ZERO: WorkingTime = WorkingTime(0);

    /// A processing time in working days; only whole and half days exist in the catalogue.
    pub fn from_days(days: f64) -> Result<WorkingTime, BadProcessingTime> {
        let halves = days * 2.0;
        if !days.is_finite() || !(0.0..=365.0).contains(&days) || halves.fract() != 0.0 {
            return Err(BadProcessingTime(days));
        }
        Ok(WorkingTime(halves as i64 * TICKS_PER_HALF_DAY))
    }

    /// In working days, fractional.
    pub fn as_days(self) -> f64 {
        self.0 as f64 / TICKS_PER_DAY as f64
    }
}

impl std::ops::Add for WorkingTime {
    type Output = WorkingTime;
    fn add(self, other: WorkingTime) -> WorkingTime {
        WorkingTime(self.0 + other.0)
    }
}

/// What a row of the holiday table says about a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    /// A public holiday set by the Labour Code (Art. 112).
    Holiday,
    /// A day off that is not itself a holiday: compensation for a holiday on a weekend, or a
    /// working day the government moved next to a holiday.
    DayOff,
    /// A weekend day worked in exchange for a moved day off.
    WorkingDay,
}

impl DayKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DayKind::Holiday => "holiday",
            DayKind::DayOff => "day_off",
            DayKind::WorkingDay => "working_day",
        }
    }

    pub fn parse(value: &str) -> Option<DayKind> {
        [DayKind::Holiday, DayKind::DayOff, DayKind::WorkingDay]
            .into_iter()
            .find(|kind| kind.as_str() == value)
    }
}

/// The holiday table, as the calendar needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holidays {
    off: BTreeSet<Date>,
    worked: BTreeSet<Date>,
}

impl Holidays {
    pub fn new(days: impl IntoIterator<Item = (Date, DayKind)>) -> Holidays {
        let mut holidays = Holidays::default();
        for (date, kind) in days {
            match kind {
                DayKind::Holiday | DayKind::DayOff => holidays.off.insert(date),
                DayKind::WorkingDay => holidays.worked.insert(date),
            };
        }
        holidays
    }

    pub fn is_working_day(&self, date: Date) -> bool {
        if self.worked.contains(&date) {
            return true;
        }
        !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) && !self.off.contains(&date)
    }

    fn next_working_day(&self, after: Date) -> Option<Date> {
        let mut date = after;
        // Bounded so that a table marking every day off cannot hang a request.
        for _ in 0..3660 {
            date = date.next_day()?;
            if self.is_working_day(date) {
                return Some(date);
            }
        }
        None
    }
}

fn local(at: OffsetDateTime) -> PrimitiveDateTime {
    let at = at.to_offset(VIETNAM);
    PrimitiveDateTime::new(at.date(), at.time())
}

fn instant(date: Date, time: Time) -> OffsetDateTime {
    PrimitiveDateTime::new(date, time).assume_offset(VIETNAM)
}

/// Ticks per second of a session.
fn rate(session: (Time, Time)) -> i64 {
    TICKS_PER_HALF_DAY / (session.1 - session.0).whole_seconds()
}

fn first_session_of(date: Date) -> OffsetDateTime {
    instant(date, SESSIONS[0].0)
}

/// When the clock starts for a dossier received at `received_at`: then, if inside a session of a
/// working day before the cut-off; the next session start if between sessions; the next working
/// day's first session if on a day off or at or after the cut-off.
pub fn clock_start(
    received_at: OffsetDateTime,
    cutoff: Time,
    holidays: &Holidays,
) -> OffsetDateTime {
    let at = local(received_at);
    let last_end = SESSIONS[SESSIONS.len() - 1].1;
    if holidays.is_working_day(at.date()) && at.time() < cutoff && at.time() < last_end {
        for (start, end) in SESSIONS {
            if at.time() < start {
                return instant(at.date(), start);
            }
            if at.time() < end {
                return received_at;
            }
        }
    }
    match holidays.next_working_day(at.date()) {
        Some(date) => first_session_of(date),
        None => received_at,
    }
}

/// The instant `amount` of working time after `from`. Landing exactly on the end of a session
/// gives that end (a one-day time from a morning start ends at 17:00, not the next morning).
pub fn add_working(
    from: OffsetDateTime,
    amount: WorkingTime,
    holidays: &Holidays,
) -> OffsetDateTime {
    let mut remaining = amount.0;
    if remaining <= 0 {
        return from;
    }
    let start = local(from);
    let mut date = start.date();
    for _ in 0..3660 {
        if holidays.is_working_day(date) {
            for session in SESSIONS {
                let begin = if date == start.date() {
                    session.0.max(start.time()).min(session.1)
                } else {
                    session.0
                };
                let rate = rate(session);
                let available = (session.1 - begin).whole_seconds() * rate;
                if remaining <= available {
                    // Round up: the deadline is never earlier than the time promised.
                    let seconds = (remaining + rate - 1) / rate;
                    return instant(date, begin) + Duration::seconds(seconds);
                }
                remaining -= available;
            }
        }
        match date.next_day() {
            Some(next) => date = next,
            None => break,
        }
    }
    from
}

/// The due date of a dossier received at `received_at` for a procedure taking
/// `processing_days` with the given cut-off.
pub fn due_at(
    received_at: OffsetDateTime,
    processing_days: WorkingTime,
    cutoff: Time,
    holidays: &Holidays,
) -> OffsetDateTime {
    add_working(
        clock_start(received_at, cutoff, holidays),
        processing_days,
        holidays,
    )
}

/// Working time from `a` to `b`; negative when `b` is before `a`.
pub fn working_time_between(
    a: OffsetDateTime,
    b: OffsetDateTime,
    holidays: &Holidays,
) -> WorkingTime {
    if b < a {
        return WorkingTime(-working_time_between(b, a, holidays).0);
    }
    let (a, b) = (local(a), local(b));
    let mut total = 0;
    let mut date = a.date();
    while date <= b.date() {
        if holidays.is_working_day(date) {
            for session in SESSIONS {
                let begin = if date == a.date() {
                    session.0.max(a.time())
                } else {
                    session.0
                };
                let end = if date == b.date() {
                    session.1.min(b.time())
                } else {
                    session.1
                };
                if end > begin {
                    total += (end - begin).whole_seconds() * rate(session);
                }
            }
        }
        match date.next_day() {
            Some(next) => date = next,
            None => break,
        }
    }
    WorkingTime(total)
}

/// The due date once the clock has been stopped for `paused` working time (waiting for the
/// citizen's supplement).
pub fn shift_by_paused(
    due: OffsetDateTime,
    paused: WorkingTime,
    holidays: &Holidays,
) -> OffsetDateTime {
    add_working(due, paused, holidays)
}

/// Working days from `now` to `due`, fractional; negative once overdue.
pub fn working_days_left(now: OffsetDateTime, due: OffsetDateTime, holidays: &Holidays) -> f64 {
    working_time_between(now, due, holidays).as_days()
}

/// Overdue: not finished and past the due date. Computed, never stored.
pub fn is_overdue(now: OffsetDateTime, due: OffsetDateTime, finished: bool) -> bool {
    !finished && now > due
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    /// The 2025 rows the tests need, as the migration seeds them.
    fn holidays_2025() -> Holidays {
        Holidays::new([
            (date!(2025 - 01 - 01), DayKind::Holiday),
            (date!(2025 - 01 - 27), DayKind::Holiday),
            (date!(2025 - 01 - 28), DayKind::Holiday),
            (date!(2025 - 01 - 29), DayKind::Holiday),
            (date!(2025 - 01 - 30), DayKind::Holiday),
            (date!(2025 - 01 - 31), DayKind::Holiday),
            (date!(2025 - 04 - 07), DayKind::Holiday),
            (date!(2025 - 04 - 26), DayKind::WorkingDay),
            (date!(2025 - 04 - 30), DayKind::Holiday),
            (date!(2025 - 05 - 01), DayKind::Holiday),
            (date!(2025 - 05 - 02), DayKind::DayOff),
            (date!(2025 - 09 - 01), DayKind::Holiday),
            (date!(2025 - 09 - 02), DayKind::Holiday),
        ])
    }

    fn vn(at: PrimitiveDateTime) -> OffsetDateTime {
        at.assume_offset(VIETNAM)
    }

    #[test]
    fn sessions_convert_to_ticks_exactly() {
        for session in SESSIONS {
            let seconds = (session.1 - session.0).whole_seconds();
            assert_eq!(TICKS_PER_HALF_DAY % seconds, 0);
        }
    }

    #[test]
    fn due_dates() {
        let h = holidays_2025();
        let cutoff = DEFAULT_CUTOFF;
        // (case, received, days, expected due)
        let table = [
            (
                "inside a session: the clock runs from receipt",
                datetime!(2025-03-03 09:00),
                1.0,
                datetime!(2025-03-04 09:00),
            ),
            (
                "across a weekend",
                datetime!(2025-03-07 09:00),
                1.0,
                datetime!(2025-03-10 09:00),
            ),
            (
                "three days from Thursday",
                datetime!(2025-03-06 08:00),
                3.0,
                datetime!(2025-03-11 08:00),
            ),
            (
                "before opening: from the first session",
                datetime!(2025-03-03 06:00),
                1.0,
                datetime!(2025-03-03 17:00),
            ),
            (
                "during lunch: from the afternoon session",
                datetime!(2025-03-03 12:00),
                0.5,
                datetime!(2025-03-03 17:00),
            ),
            (
                "after the cut-off: from the next working day",
                datetime!(2025-03-03 15:30),
                1.0,
                datetime!(2025-03-04 17:00),
            ),
            (
                "after the cut-off on Friday: from Monday",
                datetime!(2025-03-07 16:00),
                0.5,
                datetime!(2025-03-10 11:30),
            ),
            (
                "received on a Sunday",
                datetime!(2025-03-09 10:00),
                2.0,
                datetime!(2025-03-11 17:00),
            ),
            (
                "half a day from the morning session's start",
                datetime!(2025-03-04 07:30),
                0.5,
                datetime!(2025-03-04 11:30),
            ),
            (
                "a day and a half from the afternoon",
                datetime!(2025-03-04 13:30),
                1.5,
                datetime!(2025-03-05 17:00),
            ),
            (
                "half a day from mid-morning ends in the afternoon",
                datetime!(2025-03-04 09:30),
                0.5,
                // 2 h of the morning is 2/4 of a session; the other half of a session is
                // 1 h 45 of the 3 h 30 afternoon.
                datetime!(2025-03-04 15:15),
            ),
            (
                "over Tết 2025 (27/1–31/1 off, with the weekends around)",
                datetime!(2025-01-24 09:00),
                2.0,
                datetime!(2025-02-04 09:00),
            ),
            (
                "received during Tết",
                datetime!(2025-01-29 10:00),
                1.0,
                datetime!(2025-02-03 17:00),
            ),
            (
                "over Hùng Kings day (7/4/2025)",
                datetime!(2025-04-04 10:00),
                1.0,
                datetime!(2025-04-08 10:00),
            ),
            (
                "moved holiday: Friday 2/5/2025 off, Saturday 26/4 worked",
                datetime!(2025-04-25 10:00),
                1.0,
                datetime!(2025-04-26 10:00),
            ),
            (
                "moved holiday: 30/4 to 4/5 off",
                datetime!(2025-04-29 10:00),
                1.0,
                datetime!(2025-05-05 10:00),
            ),
            (
                "National Day with its adjacent day (1/9 and 2/9/2025)",
                datetime!(2025-08-29 15:30),
                0.5,
                datetime!(2025-09-03 11:30),
            ),
            (
                "zero days: due when the clock starts",
                datetime!(2025-03-03 15:30),
                0.0,
                datetime!(2025-03-04 07:30),
            ),
        ];
        for (case, received, days, expected) in table {
            let due = due_at(
                vn(received),
                WorkingTime::from_days(days).unwrap(),
                cutoff,
                &h,
            );
            assert_eq!(due, vn(expected), "{case}");
        }
    }

    #[test]
    fn receipt_times_are_compared_in_vietnam_time() {
        let h = holidays_2025();
        // 08:45 UTC is 15:45 in Hà Nội: after the cut-off.
        let received = datetime!(2025-03-03 08:45 UTC);
        let due = due_at(
            received,
            WorkingTime::from_days(1.0).unwrap(),
            DEFAULT_CUTOFF,
            &h,
        );
        assert_eq!(due, vn(datetime!(2025-03-04 17:00)));
    }

    #[test]
    fn working_time_between_counts_only_sessions_of_working_days() {
        let h = holidays_2025();
        let table = [
            (
                datetime!(2025-03-03 07:30),
                datetime!(2025-03-03 17:00),
                1.0,
            ),
            (
                datetime!(2025-03-03 09:30),
                datetime!(2025-03-03 11:30),
                0.25,
            ),
            (
                datetime!(2025-03-03 11:30),
                datetime!(2025-03-03 13:30),
                0.0,
            ),
            (
                datetime!(2025-03-07 09:00),
                datetime!(2025-03-10 09:00),
                1.0,
            ),
            (
                datetime!(2025-01-24 09:00),
                datetime!(2025-02-04 09:00),
                2.0,
            ),
            (
                datetime!(2025-03-10 09:00),
                datetime!(2025-03-07 09:00),
                -1.0,
            ),
            (
                datetime!(2025-03-08 09:00),
                datetime!(2025-03-09 09:00),
                0.0,
            ),
        ];
        for (a, b, days) in table {
            assert_eq!(
                working_time_between(vn(a), vn(b), &h).as_days(),
                days,
                "{a} → {b}"
            );
        }
    }

    #[test]
    fn adding_what_was_measured_comes_back() {
        let h = holidays_2025();
        let from = vn(datetime!(2025-01-23 10:17:31));
        for to in [
            datetime!(2025-01-23 16:59:59),
            datetime!(2025-02-03 07:30:01),
            datetime!(2025-05-05 14:02:10),
        ] {
            let span = working_time_between(from, vn(to), &h);
            assert_eq!(add_working(from, span, &h), vn(to), "{to}");
        }
    }

    #[test]
    fn a_supplement_pause_moves_the_due_date_by_the_paused_working_time() {
        let h = holidays_2025();
        let due = due_at(
            vn(datetime!(2025-03-03 09:00)),
            WorkingTime::from_days(5.0).unwrap(),
            DEFAULT_CUTOFF,
            &h,
        );
        assert_eq!(due, vn(datetime!(2025-03-10 09:00)));
        // Waiting for the supplement from Wednesday 10:00 to the next Monday 10:00: 3 working
        // days, the weekend not counted.
        let paused = working_time_between(
            vn(datetime!(2025-03-05 10:00)),
            vn(datetime!(2025-03-10 10:00)),
            &h,
        );
        assert_eq!(paused.as_days(), 3.0);
        assert_eq!(
            shift_by_paused(due, paused, &h),
            vn(datetime!(2025-03-13 09:00))
        );
        assert_eq!(shift_by_paused(due, WorkingTime::ZERO, &h), due);
        // From a session's end, the shift begins at the next session.
        let at_end = vn(datetime!(2025-03-07 17:00));
        assert_eq!(
            shift_by_paused(at_end, WorkingTime::from_days(0.5).unwrap(), &h),
            vn(datetime!(2025-03-10 11:30))
        );
    }

    #[test]
    fn days_left_and_overdue() {
        let h = holidays_2025();
        let due = vn(datetime!(2025-03-10 09:00));
        assert_eq!(
            working_days_left(vn(datetime!(2025-03-07 09:00)), due, &h),
            1.0
        );
        // 09:00–11:30 is 2.5 h of the 4 h morning: 0.625 of half a day.
        assert_eq!(
            working_days_left(vn(datetime!(2025-03-10 13:30)), due, &h),
            -0.3125
        );
        assert!(!is_overdue(due, due, false));
        assert!(is_overdue(due + Duration::seconds(1), due, false));
        assert!(!is_overdue(due + Duration::days(9), due, true));
    }

    #[test]
    fn processing_times_are_whole_or_half_days() {
        for ok in [0.0, 0.5, 1.0, 1.5, 15.0, 365.0] {
            assert_eq!(WorkingTime::from_days(ok).unwrap().as_days(), ok);
        }
        for bad in [-0.5, 0.25, 1.3, f64::NAN, f64::INFINITY, 366.0] {
            assert!(WorkingTime::from_days(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn moved_days_change_what_a_working_day_is() {
        let h = holidays_2025();
        assert!(h.is_working_day(date!(2025 - 04 - 26)), "worked Saturday");
        assert!(!h.is_working_day(date!(2025 - 05 - 02)), "moved Friday");
        assert!(!h.is_working_day(date!(2025 - 04 - 27)), "ordinary Sunday");
        assert!(h.is_working_day(date!(2025 - 04 - 25)));
    }
}
