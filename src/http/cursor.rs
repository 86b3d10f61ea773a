//! Keyset pagination: the opaque `cursor` of every list, a position in an order by
//! (time, key).

use std::fmt::Display;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;

use super::lang::Text;
use super::{ApiError, ApiResult, catalogue};

/// The last row of a page: its time and its unique key (a dossier code, a session id …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor<K = String> {
    pub at: OffsetDateTime,
    pub key: K,
}

/// Longer than any cursor we hand out; anything longer is not one of ours.
const MAX_LEN: usize = 256;

const NOT_OURS: Text = Text {
    en: "not a cursor this endpoint returned",
    vi: "không phải con trỏ trang do điểm cuối này trả về",
};

impl<K: Display + FromStr> Cursor<K> {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}|{}", self.at.unix_timestamp_nanos(), self.key))
    }

    pub fn decode(value: &str) -> Option<Self> {
        if value.len() > MAX_LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (nanos, key) = text.split_once('|')?;
        let at = OffsetDateTime::from_unix_timestamp_nanos(nanos.parse().ok()?).ok()?;
        Some(Cursor {
            at,
            key: key.parse().ok()?,
        })
    }

    /// The `cursor` query parameter: absent, or one we handed out (else 400 naming it).
    pub fn param(value: Option<&str>) -> ApiResult<Option<Self>> {
        value
            .map(|c| {
                Self::decode(c).ok_or_else(|| {
                    ApiError::new(&catalogue::INVALID_REQUEST)
                        .arg_text("reason", NOT_OURS)
                        .field_text("/cursor", NOT_OURS, Vec::new())
                })
            })
            .transpose()
    }
}

/// One page of a keyset-paginated list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page from `limit + 1` rows fetched: the extra row only tells that there is a next
    /// page, which starts after the last row kept.
    pub fn of<K: Display + FromStr>(
        mut rows: Vec<T>,
        limit: usize,
        position: impl Fn(&T) -> Cursor<K>,
    ) -> Page<T> {
        let next_cursor = match rows.len() > limit {
            true => {
                rows.truncate(limit);
                rows.last().map(|row| position(row).encode())
            }
            false => None,
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use uuid::Uuid;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = Cursor {
            at: datetime!(2025-03-03 09:00:00.123456789 UTC),
            key: "000.00.12.H12-250303-0001".to_string(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for bad in ["", "!!", "bm9waXBl", &URL_SAFE_NO_PAD.encode("x|y")] {
            assert_eq!(Cursor::<String>::decode(bad), None, "{bad}");
        }
        let session = Cursor {
            at: datetime!(2025-03-03 09:00 UTC),
            key: Uuid::nil(),
        };
        assert_eq!(Cursor::decode(&session.encode()), Some(session));
        let not_a_uuid = URL_SAFE_NO_PAD.encode("1|abc");
        assert_eq!(Cursor::<Uuid>::decode(&not_a_uuid), None);
        assert_eq!(Cursor::<String>::decode(&"A".repeat(MAX_LEN + 1)), None);
    }

    #[test]
    fn a_page_keeps_limit_rows_and_points_after_the_last() {
        let at = datetime!(2025-03-03 09:00 UTC);
        let position = |n: &u32| Cursor { at, key: *n };
        let page = Page::of(vec![1, 2, 3], 2, position);
        assert_eq!(page.items, [1, 2]);
        assert_eq!(page.next_cursor, Some(Cursor { at, key: 2 }.encode()));
        let last = Page::of(vec![1, 2], 2, position);
        assert_eq!(last.next_cursor, None);
    }
}
