//! Demo merchants and listings: the specialities of the coast (Phú Yên) and, since the merger
//! into Đắk Lắk, of the highlands, plus generated volume for load tests. Idempotent: merchants
//! have fixed ids, curated listings fixed `external_id`s, and generated ones are topped up to
//! the number asked for.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

mod data;

use data::{ADJECTIVES, MERCHANTS, ORIGINS, PRODUCTS, VARIANTS};

/// The id of demo merchant `n`: fixed, so loads are idempotent and demos can name them.
pub fn merchant_id(n: u16) -> Uuid {
    Uuid::from_u128(0x0193_c0de_0000_7000_8000_0000_0000_0000 + u128::from(n))
}

#[derive(Debug, Clone, Serialize)]
pub struct ListingSeedSummary {
    /// The demo merchants' ids (bind a marketplace client with `--merchant ID`); the command
    /// line prints them at the top of its summary.
    #[serde(skip)]
    pub merchants: Vec<Uuid>,
    /// Curated listings in the database.
    pub curated_listings: usize,
    /// Generated listings created by this load, and in the database.
    pub generated_created: usize,
    pub generated_listings: i64,
    pub elapsed_ms: u128,
}

/// Loads the demo merchants and curated listings and tops the generated ones up to
/// `generated`. Needs the communes of the dossier catalogue's seed.
pub async fn load(db: &PgPool, generated: usize) -> anyhow::Result<ListingSeedSummary> {
    let started = Instant::now();
    let communes = sqlx::query_scalar!("SELECT code FROM communes ORDER BY code")
        .fetch_all(db)
        .await?;
    anyhow::ensure!(
        !communes.is_empty(),
        "no communes: load the catalogue first"
    );
    let mut tx = db.begin().await?;
    for (i, (n, name, kind, number, contact)) in MERCHANTS.iter().enumerate() {
        sqlx::query!(
            "INSERT INTO merchants (id, name, kind, business_registration_number, commune_code,
                    contact, contact_public)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,
                 contact = EXCLUDED.contact, contact_public = EXCLUDED.contact_public
             WHERE (merchants.name, merchants.kind, merchants.contact, merchants.contact_public)
                   IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.kind, EXCLUDED.contact, EXCLUDED.contact_public)",
            merchant_id(*n),
            name,
            kind,
            number,
            &communes[i % communes.len()],
            *contact,
            contact.is_some(),
        )
        .execute(&mut *tx)
        .await?;
    }
    let curated = curated(&communes);
    let count = curated.len();
    insert_rows(&mut tx, &curated, true).await?;
    tx.commit().await?;
    let (generated_created, generated_listings) = generate(db, &communes, generated).await?;
    Ok(ListingSeedSummary {
        merchants: MERCHANTS.iter().map(|m| merchant_id(m.0)).collect(),
        curated_listings: count,
        generated_created,
        generated_listings,
        elapsed_ms: started.elapsed().as_millis(),
    })
}

/// One listing row to insert.
struct Row {
    id: Uuid,
    merchant: Uuid,
    external_id: String,
    title: String,
    description: String,
    price: i64,
    unit: &'static str,
    category: &'static str,
    stars: Option<i16>,
    year: Option<i16>,
    commune: String,
    stock: Option<i32>,
    published_at: OffsetDateTime,
}

fn curated(communes: &[String]) -> Vec<Row> {
    let now = OffsetDateTime::now_utc();
    let mut rows = Vec::new();
    for (p, (merchant, title, category, unit, price, stars, description)) in
        PRODUCTS.iter().enumerate()
    {
        for (v, (suffix, factor)) in VARIANTS.iter().enumerate() {
            let n = p * VARIANTS.len() + v;
            rows.push(Row {
                id: Uuid::now_v7(),
                merchant: merchant_id(*merchant),
                external_id: format!("demo-{p:03}-{v}"),
                title: format!("{title}{suffix}"),
                description: description.to_string(),
                price: ((*price as f64 * factor) / 1000.0).round() as i64 * 1000,
                unit,
                category: category.as_str(),
                stars: *stars,
                year: stars.map(|_| 2021 + (n % 4) as i16),
                commune: communes[(*merchant as usize) % communes.len()].clone(),
                stock: (!n.is_multiple_of(7)).then_some((n * 13 % 200) as i32),
                published_at: now - Duration::hours(n as i64 * 5),
            });
        }
    }
    rows
}

