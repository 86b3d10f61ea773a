//! Signing keys: generated here, stored encrypted in PostgreSQL, held in memory by every
//! replica and reloaded every few seconds so rotations reach all of them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use crate::crypto::{MasterKey, Purpose};

mod retirement;

pub use retirement::{RetireError, Retired, Schedule, first_gap, plan_retirement, retire};

/// How often replicas re-read the key table.
pub const RELOAD_EVERY: Duration = Duration::from_secs(5);
/// Arbitrary constant identifying the "first key" advisory lock.
const FIRST_KEY_LOCK: i64 = 0x6d6f_7463_7561_0001;

/// A signing key, parsed once: building a signer from the key's DER (which derives the public
/// point) took a fifth of a client-credentials token's instructions when done per token.
pub struct Signer {
    pub kid: String,
    /// The same key for `jsonwebtoken::encode` under a header of one's choosing (tests forge
    /// headers with it); what we issue goes through [`sign`](Self::sign).
    pub key: EncodingKey,
    pair: EcdsaKeyPair,
}

impl Signer {
    fn new(kid: String, der: &[u8]) -> anyhow::Result<Self> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|_| anyhow::anyhow!("signing key {kid} is not a P-256 PKCS#8 key"))?;
        Ok(Self {
            kid,
            key: EncodingKey::from_ec_der(der),
            pair,
        })
    }

    /// A compact JWS (RFC 7515) of `claims`, ES256, with this key's `kid` and `typ` in its
    /// header: what `jsonwebtoken::encode` makes, without parsing the key every time.
    pub fn sign(&self, claims: &impl serde::Serialize, typ: &str) -> Option<String> {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        #[derive(serde::Serialize)]
        struct Header<'a> {
            typ: &'a str,
            alg: &'static str,
            kid: &'a str,
        }
        let header = serde_json::to_vec(&Header {
            typ,
            alg: "ES256",
            kid: &self.kid,
        })
        .ok()?;
        let claims = serde_json::to_vec(claims).ok()?;
        let mut jws = URL_SAFE_NO_PAD.encode(header);
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut jws);
        let signature = self
            .pair
            .sign(&aws_lc_rs::rand::SystemRandom::new(), jws.as_bytes())
            .ok()?;
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut jws);
        Some(jws)
    }
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
            signer: Arc::new(Signer::new(kid, &der)?),
        });
        Ok(Self {
            db: None,
            master: MasterKey::new([0; 32]),
            current: Arc::new(RwLock::new(Arc::new(set))),
        })
    }

    async fn ensure_signing_key(&self, db: &PgPool) -> anyhow::Result<()> {
        let mut tx = db.begin().await?;
        lock_key_table(&mut tx).await?;
        let usable = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL OR retired_at > now()) AS "usable!""#,
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
        let rows = sqlx::query!(
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
            let kid: String = row.kid;
            let jwk: Jwk = serde_json::from_value(row.public_jwk)
                .with_context(|| format!("public key {kid}"))?;
            let decoding =
                DecodingKey::from_jwk(&jwk).with_context(|| format!("public key {kid}"))?;
            set.verifiers.insert(kid.clone(), Arc::new(decoding));
            set.jwks.keys.push(jwk);
            let retired_at: Option<OffsetDateTime> = row.retired_at;
            if retired_at.is_some_and(|at| at <= now) {
                continue;
            }
            let sealed: Vec<u8> = row.private_key_enc;
            let der = self
                .master
                .open(Purpose::SigningKeys, kid.as_bytes(), &sealed)
                .map_err(|_| {
                    anyhow::anyhow!(
                        "decrypting signing key {kid}: is MOTCUA_MASTER_KEY the one it was made with?"
                    )
                })?;
            set.signers.push(SigningSlot {
                signing_from: row.signing_from,
                retired_at,
                signer: Arc::new(Signer::new(kid, &der)?),
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
    sqlx::query!(
        "INSERT INTO signing_keys (kid, alg, private_key_enc, public_jwk, signing_from)
         VALUES ($1, 'ES256', $2, $3, $4)",
        kid,
        sealed,
        serde_json::to_value(&jwk)?,
        signing_from,
    )
    .execute(&mut *tx)
    .await?;
    Ok(kid)
}

/// Serialises changes to the key table across replicas (the first key, rotations, retirements).
async fn lock_key_table(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", FIRST_KEY_LOCK)
        .execute(conn)
        .await?;
    Ok(())
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
    let rows = sqlx::query!(
        "SELECT kid, alg, created_at, signing_from, retired_at, unpublish_at, withdrawn_at
         FROM signing_keys ORDER BY signing_from DESC",
    )
    .fetch_all(db)
    .await?;
    let now = OffsetDateTime::now_utc();
    rows.into_iter()
        .map(|row| {
            let signing_from: OffsetDateTime = row.signing_from;
            let retired_at: Option<OffsetDateTime> = row.retired_at;
            let unpublish_at: Option<OffsetDateTime> = row.unpublish_at;
            let withdrawn_at: Option<OffsetDateTime> = row.withdrawn_at;
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
                kid: row.kid,
                alg: row.alg,
                status,
                created_at: row.created_at,
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
    lock_key_table(&mut tx).await?;
    let signing_from = OffsetDateTime::now_utc() + time::Duration::seconds(delay.as_secs() as i64);
    let kid = insert_new_key(&mut tx, master, signing_from).await?;
    let unpublish_at = signing_from + tokens_outlive(token_lifetime);
    sqlx::query!(
        "UPDATE signing_keys SET retired_at = $2, unpublish_at = $3
         WHERE kid <> $1 AND (retired_at IS NULL OR retired_at > $2)",
        kid,
        signing_from,
        unpublish_at,
    )
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
        sqlx::query!("SELECT kid, private_key_enc, retired_at, withdrawn_at FROM signing_keys")
            .fetch_all(db)
            .await?;
    let mut verifiers = HashMap::new();
    for row in rows {
        let kid: String = row.kid;
        let sealed: Vec<u8> = row.private_key_enc;
        let Ok(der) = master.open(Purpose::SigningKeys, kid.as_bytes(), &sealed) else {
            tracing::warn!(kid = %kid, "signing key does not decrypt under the master key; ignored");
            continue;
        };
        let jwk = Jwk::from_encoding_key(&EncodingKey::from_ec_der(&der), Algorithm::ES256)?;
        let withdrawn_at: Option<OffsetDateTime> = row.withdrawn_at;
        verifiers.insert(
            kid,
            AuthenticKey {
                key: DecodingKey::from_jwk(&jwk)?,
                retired_at: row.retired_at,
                withdrawn: withdrawn_at.is_some(),
            },
        );
    }
    Ok(verifiers)
}

/// How long a key that stopped signing stays published: until every token it signed has
/// expired.
fn tokens_outlive(token_lifetime: Duration) -> time::Duration {
    time::Duration::seconds(super::max_token_life(token_lifetime).as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_signer_signs_is_an_es256_jws_that_verifies_with_the_published_key() {
        let keyring = Keyring::ephemeral().unwrap();
        let signer = keyring.signer().unwrap();
        let claims = serde_json::json!({ "sub": "mc_test", "note": "ắ\"</>" });
        let jws = signer.sign(&claims, "at+jwt").unwrap();

        let header = jsonwebtoken::decode_header(&jws).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid.as_deref(), Some(signer.kid.as_str()));
        let jwks = keyring.jwks();
        let key = DecodingKey::from_jwk(jwks.find(&signer.kid).unwrap()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let decoded = jsonwebtoken::decode::<serde_json::Value>(&jws, &key, &validation).unwrap();
        assert_eq!(decoded.claims, claims);

        // A changed payload no longer verifies.
        let mut parts: Vec<&str> = jws.split('.').collect();
        let forged = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"sub":"mc_other"}"#)
        };
        parts[1] = &forged;
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(&parts.join("."), &key, &validation).is_err()
        );
    }
}
