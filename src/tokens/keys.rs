//! Signing keys: generated here, stored encrypted in PostgreSQL, held in memory by every
//! replica and reloaded every few seconds so rotations reach all of them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use sqlx::{PgPool, Row};
use time::OffsetDateTime;

use crate::crypto::{MasterKey, Purpose};

/// How often replicas re-read the key table.
pub const RELOAD_EVERY: Duration = Duration::from_secs(5);
/// Arbitrary constant identifying the "first key" advisory lock.
const FIRST_KEY_LOCK: i64 = 0x6d6f_7463_7561_0001;

pub struct Signer {
    pub kid: String,
    pub key: EncodingKey,
}

/// A key that signs, or will: phases are decided when signing, not when loading, so a
/// rotation's switch-over happens on time without waiting for a reload.
struct SigningSlot {
    signing_from: OffsetDateTime,
    retired_at: Option<OffsetDateTime>,
    signer: Arc<Signer>,
}

#[derive(Default)]
struct KeySet {
    /// Newest first.
    signers: Vec<SigningSlot>,
    verifiers: HashMap<String, Arc<DecodingKey>>,
    jwks: JwkSet,
}

/// The keys this replica signs and verifies with.
#[derive(Clone)]
pub struct Keyring {
    db: Option<PgPool>,
    master: MasterKey,
    current: Arc<RwLock<Arc<KeySet>>>,
}

impl Keyring {
    /// Loads the keys, creating the first one when there is none (under an advisory lock, so
    /// two replicas starting together agree on it).
    pub async fn load(db: PgPool, master: MasterKey) -> anyhow::Result<Self> {
        let keyring = Self {
            db: Some(db.clone()),
            master,
            current: Arc::default(),
        };
        keyring.ensure_signing_key(&db).await?;
        keyring.reload().await?;
        Ok(keyring)
    }

    /// A keyring with one fresh key held only in memory, for benchmarks and unit tests.
    pub fn ephemeral() -> anyhow::Result<Self> {
        let (kid, der, jwk) = generate_key()?;
        let mut set = KeySet::default();
        set.verifiers
            .insert(kid.clone(), Arc::new(DecodingKey::from_jwk(&jwk)?));
        set.jwks.keys.push(jwk);
        set.signers.push(SigningSlot {
            signing_from: OffsetDateTime::UNIX_EPOCH,
            retired_at: None,
            signer: Arc::new(Signer {
                kid,
                key: EncodingKey::from_ec_der(&der),
            }),
        });
        Ok(Self {
            db: None,
            master: MasterKey::new([0; 32]),
            current: Arc::new(RwLock::new(Arc::new(set))),
        })
    }

    async fn ensure_signing_key(&self, db: &PgPool) -> anyhow::Result<()> {
        let mut tx = db.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(FIRST_KEY_LOCK)
            .execute(&mut *tx)
            .await?;
        let usable: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL OR retired_at > now())",
        )
        .fetch_one(&mut *tx)
        .await?;
        if !usable {
            let kid = insert_new_key(&mut tx, &self.master, OffsetDateTime::now_utc()).await?;
            tracing::info!(kid = %kid, "generated the first signing key");
        }
        tx.commit().await?;
        Ok(())
    }

    /// Re-reads the key table: every published key verifies; every key not yet retired is a
    /// signer from its `signing_from`.
    pub async fn reload(&self) -> anyhow::Result<()> {
        let Some(db) = &self.db else {
            return Ok(());
        };
        let rows = sqlx::query(
            "SELECT kid, private_key_enc, public_jwk, signing_from, retired_at
             FROM signing_keys
             WHERE unpublish_at IS NULL OR unpublish_at > now()
             ORDER BY signing_from DESC",
        )
        .fetch_all(db)
        .await?;
        let now = OffsetDateTime::now_utc();
        let mut set = KeySet::default();
        for row in rows {
            let kid: String = row.try_get("kid")?;
            let jwk: Jwk = serde_json::from_value(row.try_get("public_jwk")?)
                .with_context(|| format!("public key {kid}"))?;
            let decoding =
                DecodingKey::from_jwk(&jwk).with_context(|| format!("public key {kid}"))?;
            set.verifiers.insert(kid.clone(), Arc::new(decoding));
            set.jwks.keys.push(jwk);
            let retired_at: Option<OffsetDateTime> = row.try_get("retired_at")?;
            if retired_at.is_some_and(|at| at <= now) {
                continue;
            }
            let sealed: Vec<u8> = row.try_get("private_key_enc")?;
            let der = self
                .master
                .open(Purpose::SigningKeys, kid.as_bytes(), &sealed)
                .map_err(|_| {
                    anyhow::anyhow!(
                        "decrypting signing key {kid}: is MOTCUA_MASTER_KEY the one it was made with?"
                    )
                })?;
            set.signers.push(SigningSlot {
                signing_from: row.try_get("signing_from")?,
                retired_at,
                signer: Arc::new(Signer {
                    kid,
                    key: EncodingKey::from_ec_der(&der),
                }),
            });
        }
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        Ok(())
    }

    /// Keeps the keyring fresh until the process ends.
    pub fn spawn_reloader(&self) {
        let keyring = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RELOAD_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(err) = keyring.reload().await {
                    tracing::warn!(error = format!("{err:#}"), "reloading signing keys failed");
                }
            }
        });
    }

    fn snapshot(&self) -> Arc<KeySet> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The key that signs now: the newest one whose time has come and that is not retired.
    pub fn signer(&self) -> Option<Arc<Signer>> {
        let now = OffsetDateTime::now_utc();
        self.snapshot()
            .signers
            .iter()
            .find(|slot| slot.signing_from <= now && slot.retired_at.is_none_or(|at| at > now))
            .map(|slot| slot.signer.clone())
    }

    pub fn verifier(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        self.snapshot().verifiers.get(kid).cloned()
    }

    /// The published keys (RFC 7517).
    pub fn jwks(&self) -> JwkSet {
        self.snapshot().jwks.clone()
    }
}

