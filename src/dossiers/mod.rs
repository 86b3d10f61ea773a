//! Dossier tracking (hồ sơ thủ tục hành chính): the one-stop-shop lifecycle of a dossier from
//! receipt to result, its due date in Vietnamese working days, the citizen's timeline and
//! notifications, public lookup from the receipt, and the open statistics of the service index.
//!
//! The domain core is free of HTTP: `model` holds the vocabulary and the transition table,
//! `calendar` the working-time arithmetic, `store` every SQL statement, `seed` the demo data.
//! On top, `api` (thin handlers), `views` (the JSON shapes) and `service` (callers, cache,
//! receipts, idempotency, problems).

pub mod api;
pub mod apply;
pub mod calendar;
pub mod forms;
pub mod holidays;
pub mod messages;
pub mod model;
pub mod seed;
pub mod service;
pub mod store;
pub mod views;

pub use api::{
    AgencyDossiersApi, AgencyEventsApi, BulkDossiersApi, CatalogueApi, CitizenDossiersApi,
    HolidaysApi, OnlineDossiersApi, PublicDossiersApi,
};
pub use holidays::HolidayCalendar;

/// The capability's APIs, as one member of the application's list.
pub type DossierApis = (
    CatalogueApi,
    AgencyDossiersApi,
    AgencyEventsApi,
    BulkDossiersApi,
    CitizenDossiersApi,
    OnlineDossiersApi,
    PublicDossiersApi,
    HolidaysApi,
);

/// Deletes idempotency keys past their lifetime, every ten minutes on every replica (each sweep
/// is idempotent and bounded, so replicas racing do no harm).
pub fn spawn_idempotency_sweeper(db: sqlx::PgPool) {
    const BATCH: i64 = 10_000;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(std::time::Duration::from_secs(600));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            // Batches keep each statement short; a backlog goes in one tick.
            loop {
                match store::sweep_idempotency_keys(&db, BATCH).await {
                    Ok(n) if n as i64 == BATCH => continue,
                    Ok(0) => break,
                    Ok(n) => {
                        tracing::debug!(deleted = n, "expired idempotency keys swept");
                        break;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "sweeping idempotency keys failed");
                        break;
                    }
                }
            }
        }
    });
}
