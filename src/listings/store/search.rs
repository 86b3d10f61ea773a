//! Public browse and search: accent- and case-insensitive words, typo tolerance through
//! trigram similarity, filters, four orders, keyset pages and facet counts per category.
//!
//! Matching runs on `search`, the folded words of title and description (see the migration's
//! `search_words`): each word of `q` must begin a word of the listing (`LIKE '% word%'`, which
//! the trigram index serves). Relevance is computed from the same cheap matches: the query as a
//! phrase in the title (more so at its start), the share of its words in the title, the phrase
//! anywhere, and a shorter (more specific) title.
//!
//! Only when nothing matches so, and the query has four letters or more, typo tolerance takes
//! over: titles similar enough to the query (`<%`, word similarity ≥ 0.6, served by a trigram
//! index of titles), ranked by that similarity. Similarity costs a computation per candidate,
//! which is why it is the fallback and not the rule.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sqlx::{Postgres, QueryBuilder};

use super::super::model::Sort;
use super::*;

/// Words of a query beyond these are ignored (each costs an index condition).
const MAX_QUERY_WORDS: usize = 8;
/// Typo tolerance needs enough trigrams to mean anything.
const MIN_FUZZY_CHARS: usize = 4;

/// `GET /v1/listings`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchQuery {
    pub q: Option<String>,
    pub category: Option<Category>,
    pub commune: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub min_stars: Option<i16>,
    pub merchant: Option<Uuid>,
    pub in_stock: Option<bool>,
    pub sort: Sort,
    pub cursor: Option<SearchCursor>,
    pub limit: u32,
}

/// A position in one of the orders; opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SearchCursor {
    Newest {
        at: OffsetDateTime,
        id: Uuid,
    },
    Price {
        price: i64,
        id: Uuid,
    },
    /// `fuzzy`: the pages are of the typo-tolerant fallback.
    Relevance {
        score: f32,
        id: Uuid,
        fuzzy: bool,
    },
}

impl SearchCursor {
    pub fn encode(&self) -> String {
        let text = match self {
            SearchCursor::Newest { at, id } => {
                format!("n|{}|{id}", at.unix_timestamp_nanos() / 1000)
            }
            SearchCursor::Price { price, id } => format!("p|{price}|{id}"),
            SearchCursor::Relevance { score, id, fuzzy } => {
                let kind = if *fuzzy { "f" } else { "r" };
                format!("{kind}|{}|{id}", score.to_bits())
            }
        };
        URL_SAFE_NO_PAD.encode(text)
    }

    pub fn decode(value: &str) -> Option<SearchCursor> {
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(value).ok()?).ok()?;
        let mut parts = text.splitn(3, '|');
        let (kind, key, id) = (parts.next()?, parts.next()?, parts.next()?);
        let id = Uuid::parse_str(id).ok()?;
        Some(match kind {
            "n" => SearchCursor::Newest {
                at: OffsetDateTime::from_unix_timestamp_nanos(
                    i128::from(key.parse::<i64>().ok()?) * 1000,
                )
                .ok()?,
                id,
            },
            "p" => SearchCursor::Price {
                price: key.parse().ok()?,
                id,
            },
            "r" | "f" => SearchCursor::Relevance {
                score: f32::from_bits(key.parse().ok()?),
                id,
                fuzzy: kind == "f",
            },
            _ => return None,
        })
    }

    /// Whether the cursor belongs to pages in `order`.
    pub fn fits(&self, order: Order) -> bool {
        matches!(
            (self, order),
            (SearchCursor::Newest { .. }, Order::Newest)
                | (
                    SearchCursor::Price { .. },
                    Order::PriceAsc | Order::PriceDesc
                )
                | (SearchCursor::Relevance { .. }, Order::Relevance)
        )
    }
}

/// The order a query is actually served in: relevance needs words to be relevant to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Relevance,
    Newest,
    PriceAsc,
    PriceDesc,
}

