//! PostgreSQL: the system of record. Creates the database when missing and applies migrations.
//!
//! Static SQL is checked at compile time (`sqlx::query!` and friends, against `.sqlx/`; see
//! `scripts/sqlx-prepare`). These statements are assembled at run time, so only the tests check
//! them:
//! - `sessions::store` (`find`, `list_live`, `lock_refresh_token`): one column list and one
//!   derived row reader (`Session`'s `FromRow`) shared by the three, so a session reads the same
//!   wherever it comes from;
//! - `clients::store::find` (with or without `FOR UPDATE`), and `suspend`, `update`,
//!   `rotate_secret`, `delete`, which share the cut-off rule `CUT_OFF`: one definition of when a
//!   client's tokens die;
//! - `dossiers::store`: the dossier and procedure reads share `DOSSIER_COLUMNS` /
//!   `PROCEDURE_COLUMNS` and their row readers, and the overdue filter (`OVERDUE_SQL`) is the one
//!   SQL twin of `Dossier::is_overdue`, spliced into the lists and the statistics;
//! - `listings::store`: the listing and merchant reads and writes share `LISTING_COLUMNS` /
//!   `MERCHANT_COLUMNS` and their row readers with the search, which is built with a
//!   `QueryBuilder` (its filters, order and keyset vary per request), so a listing reads the same
//!   from a search page as from its own page; the owner filter (`owned_by`) is one definition of
//!   who may write a listing;
//! - `listings::seed`'s batch insert, whose `ON CONFLICT` clause depends on whether the seed
//!   refreshes the curated rows;
//! - [`ensure_database`]'s `CREATE DATABASE`, whose name is an identifier, not a parameter.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Creates the database if it does not exist, connects and migrates it.
pub async fn prepare(url: &str) -> anyhow::Result<PgPool> {
    let options = connect_options(url)?;
    ensure_database(&options).await?;
    let pool = PgPoolOptions::new()
        // 15, and the audit writer's own connection: 16 per process (README, sizing).
        .max_connections(15)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(Duration::from_secs(300))
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL (DATABASE_URL)")?;
    // sqlx takes an advisory lock, so replicas starting together migrate once.
    MIGRATOR
        .run(&pool)
        .await
        .context("applying database migrations")?;
    Ok(pool)
}

/// Parses `DATABASE_URL`. Like libpq, a URL without a user name connects as `PGUSER` or else as
/// the operating-system user, even when `$USER` is unset (as under many service managers).
pub fn connect_options(url: &str) -> anyhow::Result<PgConnectOptions> {
    let parsed = url::Url::parse(url).context("DATABASE_URL is not a URL")?;
    let options = PgConnectOptions::from_str(url).context("DATABASE_URL")?;
    let options = match (parsed.username().is_empty(), std::env::var("PGUSER")) {
        (true, Err(_)) => match os_user() {
            Some(user) => options.username(&user),
            None => options,
        },
        _ => options,
    };
    Ok(options.log_statements(tracing::log::LevelFilter::Debug))
}

#[cfg(unix)]
fn os_user() -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|user| user.name)
}

#[cfg(not(unix))]
fn os_user() -> Option<String> {
    None
}

async fn ensure_database(options: &PgConnectOptions) -> anyhow::Result<()> {
    let name = options
        .get_database()
        .context("DATABASE_URL names no database")?
        .to_string();
    let mut conn = sqlx::PgConnection::connect_with(&options.clone().database("postgres"))
        .await
        .context("connecting to PostgreSQL (DATABASE_URL)")?;
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS "exists!""#,
        name,
    )
    .fetch_one(&mut conn)
    .await
    .context("looking up the database")?;
    if !exists {
        let create = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        match sqlx::query(sqlx::AssertSqlSafe(create))
            .execute(&mut conn)
            .await
        {
            Ok(_) => tracing::info!(database = %name, "created the database"),
            // Another replica created it between our check and our CREATE: PostgreSQL says so
            // as "duplicate database", or, when both CREATEs race, as a unique violation on
            // its catalogue.
            Err(sqlx::Error::Database(e))
                if matches!(e.code().as_deref(), Some("42P04") | Some("23505")) => {}
            Err(e) => return Err(e).context("creating the database (DATABASE_URL)"),
        }
    }
    let _ = conn.close().await;
    Ok(())
}

/// A cheap round trip, bounded by `timeout`.
pub async fn ping(pool: &PgPool, timeout: Duration) -> anyhow::Result<()> {
    tokio::time::timeout(timeout, sqlx::query!("SELECT 1 AS one").fetch_one(pool))
        .await
        .context("PostgreSQL did not answer in time")?
        .context("PostgreSQL query failed")?;
    Ok(())
}
