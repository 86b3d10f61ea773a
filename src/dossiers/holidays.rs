//! The holiday table in process: every due date needs it, and it changes a few times a year.
//!
//! Reads (days left, overdue flags) use each replica's copy, kept for [`HolidayCalendar::TTL`]:
//! an operator's edit drops the copy of the replica that served it at once, and the others see it
//! when their copy expires. Writes that promise a due date read the table itself
//! ([`HolidayCalendar::for_write`]): a promise is never recomputed, so it must not miss an edit
//! made on another replica a moment before.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::calendar::Holidays;
use super::store::{self, StoreError};

/// The table as loaded, and when.
type Loaded = Option<(Instant, Arc<Holidays>)>;

/// One replica's copy of the holiday table.
#[derive(Clone, Default)]
pub struct HolidayCalendar {
    copy: Arc<RwLock<Loaded>>,
    /// Bumped by every edit, so a load that began before an edit is not kept after it.
    generation: Arc<AtomicU64>,
}

impl HolidayCalendar {
    /// How long another replica's edit may go unseen.
    pub const TTL: Duration = Duration::from_secs(30);

    /// The table, from the copy while it is fresh, else from the database.
    pub async fn get(&self, db: &PgPool) -> Result<Arc<Holidays>, StoreError> {
        match self.fresh() {
            Some(fresh) => Ok(fresh),
            None => self.for_write(db).await,
        }
    }

    /// The table as it is in the database now (and the copy refreshed with it): for writes that
    /// compute a due date.
    pub async fn for_write(&self, db: &PgPool) -> Result<Arc<Holidays>, StoreError> {
        let generation = self.generation.load(Ordering::SeqCst);
        let loaded = Arc::new(store::load_holidays(db).await?);
        if let Ok(mut copy) = self.copy.write()
            && self.generation.load(Ordering::SeqCst) == generation
        {
            *copy = Some((Instant::now(), loaded.clone()));
        }
        Ok(loaded)
    }

    fn fresh(&self) -> Option<Arc<Holidays>> {
        let copy = self.copy.read().ok()?;
        let (at, holidays) = copy.as_ref()?;
        (at.elapsed() < Self::TTL).then(|| holidays.clone())
    }

    /// After an edit: the next due date reads the table again.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut copy) = self.copy.write() {
            *copy = None;
        }
    }
}