/// A new P-256 key: its `kid`, PKCS#8 DER and public JWK.
fn generate_key() -> anyhow::Result<(String, Vec<u8>, Jwk)> {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
        .map_err(|_| anyhow::anyhow!("generating a P-256 key"))?;
    let der = pair
        .to_pkcs8v1()
        .map_err(|_| anyhow::anyhow!("exporting a P-256 key"))?
        .as_ref()
        .to_vec();
    let encoding = EncodingKey::from_ec_der(&der);
    let kid = format!(
        "{}-{}",
        OffsetDateTime::now_utc().date(),
        crate::crypto::random_alphanumeric(8)
    );
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256)?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Ok((kid, der, jwk))
}

/// Generates an ES256 key, stores it encrypted and returns its `kid`.
pub async fn insert_new_key(
    tx: &mut sqlx::PgConnection,
    master: &MasterKey,
    signing_from: OffsetDateTime,
) -> anyhow::Result<String> {
    let (kid, der, jwk) = generate_key()?;
    let sealed = master
        .seal(Purpose::SigningKeys, kid.as_bytes(), &der)
        .map_err(|_| anyhow::anyhow!("encrypting the signing key"))?;
    sqlx::query(
        "INSERT INTO signing_keys (kid, alg, private_key_enc, public_jwk, signing_from)
         VALUES ($1, 'ES256', $2, $3, $4)",
    )
    .bind(&kid)
    .bind(&sealed)
    .bind(serde_json::to_value(&jwk)?)
    .bind(signing_from)
    .execute(&mut *tx)
    .await?;
    Ok(kid)
}

/// One signing key as operators see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: String,
    /// `pending` (published, not signing yet), `active`, `retired` (published, no longer
    /// signing), `unpublished`, or `withdrawn` (compromised, out of the JWKS).
    pub status: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub signing_from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub retired_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub unpublish_at: Option<OffsetDateTime>,
}

pub async fn list(db: &PgPool) -> anyhow::Result<Vec<KeyInfo>> {
    let rows = sqlx::query(
        "SELECT kid, alg, created_at, signing_from, retired_at, unpublish_at, withdrawn_at
         FROM signing_keys ORDER BY signing_from DESC",
    )
    .fetch_all(db)
    .await?;
    let now = OffsetDateTime::now_utc();
    rows.into_iter()
        .map(|row| {
            let signing_from: OffsetDateTime = row.try_get("signing_from")?;
            let retired_at: Option<OffsetDateTime> = row.try_get("retired_at")?;
            let unpublish_at: Option<OffsetDateTime> = row.try_get("unpublish_at")?;
            let withdrawn_at: Option<OffsetDateTime> = row.try_get("withdrawn_at")?;
            let status = if withdrawn_at.is_some() {
                "withdrawn"
            } else if unpublish_at.is_some_and(|t| t <= now) {
                "unpublished"
            } else if retired_at.is_some_and(|t| t <= now) {
                "retired"
            } else if signing_from > now {
                "pending"
            } else {
                "active"
            };
            Ok(KeyInfo {
                kid: row.try_get("kid")?,
                alg: row.try_get("alg")?,
                status,
                created_at: row.try_get("created_at")?,
                signing_from,
                retired_at,
                unpublish_at,
            })
        })
        .collect()
}

