//! Open statistics.

use super::*;

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    pub month: CalendarMonth,
}

impl Month {
    pub fn parse(value: &str) -> Option<Month> {
        let (year, month) = value.split_once('-')?;
        if year.len() != 4 || month.len() != 2 {
            return None;
        }
        let year: i32 = year.parse().ok()?;
        let month = CalendarMonth::try_from(month.parse::<u8>().ok()?).ok()?;
        (2000..=2100)
            .contains(&year)
            .then_some(Month { year, month })
    }

    /// The month `at` falls in, in Vietnam's time.
    pub fn of(at: OffsetDateTime) -> Month {
        let at = at.to_offset(VIETNAM);
        Month {
            year: at.year(),
            month: at.month(),
        }
    }

    pub(super) fn first_instant(self) -> Result<OffsetDateTime> {
        let day = Date::from_calendar_date(self.year, self.month, 1)
            .map_err(|e| StoreError::Other(e.into()))?;
        Ok(PrimitiveDateTime::new(day, Time::MIDNIGHT).assume_offset(VIETNAM))
    }

    pub(super) fn next(self) -> Month {
        match self.month {
            CalendarMonth::December => Month {
                year: self.year + 1,
                month: CalendarMonth::January,
            },
            month => Month {
                year: self.year,
                month: month.next(),
            },
        }
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, u8::from(self.month))
    }
}

/// One row of `GET /v1/stats/dossiers` (Decision 766/QĐ-TTg definitions).
///
/// Flows (`received`, `finished` …) count the dossiers received, or finished, in the month.
/// States (`in_progress`, `overdue`) count the dossiers received in the month that are still
/// open, and overdue, now. On time means the result was ready by the promised date: the due
/// date at receipt moved only by supplement pauses, never by an apology.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsRow {
    /// `None` on the province row.
    pub agency_code: Option<String>,
    pub month: String,
    pub received: i64,
    pub finished: i64,
    pub finished_on_time: i64,
    pub finished_late: i64,
    pub in_progress: i64,
    pub overdue: i64,
    /// finished_on_time ÷ finished; `None` when nothing finished.
    pub on_time_rate: Option<f64>,
    /// Online dossiers ÷ received; `None` when nothing was received.
    pub online_share: Option<f64>,
    /// Mean working days from receipt to result, supplement pauses excluded.
    pub average_processing_days: Option<f64>,
    #[serde(skip)]
    received_online: i64,
    #[serde(skip)]
    processing_ticks: i64,
    #[serde(skip)]
    timed: i64,
}

impl StatsRow {
    fn complete(mut self) -> StatsRow {
        self.finished_late = self.finished - self.finished_on_time;
        self.on_time_rate =
            (self.finished > 0).then(|| self.finished_on_time as f64 / self.finished as f64);
        self.online_share =
            (self.received > 0).then(|| self.received_online as f64 / self.received as f64);
        self.average_processing_days = (self.timed > 0)
            .then(|| WorkingTime(self.processing_ticks).as_days() / self.timed as f64);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsReport {
    pub month: String,
    pub items: Vec<StatsRow>,
    /// The whole province: the sum of the rows, rates recomputed.
    pub province: StatsRow,
}

/// Statistics for one month (the current one by default), per agency with activity (or the
/// one asked for), and for the province.
pub async fn stats(
    db: &PgPool,
    agency: Option<&str>,
    month: Option<Month>,
    now: OffsetDateTime,
) -> Result<StatsReport> {
    let month = month.unwrap_or_else(|| Month::of(now));
    let (start, end) = (month.first_instant()?, month.next().first_instant()?);
    let overdue = OVERDUE_SQL.replace("$now", "$4");
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT d.agency_code,
                count(*) FILTER (WHERE d.received_at >= $1 AND d.received_at < $2) AS received,
                count(*) FILTER (WHERE d.received_at >= $1 AND d.received_at < $2 AND d.online) AS received_online,
                count(*) FILTER (WHERE d.finished_at >= $1 AND d.finished_at < $2) AS finished,
                count(*) FILTER (WHERE d.finished_at >= $1 AND d.finished_at < $2 AND d.finished_at <= d.due_at) AS finished_on_time,
                count(d.processing_ticks) FILTER (WHERE d.finished_at >= $1 AND d.finished_at < $2) AS timed,
                COALESCE(sum(d.processing_ticks) FILTER (WHERE d.finished_at >= $1 AND d.finished_at < $2), 0)::int8 AS processing_ticks,
                count(*) FILTER (WHERE d.received_at >= $1 AND d.received_at < $2
                                   AND d.finished_at IS NULL AND d.closed_at IS NULL) AS in_progress,
                count(*) FILTER (WHERE d.received_at >= $1 AND d.received_at < $2 AND {overdue}) AS overdue
           FROM dossiers d
          WHERE ($3::text IS NULL OR d.agency_code = $3)
            AND ((d.received_at >= $1 AND d.received_at < $2) OR (d.finished_at >= $1 AND d.finished_at < $2))
          GROUP BY d.agency_code
          ORDER BY d.agency_code"
    )))
    .bind(start)
    .bind(end)
    .bind(agency)
    .bind(now)
    .fetch_all(db)
    .await?;
    let label = month.to_string();
    let mut province = StatsRow {
        agency_code: None,
        month: label.clone(),
        received: 0,
        finished: 0,
        finished_on_time: 0,
        finished_late: 0,
        in_progress: 0,
        overdue: 0,
        on_time_rate: None,
        online_share: None,
        average_processing_days: None,
        received_online: 0,
        processing_ticks: 0,
        timed: 0,
    };
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let item = StatsRow {
            agency_code: Some(row.try_get("agency_code")?),
            month: label.clone(),
            received: row.try_get("received")?,
            finished: row.try_get("finished")?,
            finished_on_time: row.try_get("finished_on_time")?,
            in_progress: row.try_get("in_progress")?,
            overdue: row.try_get("overdue")?,
            received_online: row.try_get("received_online")?,
            processing_ticks: row.try_get("processing_ticks")?,
            timed: row.try_get("timed")?,
            ..province.clone()
        };
        province.received += item.received;
        province.finished += item.finished;
        province.finished_on_time += item.finished_on_time;
        province.in_progress += item.in_progress;
        province.overdue += item.overdue;
        province.received_online += item.received_online;
        province.processing_ticks += item.processing_ticks;
        province.timed += item.timed;
        items.push(item.complete());
    }
    Ok(StatsReport {
        month: label,
        items,
        province: province.complete(),
    })
}

/// The applicant's citizen id, once linked (for cache invalidation after a write).
pub async fn citizen_of(db: &PgPool, code: &str) -> Result<Option<Uuid>> {
    Ok(
        sqlx::query_scalar!("SELECT citizen_id FROM dossiers WHERE code = $1", code)
            .fetch_optional(db)
            .await?
            .flatten(),
    )
}
