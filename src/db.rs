//! PostgreSQL: the system of record. Creates the database when missing and applies migrations.

use std::time::Duration;

use anyhow::Context;
use sqlx::Postgres;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgPool, PgPoolOptions};

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Creates the database if it does not exist, connects and migrates it.
pub async fn prepare(url: &str) -> anyhow::Result<PgPool> {
    ensure_database(url).await?;
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(Duration::from_secs(300))
        .connect(url)
        .await
        .context("connecting to PostgreSQL (DATABASE_URL)")?;
    // sqlx takes an advisory lock, so replicas starting together migrate once.
    MIGRATOR
        .run(&pool)
        .await
        .context("applying database migrations")?;
    Ok(pool)
}

async fn ensure_database(url: &str) -> anyhow::Result<()> {
    let exists = Postgres::database_exists(url)
        .await
        .context("connecting to PostgreSQL (DATABASE_URL)")?;
    if !exists {
        match Postgres::create_database(url).await {
            Ok(()) => tracing::info!("created the database"),
            // Another replica created it between our check and our CREATE.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e).context("creating the database (DATABASE_URL)"),
        }
    }
    Ok(())
}

/// A cheap round trip, bounded by `timeout`.
pub async fn ping(pool: &PgPool, timeout: Duration) -> anyhow::Result<()> {
    tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(pool))
        .await
        .context("PostgreSQL did not answer in time")?
        .context("PostgreSQL query failed")?;
    Ok(())
}
