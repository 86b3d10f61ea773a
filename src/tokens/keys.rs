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

#[derive(Default)]
struct KeySet {
    signer: Option<Arc<Signer>>,
    verifiers: HashMap<String, Arc<DecodingKey>>,
    jwks: JwkSet,
}

/// The keys this replica signs and verifies with.
#[derive(Clone)]
pub struct Keyring {
    db: PgPool,
    master: MasterKey,
    current: Arc<RwLock<Arc<KeySet>>>,
}

impl Keyring {
    /// Loads the keys, creating the first one when there is none (under an advisory lock, so
    /// two replicas starting together agree on it).
    pub async fn load(db: PgPool, master: MasterKey) -> anyhow::Result<Self> {
        let keyring = Self {
            db,
            master,
            current: Arc::default(),
        };
        keyring.ensure_signing_key().await?;
        keyring.reload().await?;
        Ok(keyring)
    }

    async fn ensure_signing_key(&self) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(FIRST_KEY_LOCK)
            .execute(&mut *tx)
            .await?;
        let usable: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL)",
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

    /// Re-reads the key table.
    pub async fn reload(&self) -> anyhow::Result<()> {
        let rows = sqlx::query(
            "SELECT kid, private_key_enc, public_jwk, signing_from <= now() AS signing
             FROM signing_keys
             WHERE unpublish_at IS NULL OR unpublish_at > now()
             ORDER BY signing_from DESC",
        )
        .fetch_all(&self.db)
        .await?;
        let mut set = KeySet::default();
        let retired: Vec<String> = sqlx::query_scalar(
            "SELECT kid FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at <= now()",
        )
        .fetch_all(&self.db)
        .await?;
        for row in rows {
            let kid: String = row.try_get("kid")?;
            let jwk: Jwk = serde_json::from_value(row.try_get("public_jwk")?)
                .with_context(|| format!("public key {kid}"))?;
            let decoding =
                DecodingKey::from_jwk(&jwk).with_context(|| format!("public key {kid}"))?;
            set.verifiers.insert(kid.clone(), Arc::new(decoding));
            set.jwks.keys.push(jwk);
            let signing: bool = row.try_get("signing")?;
            if set.signer.is_none() && signing && !retired.contains(&kid) {
                let sealed: Vec<u8> = row.try_get("private_key_enc")?;
                let der = self
                    .master
                    .open(Purpose::SigningKeys, kid.as_bytes(), &sealed)
                    .with_context(|| format!("decrypting signing key {kid}: is MOTCUA_MASTER_KEY the one it was made with?"))?;
                set.signer = Some(Arc::new(Signer {
                    kid,
                    key: EncodingKey::from_ec_der(&der),
                }));
            }
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

    pub fn signer(&self) -> Option<Arc<Signer>> {
        self.snapshot().signer.clone()
    }

    pub fn verifier(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        self.snapshot().verifiers.get(kid).cloned()
    }

    /// The published keys (RFC 7517).
    pub fn jwks(&self) -> JwkSet {
        self.snapshot().jwks.clone()
    }
}

/// Generates an ES256 key, stores it encrypted and returns its `kid`.
pub async fn insert_new_key(
    tx: &mut sqlx::PgConnection,
    master: &MasterKey,
    signing_from: OffsetDateTime,
) -> anyhow::Result<String> {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
        .map_err(|_| anyhow::anyhow!("generating a P-256 key"))?;
    let der = pair
        .to_pkcs8v1()
        .map_err(|_| anyhow::anyhow!("exporting a P-256 key"))?;
    let encoding = EncodingKey::from_ec_der(der.as_ref());
    let kid = format!(
        "{}-{}",
        OffsetDateTime::now_utc().date(),
        crate::crypto::random_alphanumeric(8)
    );
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256)?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let sealed = master
        .seal(Purpose::SigningKeys, kid.as_bytes(), der.as_ref())
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