/// Phased rotation: the new key is published at once but signs only after `delay` (longer than
/// the JWKS cache lifetime, so every verifier has it by then). The keys it replaces stop signing
/// at that moment and stay published until every token they signed has expired.
pub async fn rotate(
    db: &PgPool,
    master: &MasterKey,
    delay: Duration,
    token_lifetime: Duration,
) -> anyhow::Result<KeyInfo> {
    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(FIRST_KEY_LOCK)
        .execute(&mut *tx)
        .await?;
    let signing_from = OffsetDateTime::now_utc() + time::Duration::seconds(delay.as_secs() as i64);
    let kid = insert_new_key(&mut tx, master, signing_from).await?;
    let unpublish_at = signing_from + tokens_outlive(token_lifetime);
    sqlx::query(
        "UPDATE signing_keys SET retired_at = $2, unpublish_at = $3
         WHERE kid <> $1 AND (retired_at IS NULL OR retired_at > $2)",
    )
    .bind(&kid)
    .bind(signing_from)
    .bind(unpublish_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    list(db)
        .await?
        .into_iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| anyhow::anyhow!("the new key vanished"))
}

/// A key we signed with, as an auditor must judge it.
pub struct AuthenticKey {
    pub key: DecodingKey,
    /// It signs nothing from then on: a statement it signed later is forged.
    pub retired_at: Option<OffsetDateTime>,
    /// Withdrawn as compromised: whoever holds it could have signed anything, so nothing it
    /// signed is evidence.
    pub withdrawn: bool,
}

/// Verifying keys for everything we ever signed, derived from the private keys that decrypt
/// under the master key: a public key planted in the table by someone without the master key
/// verifies nothing.
pub async fn authentic_verifiers(
    db: &PgPool,
    master: &MasterKey,
) -> anyhow::Result<HashMap<String, AuthenticKey>> {
    let rows =
        sqlx::query("SELECT kid, private_key_enc, retired_at, withdrawn_at FROM signing_keys")
            .fetch_all(db)
            .await?;
    let mut verifiers = HashMap::new();
    for row in rows {
        let kid: String = row.try_get("kid")?;
        let sealed: Vec<u8> = row.try_get("private_key_enc")?;
        let Ok(der) = master.open(Purpose::SigningKeys, kid.as_bytes(), &sealed) else {
            tracing::warn!(kid = %kid, "signing key does not decrypt under the master key; ignored");
            continue;
        };
        let jwk = Jwk::from_encoding_key(&EncodingKey::from_ec_der(&der), Algorithm::ES256)?;
        let withdrawn_at: Option<OffsetDateTime> = row.try_get("withdrawn_at")?;
        verifiers.insert(
            kid,
            AuthenticKey {
                key: DecodingKey::from_jwk(&jwk)?,
                retired_at: row.try_get("retired_at")?,
                withdrawn: withdrawn_at.is_some(),
            },
        );
    }
    Ok(verifiers)
}

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

/// How long a key that stopped signing stays published: until every token it signed has
/// expired.
fn tokens_outlive(token_lifetime: Duration) -> time::Duration {
    time::Duration::seconds(super::max_token_life(token_lifetime).as_secs() as i64)
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
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(FIRST_KEY_LOCK)
        .execute(&mut *tx)
        .await?;
    let now: OffsetDateTime = sqlx::query_scalar("SELECT now()")
        .fetch_one(&mut *tx)
        .await?;
    let rows = sqlx::query(
        "SELECT kid, signing_from, retired_at, unpublish_at, withdrawn_at FROM signing_keys",
    )
    .fetch_all(&mut *tx)
    .await?;
    let keys = rows
        .into_iter()
        .map(|row| {
            let withdrawn_at: Option<OffsetDateTime> = row.try_get("withdrawn_at")?;
            Ok(Schedule {
                kid: row.try_get("kid")?,
                signing_from: row.try_get("signing_from")?,
                retired_at: row.try_get("retired_at")?,
                unpublish_at: row.try_get("unpublish_at")?,
                withdrawn: withdrawn_at.is_some(),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
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
        sqlx::query(
            "UPDATE signing_keys
             SET retired_at = $2, unpublish_at = $3,
                 withdrawn_at = CASE WHEN $4 THEN coalesce(withdrawn_at, $5) ELSE withdrawn_at END
             WHERE kid = $1",
        )
        .bind(&change.kid)
        .bind(change.retired_at)
        .bind(change.unpublish_at)
        .bind(change.withdrawn)
        .bind(now)
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
