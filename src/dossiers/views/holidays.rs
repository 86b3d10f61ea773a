//! The holiday table as operators edit it.

use super::*;
use crate::dossiers::calendar::DayKind;
use crate::dossiers::store::HolidayRow;
use crate::http::day::Day;

/// What a day of the table means for working-day counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum DayKindName {
    /// A public holiday (Labour Code, Art. 112): no work.
    Holiday,
    /// A day off that is not itself a holiday (moved or compensatory): no work.
    DayOff,
    /// A weekend day worked in exchange for a moved day off.
    WorkingDay,
}

impl From<DayKind> for DayKindName {
    fn from(kind: DayKind) -> Self {
        match kind {
            DayKind::Holiday => DayKindName::Holiday,
            DayKind::DayOff => DayKindName::DayOff,
            DayKind::WorkingDay => DayKindName::WorkingDay,
        }
    }
}

impl From<DayKindName> for DayKind {
    fn from(kind: DayKindName) -> Self {
        match kind {
            DayKindName::Holiday => DayKind::Holiday,
            DayKindName::DayOff => DayKind::DayOff,
            DayKindName::WorkingDay => DayKind::WorkingDay,
        }
    }
}

/// A day of the holiday table.
#[derive(Debug, Clone, Object)]
pub struct HolidayView {
    /// `YYYY-MM-DD`.
    pub day: Day,
    pub name: String,
    pub kind: DayKindName,
    #[oai(nullable)]
    pub note: Option<String>,
}

impl From<HolidayRow> for HolidayView {
    fn from(row: HolidayRow) -> Self {
        HolidayView {
            day: Day(row.day),
            name: row.name,
            kind: row.kind.into(),
            note: row.note,
        }
    }
}

/// The days of a year (or of every year), in date order.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct HolidayList {
    pub items: Vec<HolidayView>,
}

impl Example for HolidayList {
    fn example() -> Self {
        HolidayList {
            items: vec![HolidayView {
                day: Day(time::macros::date!(2026 - 09 - 02)),
                name: "Quốc khánh".into(),
                kind: DayKindName::Holiday,
                note: None,
            }],
        }
    }
}

/// What a day of the table is to be.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct HolidayBody {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    pub kind: DayKindName,
    /// Why (the decision that moved the day, say).
    #[oai(nullable, validator(max_length = 500))]
    pub note: Option<String>,
}

impl Example for HolidayBody {
    fn example() -> Self {
        HolidayBody {
            name: "Nghỉ bù Quốc khánh".into(),
            kind: DayKindName::DayOff,
            note: Some("Theo thông báo của Bộ Nội vụ".into()),
        }
    }
}
