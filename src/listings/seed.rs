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

use super::model::Category;

// Data tables: the demo's content, not logic.

/// Merchants: (id suffix, name, kind, registration number, contact shown).
const MERCHANTS: &[(u16, &str, &str, &str, Option<&str>)] = &[
    (
        1,
        "Hợp tác xã bánh tráng Hòa Đa",
        "cooperative",
        "HTX-4401001",
        Some("0257 3 868 101"),
    ),
    (
        2,
        "Hộ kinh doanh Hải sản Sông Cầu",
        "household",
        "40A8000102",
        Some("0905 110 102"),
    ),
    (
        3,
        "Hợp tác xã sò huyết Ô Loan",
        "cooperative",
        "HTX-4401003",
        None,
    ),
    (
        4,
        "Cơ sở rượu Quán Đế Cô Ba",
        "household",
        "40A8000104",
        Some("0914 220 104"),
    ),
    (
        5,
        "Công ty TNHH Cà phê Buôn Ma Thuột Xanh",
        "enterprise",
        "6001234505",
        Some("0262 3 950 105"),
    ),
    (
        6,
        "Hợp tác xã nông nghiệp Ea Tu",
        "cooperative",
        "HTX-6601006",
        None,
    ),
    (
        7,
        "Hộ kinh doanh Thổ cẩm Buôn Akô Dhông",
        "household",
        "66A8000107",
        Some("0935 330 107"),
    ),
    (8, "Cơ sở gốm Quảng Đức", "household", "40A8000108", None),
    (
        9,
        "Hợp tác xã du lịch cộng đồng An Ninh Tây",
        "cooperative",
        "HTX-4401009",
        Some("0257 3 777 109"),
    ),
    (
        10,
        "Công ty CP Cá ngừ đại dương Phú Yên",
        "enterprise",
        "4400123410",
        Some("0257 3 828 110"),
    ),
    (
        11,
        "Hộ kinh doanh Mật ong Krông Bông",
        "household",
        "66A8000111",
        None,
    ),
    (
        12,
        "Hợp tác xã mây tre đan Hòa Thịnh",
        "cooperative",
        "HTX-4401012",
        None,
    ),
];

/// Products: (merchant suffix, title, category, unit, base price, OCOP stars, description).
type Product = (
    u16,
    &'static str,
    Category,
    &'static str,
    i64,
    Option<i16>,
    &'static str,
);

