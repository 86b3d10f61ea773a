//! Retiring a signing key: planned so that some key signs at every moment from now on, and a
//! pending key's predecessors get their schedule back.

use std::time::Duration;

use sqlx::PgPool;
use time::OffsetDateTime;

use super::{KeyInfo, list, lock_key_table, tokens_outlive};

#[derive(Debug, thiserror::Error)]
pub enum RetireError {
    #[error("no signing key `{0}`")]
    Unknown(String),
    #[error(
        "no other key would sign from {0}: rotate first, and retire this one once the new key signs"
    )]
    LastSigner(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for RetireError {
    fn from(err: sqlx::Error) -> Self {
        RetireError::Other(err.into())
    }
}

/// When a key signs: from `signing_from` until it is retired or unpublished, unless withdrawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub kid: String,
    pub signing_from: OffsetDateTime,
    pub retired_at: Option<OffsetDateTime>,
    pub unpublish_at: Option<OffsetDateTime>,
    pub withdrawn: bool,
}

impl Schedule {
    /// The end of its signing, if it signs at `at` at all.
    fn signs_at(&self, at: OffsetDateTime) -> Option<Option<OffsetDateTime>> {
        let end = match (self.retired_at, self.unpublish_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        (!self.withdrawn && self.signing_from <= at && end.is_none_or(|end| end > at))
            .then_some(end)
    }
}

/// The first instant from `now` on at which none of `keys` would sign, if there is one.
pub fn first_gap(keys: &[Schedule], now: OffsetDateTime) -> Option<OffsetDateTime> {
    let mut at = now;
    loop {
        // The key that keeps signing longest from `at`; `None` ends last (never).
        let longest = keys
            .iter()
            .filter_map(|key| key.signs_at(at))
            .max_by(|a, b| match (a, b) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(_), None) => std::cmp::Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            });
        match longest {
            None => return Some(at),
            Some(None) => return None,
            // Strictly later than `at`, so this ends after at most one step per key.
            Some(Some(end)) => at = end,
        }
    }
}

/// The schedules that retiring `kid` at `now` changes, or why it must not happen.
///
/// A pending key that is retired hands the keys it was to replace their schedule back: they
/// sign on until the next key that still will, as if the rotation that made it had not
/// happened. Without that, they would stop at the moment it was to start and leave nothing
/// signing. `keep_for` is how long a retired key stays published (zero when withdrawn);
/// `rotation_keep` how long after its successor starts a replaced key does.
pub fn plan_retirement(
    keys: &[Schedule],
    kid: &str,
    now: OffsetDateTime,
    withdraw: bool,
    keep_for: time::Duration,
    rotation_keep: time::Duration,
) -> Result<Vec<Schedule>, RetireError> {
    let target = keys
        .iter()
        .find(|key| key.kid == kid)
        .ok_or_else(|| RetireError::Unknown(kid.to_string()))?;
    let mut retired = target.clone();
    retired.retired_at = Some(retired.retired_at.map_or(now, |at| at.min(now)));
    retired.unpublish_at = Some(
        retired
            .unpublish_at
            .map_or(now + keep_for, |at| at.min(now + keep_for)),
    );
    retired.withdrawn |= withdraw;
    let mut changed = vec![retired.clone()];
    if target.signing_from > now {
        for replaced in keys.iter().filter(|key| {
            key.kid != target.kid
                && !key.withdrawn
                && key.signing_from < target.signing_from
                && key.retired_at == Some(target.signing_from)
        }) {
            let successor = keys
                .iter()
                .filter(|next| {
                    next.kid != target.kid
                        && !next.withdrawn
                        && next.signing_from > replaced.signing_from
                        && next.signing_from > now
                        && next.retired_at.is_none_or(|at| at > next.signing_from)
                })
                .map(|next| next.signing_from)
                .min();
            let mut restored = replaced.clone();
            restored.retired_at = successor;
            restored.unpublish_at = successor.map(|at| at + rotation_keep);
            changed.push(restored);
        }
    }
    let after: Vec<Schedule> = keys
        .iter()
        .map(|key| {
            changed
                .iter()
                .find(|c| c.kid == key.kid)
                .unwrap_or(key)
                .clone()
        })
        .collect();
    // A gap the keys already had is no reason to refuse, say, withdrawing a compromised key;
    // making one, or bringing it closer, is.
    let gap =
        first_gap(&after, now).filter(|gap| first_gap(keys, now).is_none_or(|old| *gap < old));
    if let Some(gap) = gap {
        return Err(RetireError::LastSigner(
            gap.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| gap.to_string()),
        ));
    }
    Ok(changed)
}