/// Tops generated listings up to `wanted`, in batches of one `UNNEST` insert each.
async fn generate(db: &PgPool, communes: &[String], wanted: usize) -> anyhow::Result<(usize, i64)> {
    let existing = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM listings WHERE external_id LIKE 'gen-%'"#
    )
    .fetch_one(db)
    .await?;
    let start = existing.max(0) as usize;
    let mut rng = StdRng::seed_from_u64(start as u64 + 14);
    let now = OffsetDateTime::now_utc();
    let mut created = 0;
    for batch_start in (start..wanted).step_by(5_000) {
        let batch_end = (batch_start + 5_000).min(wanted);
        let rows: Vec<Row> = (batch_start..batch_end)
            .map(|i| {
                let (merchant, title, category, unit, price, stars, description) =
                    PRODUCTS[rng.random_range(0..PRODUCTS.len())];
                let adjective = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
                let origin = ORIGINS[rng.random_range(0..ORIGINS.len())];
                let stars = stars.filter(|_| rng.random_bool(0.7));
                Row {
                    id: Uuid::now_v7(),
                    merchant: merchant_id(merchant),
                    external_id: format!("gen-{i:07}"),
                    title: format!("{title} {adjective} {origin}"),
                    description: format!("{description} Lô số {i}, từ {origin}."),
                    price: (price as f64 * rng.random_range(0.6..1.8) / 1000.0).round() as i64
                        * 1000
                        + 1000,
                    unit,
                    category: category.as_str(),
                    stars,
                    year: stars.map(|_| rng.random_range(2019..=2025)),
                    commune: communes[rng.random_range(0..communes.len())].clone(),
                    stock: rng.random_bool(0.9).then(|| rng.random_range(0..500)),
                    published_at: now - Duration::seconds(rng.random_range(0..31_536_000)),
                }
            })
            .collect();
        let mut tx = db.begin().await?;
        insert_rows(&mut tx, &rows, false).await?;
        tx.commit().await?;
        created += rows.len();
    }
    Ok((created, existing + created as i64))
}

/// Inserts rows as published listings with one statement; curated ones are brought back to
/// their demo content if they were edited.
async fn insert_rows(
    conn: &mut sqlx::PgConnection,
    rows: &[Row],
    refresh: bool,
) -> anyhow::Result<()> {
    let on_conflict = match refresh {
        true => {
            "DO UPDATE SET title = EXCLUDED.title, description = EXCLUDED.description,
                 price_vnd = EXCLUDED.price_vnd, unit = EXCLUDED.unit, category = EXCLUDED.category
             WHERE (listings.title, listings.description, listings.price_vnd, listings.unit, listings.category)
                   IS DISTINCT FROM (EXCLUDED.title, EXCLUDED.description, EXCLUDED.price_vnd, EXCLUDED.unit, EXCLUDED.category)"
        }
        false => "DO NOTHING",
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO listings (id, merchant_id, external_id, title, description, price_vnd, unit,
                category, ocop_stars, ocop_year, commune_code, stock, status, published_at)
         SELECT id, m, e, t, d, p, u, c, s, y, co, st, 'published', pa
           FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::int8[],
                       $7::text[], $8::text[], $9::int2[], $10::int2[], $11::text[], $12::int4[],
                       $13::timestamptz[])
                AS r(id, m, e, t, d, p, u, c, s, y, co, st, pa)
         ON CONFLICT (merchant_id, external_id) {on_conflict}"
    )))
    .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.merchant).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.external_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.title.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.description.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.price).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.unit).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.category).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.stars).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.year).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.commune.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.stock).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.published_at).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_is_large_and_consistent() {
        assert!(MERCHANTS.len() >= 10);
        assert!(PRODUCTS.len() * VARIANTS.len() >= 200);
        for product in PRODUCTS {
            assert!(MERCHANTS.iter().any(|m| m.0 == product.0), "{}", product.1);
        }
        let communes = vec!["22015".to_string()];
        for row in curated(&communes) {
            assert!(
                row.title.chars().count() <= 200 && row.price > 0,
                "{}",
                row.title
            );
        }
    }
}