impl Order {
    pub fn of(sort: Sort, has_words: bool) -> Order {
        match sort {
            Sort::Relevance if has_words => Order::Relevance,
            Sort::Relevance | Sort::Newest => Order::Newest,
            Sort::PriceAsc => Order::PriceAsc,
            Sort::PriceDesc => Order::PriceDesc,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchPage {
    pub items: Vec<Listing>,
    pub next_cursor: Option<String>,
    /// Matching listings per category, whatever the `category` filter (first page only).
    pub facets: Option<Vec<(Category, i64)>>,
}

/// A cursor of another order than the query's.
#[derive(Debug, thiserror::Error)]
#[error("the cursor belongs to another sort")]
pub struct ForeignCursor;

/// The words of `q` as the search column spells them: folded, split, bounded.
pub async fn query_words(db: &PgPool, q: Option<&str>) -> Result<Vec<String>> {
    let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) else {
        return Ok(Vec::new());
    };
    let q: String = q.chars().take(200).collect();
    let folded = sqlx::query_scalar!(r#"SELECT btrim(search_words($1)) AS "folded!""#, q)
        .fetch_one(db)
        .await?;
    Ok(folded
        .split(' ')
        .filter(|w| !w.is_empty())
        .take(MAX_QUERY_WORDS)
        .map(str::to_string)
        .collect())
}

/// How the text of a query matches: its words, and whether by similarity (the fallback).
#[derive(Debug, Clone, Default)]
struct Text {
    words: Vec<String>,
    fuzzy: bool,
}

impl Text {
    fn phrase(&self) -> String {
        self.words.join(" ")
    }
}

pub async fn search(db: &PgPool, query: &SearchQuery) -> Result<SearchPage> {
    let words = query_words(db, query.q.as_deref()).await?;
    let order = Order::of(query.sort, !words.is_empty());
    if query.cursor.is_some_and(|c| !c.fits(order)) {
        return Err(StoreError::Invalid(vec![(
            "/cursor".into(),
            ForeignCursor.to_string(),
        )]));
    }
    let text = match query.cursor {
        // Later pages of a ranked search keep the first page's way of matching.
        Some(SearchCursor::Relevance { fuzzy, .. }) => Text { words, fuzzy },
        _ => text_of(db, query, words).await?,
    };
    let limit = i64::from(query.limit.clamp(1, 100));
    let mut qb = QueryBuilder::<Postgres>::new("SELECT * FROM (SELECT ");
    qb.push(LISTING_COLUMNS).push(", ");
    push_score(&mut qb, &text);
    qb.push(" AS score FROM listings l WHERE ");
    push_filters(&mut qb, query, &text, true);
    qb.push(") s WHERE ");
    push_keyset(&mut qb, query.cursor, order);
    qb.push(match order {
        Order::Relevance => " ORDER BY s.score DESC, s.id DESC",
        Order::Newest => " ORDER BY s.published_at DESC, s.id DESC",
        Order::PriceAsc => " ORDER BY s.price_vnd ASC, s.id ASC",
        Order::PriceDesc => " ORDER BY s.price_vnd DESC, s.id DESC",
    });
    qb.push(" LIMIT ").push_bind(limit + 1);
    // Planned with the actual words and filters each time: a generic plan cannot know whether
    // a `LIKE` parameter is selective enough for the trigram index.
    let rows = qb.build().persistent(false).fetch_all(db).await?;
    let mut items = Vec::with_capacity(rows.len());
    let mut scores = Vec::with_capacity(rows.len());
    for row in &rows {
        items.push(listing_from_row(row)?);
        scores.push(row.try_get::<f32, _>("score")?);
    }
    let next_cursor = match items.len() as i64 > limit {
        true => {
            items.truncate(limit as usize);
            let score = scores[items.len() - 1];
            items
                .last()
                .map(|last| cursor_after(order, last, score, text.fuzzy).encode())
        }
        false => None,
    };
    let facets = match query.cursor {
        None => Some(facets(db, query, &text).await?),
        Some(_) => None,
    };
    Ok(SearchPage {
        items,
        next_cursor,
        facets,
    })
}

/// Exact words, unless they match nothing and the query is long enough to be similar to
/// something.
async fn text_of(db: &PgPool, query: &SearchQuery, words: Vec<String>) -> Result<Text> {
    let exact = Text {
        words,
        fuzzy: false,
    };
    if exact.words.is_empty() || exact.phrase().len() < MIN_FUZZY_CHARS {
        return Ok(exact);
    }
    let mut qb = QueryBuilder::<Postgres>::new("SELECT EXISTS (SELECT 1 FROM listings l WHERE ");
    push_filters(&mut qb, query, &exact, true);
    qb.push(")");
    let found: bool = qb
        .build_query_scalar()
        .persistent(false)
        .fetch_one(db)
        .await?;
    Ok(Text {
        fuzzy: !found,
        ..exact
    })
}

fn cursor_after(order: Order, last: &Listing, score: f32, fuzzy: bool) -> SearchCursor {
    match order {
        Order::Relevance => SearchCursor::Relevance {
            score,
            id: last.id,
            fuzzy,
        },
        Order::Newest => SearchCursor::Newest {
            at: last.published_at.unwrap_or(OffsetDateTime::UNIX_EPOCH),
            id: last.id,
        },
        Order::PriceAsc | Order::PriceDesc => SearchCursor::Price {
            price: last.price_vnd,
            id: last.id,
        },
    }
}

/// Counts per category of what the query matches, the category filter aside.
async fn facets(db: &PgPool, query: &SearchQuery, text: &Text) -> Result<Vec<(Category, i64)>> {
    let mut qb =
        QueryBuilder::<Postgres>::new("SELECT l.category, count(*) AS n FROM listings l WHERE ");
    push_filters(&mut qb, query, text, false);
    qb.push(" GROUP BY l.category");
    let rows = qb.build().persistent(false).fetch_all(db).await?;
    let mut counts = Vec::with_capacity(Category::ALL.len());
    for category in Category::ALL {
        let n = rows
            .iter()
            .find(|row| {
                row.try_get::<String, _>("category").ok().as_deref() == Some(category.as_str())
            })
            .map(|row| row.try_get::<i64, _>("n"))
            .transpose()?
            .unwrap_or(0);
        counts.push((category, n));
    }
    Ok(counts)
}

/// The relevance of a listing to the words (0 without words): cheap string matches on the
/// folded title and text, or, in the fallback, the similarity that found it.
fn push_score(qb: &mut QueryBuilder<Postgres>, text: &Text) {
    let phrase = text.phrase();
    if text.words.is_empty() {
        qb.push("0::real");
        return;
    }
    if text.fuzzy {
        qb.push("word_similarity(")
            .push_bind(phrase)
            .push(", l.title_words)::real");
        return;
    }
    qb.push("(4 * (l.title_words LIKE ")
        .push_bind(format!("% {phrase} %"))
        .push(")::int + (l.title_words LIKE ")
        .push_bind(format!(" {phrase} %"))
        .push(")::int + 2 * (");
    for (i, word) in text.words.iter().enumerate() {
        if i > 0 {
            qb.push(" + ");
        }
        qb.push("(l.title_words LIKE ")
            .push_bind(format!("% {word}%"))
            .push(")::int");
    }
    qb.push(")::real / ")
        .push_bind(text.words.len() as i32)
        .push(" + (l.search LIKE ")
        .push_bind(format!("% {phrase} %"))
        .push(")::int + 1.0 / (1 + length(l.title_words)))::real");
}

fn push_filters(
    qb: &mut QueryBuilder<Postgres>,
    query: &SearchQuery,
    text: &Text,
    with_category: bool,
) {
    qb.push("l.status = 'published' AND l.hidden_at IS NULL");
    if text.fuzzy {
        qb.push(" AND ")
            .push_bind(text.phrase())
            .push(" <% l.title_words");
    }
    for word in text.words.iter().filter(|_| !text.fuzzy) {
        qb.push(" AND l.search LIKE ")
            .push_bind(format!("% {word}%"));
    }
    if let Some(category) = query.category.filter(|_| with_category) {
        qb.push(" AND l.category = ").push_bind(category.as_str());
    }
    if let Some(commune) = &query.commune {
        qb.push(" AND l.commune_code = ").push_bind(commune.clone());
    }
    if let Some(min) = query.min_price {
        qb.push(" AND l.price_vnd >= ").push_bind(min);
    }
    if let Some(max) = query.max_price {
        qb.push(" AND l.price_vnd <= ").push_bind(max);
    }
    if let Some(stars) = query.min_stars {
        qb.push(" AND l.ocop_stars >= ").push_bind(stars);
    }
    if let Some(merchant) = query.merchant {
        qb.push(" AND l.merchant_id = ").push_bind(merchant);
    }
    if query.in_stock == Some(true) {
        // No stock figure means the merchant does not count it: available.
        qb.push(" AND (l.stock IS NULL OR l.stock > 0)");
    }
}

fn push_keyset(qb: &mut QueryBuilder<Postgres>, cursor: Option<SearchCursor>, order: Order) {
    match cursor {
        None => {
            qb.push("true");
        }
        Some(SearchCursor::Newest { at, id }) => {
            qb.push("(s.published_at, s.id) < (")
                .push_bind(at)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        Some(SearchCursor::Price { price, id }) => {
            qb.push(match order {
                Order::PriceAsc => "(s.price_vnd, s.id) > (",
                _ => "(s.price_vnd, s.id) < (",
            })
            .push_bind(price)
            .push(", ")
            .push_bind(id)
            .push(")");
        }
        Some(SearchCursor::Relevance { score, id, .. }) => {
            qb.push("(s.score, s.id) < (")
                .push_bind(score)
                .push("::real, ")
                .push_bind(id)
                .push(")");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn cursors_round_trip_fit_their_order_and_reject_garbage() {
        let id = Uuid::now_v7();
        let cursors = [
            (
                SearchCursor::Newest {
                    at: datetime!(2026-12-01 09:00:00.123456 UTC),
                    id,
                },
                Order::Newest,
            ),
            (SearchCursor::Price { price: 45_000, id }, Order::PriceAsc),
            (
                SearchCursor::Relevance {
                    score: 4.0625,
                    id,
                    fuzzy: true,
                },
                Order::Relevance,
            ),
        ];
        for (cursor, order) in cursors {
            assert_eq!(SearchCursor::decode(&cursor.encode()), Some(cursor));
            assert!(cursor.fits(order));
            assert!(!cursor.fits(Order::Newest) || order == Order::Newest);
        }
        for bad in [
            "",
            "!!",
            &URL_SAFE_NO_PAD.encode("x|1|y"),
            &URL_SAFE_NO_PAD.encode("p|a|b"),
        ] {
            assert_eq!(SearchCursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn relevance_falls_back_to_newest_without_words() {
        assert_eq!(Order::of(Sort::Relevance, false), Order::Newest);
        assert_eq!(Order::of(Sort::Relevance, true), Order::Relevance);
        assert_eq!(Order::of(Sort::PriceDesc, true), Order::PriceDesc);
    }
}