/// What a retirement did.
pub struct Retired {
    pub key: KeyInfo,
    /// Keys that got their schedule back because the pending key replacing them was retired.
    pub restored: Vec<String>,
}

/// Stops a key signing now. It stays published until its tokens have expired, unless
/// `withdraw` (a compromised key): then it leaves the JWKS at once and every token it signed
/// stops verifying as replicas reload. A pending key's predecessors get their schedule back.
/// Refused when some moment from now on would be left without a signing key.
pub async fn retire(
    db: &PgPool,
    kid: &str,
    token_lifetime: Duration,
    withdraw: bool,
) -> Result<Retired, RetireError> {
    let mut tx = db.begin().await?;
    lock_key_table(&mut tx).await?;
    let now = sqlx::query_scalar!(r#"SELECT now() AS "now!""#)
        .fetch_one(&mut *tx)
        .await?;
    let keys = sqlx::query_as!(
        Schedule,
        r#"SELECT kid, signing_from, retired_at, unpublish_at, withdrawn_at IS NOT NULL AS "withdrawn!"
           FROM signing_keys"#,
    )
    .fetch_all(&mut *tx)
    .await?;
    let keep_for = match withdraw {
        true => time::Duration::ZERO,
        false => tokens_outlive(token_lifetime),
    };
    let changes = plan_retirement(
        &keys,
        kid,
        now,
        withdraw,
        keep_for,
        tokens_outlive(token_lifetime),
    )?;
    for change in &changes {
        sqlx::query!(
            "UPDATE signing_keys
             SET retired_at = $2, unpublish_at = $3,
                 withdrawn_at = CASE WHEN $4 THEN coalesce(withdrawn_at, $5) ELSE withdrawn_at END
             WHERE kid = $1",
            change.kid,
            change.retired_at,
            change.unpublish_at,
            change.withdrawn,
            now,
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    let key = list(db)
        .await?
        .into_iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| RetireError::Unknown(kid.to_string()))?;
    Ok(Retired {
        key,
        restored: changes
            .into_iter()
            .map(|change| change.kid)
            .filter(|restored| restored != kid)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEP: time::Duration = time::Duration::minutes(15);

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1_000_000 + secs)
    }

    fn key(kid: &str, from: i64, retired: Option<i64>) -> Schedule {
        Schedule {
            kid: kid.into(),
            signing_from: at(from),
            retired_at: retired.map(at),
            unpublish_at: retired.map(|r| at(r) + KEEP),
            withdrawn: false,
        }
    }

    fn apply(keys: &[Schedule], changes: &[Schedule]) -> Vec<Schedule> {
        keys.iter()
            .map(|k| changes.iter().find(|c| c.kid == k.kid).unwrap_or(k).clone())
            .collect()
    }

    /// The state `rotate` leaves at time 0 with a delay of 60 s.
    fn rotated() -> Vec<Schedule> {
        vec![key("old", -1000, Some(60)), key("new", 60, None)]
    }

    #[test]
    fn a_gap_is_found_at_any_future_instant_not_only_now() {
        let now = at(0);
        assert_eq!(first_gap(&rotated(), now), None);
        assert_eq!(first_gap(&[key("old", -1000, Some(60))], now), Some(at(60)));
        assert_eq!(first_gap(&[key("new", 60, None)], now), Some(now));
        assert_eq!(
            first_gap(&[key("a", -10, Some(30)), key("b", 20, Some(90))], now),
            Some(at(90))
        );
        let mut withdrawn = key("w", -10, None);
        withdrawn.withdrawn = true;
        assert_eq!(first_gap(&[withdrawn], now), Some(now));
        assert_eq!(first_gap(&[], now), Some(now));
    }

    #[test]
    fn retiring_or_withdrawing_a_pending_key_gives_its_predecessor_its_schedule_back() {
        let keys = rotated();
        for withdraw in [false, true] {
            let keep = if withdraw { time::Duration::ZERO } else { KEEP };
            let changes = plan_retirement(&keys, "new", at(0), withdraw, keep, KEEP).unwrap();
            let after = apply(&keys, &changes);
            assert_eq!(first_gap(&after, at(0)), None, "withdraw={withdraw}");
            let old = after.iter().find(|k| k.kid == "old").unwrap();
            assert_eq!((old.retired_at, old.unpublish_at), (None, None));
            let new = after.iter().find(|k| k.kid == "new").unwrap();
            assert_eq!(new.retired_at, Some(at(0)));
            assert_eq!(new.withdrawn, withdraw);
            assert!(new.signs_at(at(60)).is_none());
        }
    }

    #[test]
    fn a_predecessor_gets_back_to_the_next_key_that_still_will_sign() {
        // Two rotations: `b` at 60 replaced `a`, then `c` at 120 replaced `b`.
        let keys = vec![
            key("a", -1000, Some(60)),
            key("b", 60, Some(120)),
            key("c", 120, None),
        ];
        let changes = plan_retirement(&keys, "b", at(0), true, time::Duration::ZERO, KEEP).unwrap();
        let after = apply(&keys, &changes);
        let a = after.iter().find(|k| k.kid == "a").unwrap();
        assert_eq!(a.retired_at, Some(at(120)));
        assert_eq!(a.unpublish_at, Some(at(120) + KEEP));
        assert_eq!(first_gap(&after, at(0)), None);

        let changes = plan_retirement(&keys, "c", at(0), false, KEEP, KEEP).unwrap();
        let after = apply(&keys, &changes);
        assert_eq!(
            after.iter().find(|k| k.kid == "b").unwrap().retired_at,
            None
        );
        assert_eq!(
            after.iter().find(|k| k.kid == "a").unwrap().retired_at,
            Some(at(60))
        );
        assert_eq!(first_gap(&after, at(0)), None);
    }

    #[test]
    fn retiring_a_key_that_leaves_any_future_instant_unsigned_is_refused() {
        // The current key while its successor is still pending: nothing would sign until 60.
        assert!(matches!(
            plan_retirement(&rotated(), "old", at(0), false, KEEP, KEEP),
            Err(RetireError::LastSigner(_))
        ));
        // The only key.
        assert!(matches!(
            plan_retirement(&[key("a", -10, None)], "a", at(0), true, KEEP, KEEP),
            Err(RetireError::LastSigner(_))
        ));
        // Once the successor signs, the old one may go.
        assert!(plan_retirement(&rotated(), "old", at(61), true, KEEP, KEEP).is_ok());
        assert!(matches!(
            plan_retirement(&rotated(), "nope", at(0), false, KEEP, KEEP),
            Err(RetireError::Unknown(_))
        ));
    }

    #[test]
    fn a_gap_already_there_does_not_block_withdrawing_another_key() {
        // `a` stops at 60 with nothing after it (a schedule broken before this check existed);
        // `b` is a second current key that is compromised.
        let keys = vec![key("a", -1000, Some(60)), key("b", -500, Some(30))];
        assert!(plan_retirement(&keys, "b", at(0), true, time::Duration::ZERO, KEEP).is_ok());
        // Retiring `a` would bring the gap forward, to 30.
        assert!(plan_retirement(&keys, "a", at(0), false, KEEP, KEEP).is_err());
    }
}