const PRODUCTS: &[Product] = &[
    (
        1,
        "Bánh tráng nướng Hòa Đa",
        Category::Food,
        "xấp 10 cái",
        45_000,
        Some(4),
        "Bánh tráng mè đen Hòa Đa phơi sương, nướng than hồng, giòn thơm, đặc sản Tuy An.",
    ),
    (
        1,
        "Bánh tráng phơi sương Hòa Đa",
        Category::Food,
        "xấp 20 cái",
        60_000,
        Some(3),
        "Bánh tráng phơi qua một đêm sương, dẻo mềm, cuốn thịt heo luộc rất ngon.",
    ),
    (
        1,
        "Bánh tráng cuốn rau rừng",
        Category::Food,
        "gói 500 g",
        35_000,
        None,
        "Bánh tráng mỏng dùng cuốn rau rừng, cá ngừ hấp, đặc sản xứ Nẫu.",
    ),
    (
        2,
        "Tôm hùm xanh Sông Cầu",
        Category::Food,
        "kg",
        1_200_000,
        None,
        "Tôm hùm nuôi lồng vịnh Xuân Đài, giao sống trong ngày.",
    ),
    (
        2,
        "Mực một nắng Sông Cầu",
        Category::Food,
        "kg",
        650_000,
        Some(3),
        "Mực lá phơi một nắng, nướng than chấm muối ớt xanh.",
    ),
    (
        2,
        "Cá cơm sấy giòn",
        Category::Food,
        "hộp 200 g",
        85_000,
        None,
        "Cá cơm than sấy giòn tẩm mè, món nhậu và quà biếu.",
    ),
    (
        3,
        "Sò huyết Ô Loan",
        Category::Food,
        "kg",
        250_000,
        Some(4),
        "Sò huyết đầm Ô Loan, thịt đỏ, ngọt, nướng mỡ hành hay hấp sả.",
    ),
    (
        3,
        "Mắm sò huyết Ô Loan",
        Category::Food,
        "hũ 500 g",
        120_000,
        Some(3),
        "Mắm sò ủ theo cách làm truyền thống ven đầm Ô Loan.",
    ),
    (
        3,
        "Hàu đầm Ô Loan",
        Category::Food,
        "kg",
        90_000,
        None,
        "Hàu tươi đầm Ô Loan, nướng phô mai hay ăn sống với mù tạt.",
    ),
    (
        4,
        "Rượu Quán Đế",
        Category::Drinks,
        "chai 500 ml",
        150_000,
        Some(4),
        "Rượu gạo Quán Đế nấu thủ công, nồng độ 40 độ, đặc sản Phú Yên.",
    ),
    (
        4,
        "Rượu Quán Đế ngâm ba kích",
        Category::Drinks,
        "bình 1 lít",
        420_000,
        Some(3),
        "Rượu Quán Đế ngâm ba kích tím rừng Sơn Hòa.",
    ),
    (
        4,
        "Rượu nếp cẩm Quán Đế",
        Category::Drinks,
        "chai 700 ml",
        180_000,
        None,
        "Rượu nếp cẩm ủ men lá, vị ngọt dịu.",
    ),
    (
        5,
        "Cà phê Robusta Buôn Ma Thuột rang mộc",
        Category::Drinks,
        "gói 500 g",
        180_000,
        Some(4),
        "Hạt Robusta hái chín, rang mộc không tẩm, đậm và thơm, từ vùng cà phê Buôn Ma Thuột.",
    ),
    (
        5,
        "Cà phê Arabica Cầu Đất sơ chế ướt",
        Category::Drinks,
        "gói 250 g",
        160_000,
        None,
        "Arabica sơ chế ướt, chua thanh, hậu ngọt.",
    ),
    (
        5,
        "Cà phê phin giấy Buôn Ma Thuột",
        Category::Drinks,
        "hộp 10 gói",
        95_000,
        Some(3),
        "Cà phê phin giấy tiện lợi, pha ở văn phòng hay đi du lịch.",
    ),
    (
        5,
        "Ca cao nguyên chất Đắk Lắk",
        Category::Drinks,
        "hộp 300 g",
        210_000,
        Some(4),
        "Bột ca cao lên men từ hạt ca cao Đắk Lắk.",
    ),
    (
        6,
        "Bơ sáp Đắk Lắk",
        Category::Food,
        "kg",
        55_000,
        Some(3),
        "Bơ sáp 034 dẻo béo, hái già, chín tự nhiên.",
    ),
    (
        6,
        "Sầu riêng Ri6 Krông Pắc",
        Category::Food,
        "kg",
        110_000,
        Some(4),
        "Sầu riêng Ri6 cơm vàng hạt lép, vườn Krông Pắc.",
    ),
    (
        6,
        "Hạt mắc ca Đắk Lắk sấy nứt vỏ",
        Category::Food,
        "hộp 500 g",
        190_000,
        Some(4),
        "Mắc ca sấy nứt vỏ, kèm dụng cụ tách.",
    ),
    (
        6,
        "Tiêu đen Cư M'gar",
        Category::Food,
        "hũ 200 g",
        70_000,
        Some(3),
        "Tiêu đen hạt chắc, cay nồng, phơi nắng tự nhiên.",
    ),
    (
        6,
        "Hạt điều rang muối",
        Category::Food,
        "hộp 500 g",
        175_000,
        None,
        "Điều vỏ lụa rang muối, giòn béo.",
    ),
    (
        7,
        "Khăn thổ cẩm Ê Đê",
        Category::TextilesHandicrafts,
        "chiếc",
        250_000,
        Some(3),
        "Khăn dệt tay khung lưng của phụ nữ Ê Đê, hoa văn truyền thống.",
    ),
    (
        7,
        "Túi thổ cẩm dệt tay",
        Category::TextilesHandicrafts,
        "chiếc",
        320_000,
        None,
        "Túi đeo vải thổ cẩm, may thủ công tại buôn.",
    ),
    (
        7,
        "Váy thổ cẩm Ê Đê",
        Category::TextilesHandicrafts,
        "bộ",
        1_500_000,
        Some(4),
        "Váy dệt tay nhiều ngày công, màu nhuộm tự nhiên.",
    ),
    (
        8,
        "Bình gốm Quảng Đức",
        Category::SouvenirsFurniture,
        "chiếc",
        280_000,
        Some(3),
        "Bình gốm đất nung làng Quảng Đức, nung củi truyền thống.",
    ),
    (
        8,
        "Bộ ấm chén gốm men lam",
        Category::SouvenirsFurniture,
        "bộ",
        650_000,
        None,
        "Ấm và sáu chén gốm men lam, quà biếu trang nhã.",
    ),
    (
        8,
        "Chậu gốm trồng cây",
        Category::SouvenirsFurniture,
        "chiếc",
        120_000,
        None,
        "Chậu gốm đất nung thoát nước tốt.",
    ),
    (
        9,
        "Tour Gành Đá Đĩa một ngày",
        Category::Tourism,
        "khách",
        450_000,
        Some(4),
        "Tham quan Gành Đá Đĩa, nhà thờ Mằng Lăng, ăn trưa hải sản đầm Ô Loan.",
    ),
    (
        9,
        "Homestay làng chài An Ninh Tây",
        Category::Tourism,
        "đêm",
        380_000,
        Some(3),
        "Ở nhà dân làng chài, đi thuyền thúng, nấu cơm cùng chủ nhà.",
    ),
    (
        9,
        "Lặn ngắm san hô Hòn Yến",
        Category::Tourism,
        "khách",
        550_000,
        None,
        "Lặn ngắm san hô bãi Hòn Yến cùng hướng dẫn viên địa phương.",
    ),
    (
        9,
        "Trải nghiệm nhà dài Ê Đê Buôn Akô Dhông",
        Category::Tourism,
        "khách",
        300_000,
        Some(3),
        "Thăm buôn Ê Đê giữa lòng Buôn Ma Thuột, nghe cồng chiêng, uống rượu cần.",
    ),
    (
        10,
        "Cá ngừ đại dương phi lê",
        Category::Food,
        "kg",
        320_000,
        Some(4),
        "Cá ngừ đại dương câu tay, phi lê cấp đông sâu, ăn sashimi.",
    ),
    (
        10,
        "Mắt cá ngừ đại dương",
        Category::Food,
        "kg",
        150_000,
        Some(3),
        "Mắt cá ngừ tiềm thuốc bắc, món nổi tiếng Tuy Hòa.",
    ),
    (
        10,
        "Chả cá ngừ Phú Yên",
        Category::Food,
        "kg",
        180_000,
        Some(3),
        "Chả cá ngừ quết tay, chiên vàng.",
    ),
    (
        10,
        "Cá ngừ ngâm dầu đóng hộp",
        Category::Food,
        "hộp 185 g",
        45_000,
        None,
        "Cá ngừ đại dương ngâm dầu ô liu.",
    ),
    (
        11,
        "Mật ong hoa cà phê",
        Category::Herbal,
        "chai 500 ml",
        160_000,
        Some(4),
        "Mật ong ong nuôi vùng hoa cà phê Đắk Lắk, vị thơm nhẹ.",
    ),
    (
        11,
        "Mật ong rừng Krông Bông",
        Category::Herbal,
        "chai 500 ml",
        350_000,
        Some(3),
        "Mật ong khai thác rừng Chư Yang Sin.",
    ),
    (
        11,
        "Tinh bột nghệ mật ong",
        Category::Herbal,
        "hũ 300 g",
        140_000,
        None,
        "Tinh bột nghệ vàng viên mật ong.",
    ),
    (
        11,
        "Trà thảo mộc đặc sản Tây Nguyên",
        Category::Herbal,
        "hộp 20 túi",
        90_000,
        Some(3),
        "Trà túi lọc từ lá vối, cỏ ngọt và sả.",
    ),
    (
        12,
        "Giỏ mây tre đan Hòa Thịnh",
        Category::TextilesHandicrafts,
        "chiếc",
        150_000,
        Some(3),
        "Giỏ đan tay từ mây tre Tây Hòa.",
    ),
    (
        12,
        "Chiếu cói Phú Yên",
        Category::TextilesHandicrafts,
        "chiếc",
        230_000,
        None,
        "Chiếu cói dệt tay, mát, bền.",
    ),
    (
        12,
        "Nón lá Phú Yên",
        Category::SouvenirsFurniture,
        "chiếc",
        60_000,
        None,
        "Nón lá chằm tay, quà lưu niệm xứ Nẫu.",
    ),
];

