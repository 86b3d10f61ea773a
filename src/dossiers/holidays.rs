//! The holiday table in process: every due date needs it, and it changes a few times a year.
//!
//! Each replica keeps the table for [`HolidayCalendar::TTL`]. An operator's edit drops the copy
//! of the replica that served it at once; the other replicas see the edit when their copy
//! expires, at most `TTL` later. That bound is what a due date computed elsewhere in the meantime
//! can miss, and why it is short.

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
        if let Some(fresh) = self.fresh() {
            return Ok(fresh);
        }
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