/// Variants of each product, so the curated set is large enough to page through.
const VARIANTS: &[(&str, f64)] = &[
    ("", 1.0),
    (" loại đặc biệt", 1.35),
    (" hộp quà Tết", 1.6),
    (" gói tiết kiệm", 0.85),
    (" combo hai phần", 1.9),
];

/// The id of demo merchant `n`: fixed, so loads are idempotent and demos can name them.
pub fn merchant_id(n: u16) -> Uuid {
    Uuid::from_u128(0x0193_c0de_0000_7000_8000_0000_0000_0000 + u128::from(n))
}

#[derive(Debug, Clone, Serialize)]
pub struct ListingSeedSummary {
    /// The demo merchants' ids (bind a marketplace client with `--merchant ID`).
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
    let communes: Vec<String> = sqlx::query_scalar("SELECT code FROM communes ORDER BY code")
        .fetch_all(db)
        .await?;
    anyhow::ensure!(
        !communes.is_empty(),
        "no communes: load the catalogue first"
    );
    let mut tx = db.begin().await?;
    for (i, (n, name, kind, number, contact)) in MERCHANTS.iter().enumerate() {
        sqlx::query(
            "INSERT INTO merchants (id, name, kind, business_registration_number, commune_code,
                    contact, contact_public)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,
                 contact = EXCLUDED.contact, contact_public = EXCLUDED.contact_public
             WHERE (merchants.name, merchants.kind, merchants.contact, merchants.contact_public)
                   IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.kind, EXCLUDED.contact, EXCLUDED.contact_public)",
        )
        .bind(merchant_id(*n))
        .bind(name)
        .bind(kind)
        .bind(number)
        .bind(&communes[i % communes.len()])
        .bind(contact)
        .bind(contact.is_some())
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
                stock: (n % 7 != 0).then_some((n * 13 % 200) as i32),
                published_at: now - Duration::hours(n as i64 * 5),
            });
        }
    }
    rows
}

const ADJECTIVES: &[&str] = &[
    "thượng hạng",
    "truyền thống",
    "nhà làm",
    "hữu cơ",
    "tươi",
    "đặc biệt",
    "thủ công",
    "loại một",
    "mới thu hoạch",
    "xuất khẩu",
];
const ORIGINS: &[&str] = &[
    "Tuy Hòa",
    "Sông Cầu",
    "Tuy An",
    "Đồng Xuân",
    "Sơn Hòa",
    "Tây Hòa",
    "Buôn Ma Thuột",
    "Krông Pắc",
    "Cư M'gar",
    "Ea H'leo",
    "Lắk",
    "Krông Bông",
];

/// Tops generated listings up to `wanted`, in batches of one `UNNEST` insert each.
async fn generate(db: &PgPool, communes: &[String], wanted: usize) -> anyhow::Result<(usize, i64)> {
    let existing: i64 =
        sqlx::query_scalar("SELECT count(*) FROM listings WHERE external_id LIKE 'gen-%'")
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
