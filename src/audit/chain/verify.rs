//! `motcua audit verify`: the chain walked from its start against the signed checkpoints.

use std::collections::{BTreeMap, HashMap};

use jsonwebtoken::{Algorithm, Validation};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use super::{
    CHECKPOINT_TYP, Checkpoint, CheckpointClaims, Content, GENESIS, checkpoints, entry_hash, unhex,
};
use crate::crypto::MasterKey;
use crate::tokens::keys::AuthenticKey;

/// The outcome of `motcua audit verify`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Report {
    pub ok: bool,
    /// Chained entries checked.
    pub entries: u64,
    /// Entries from before the chain existed (not covered).
    pub unchained: i64,
    /// Checkpoints whose signature verified (from the database and from auditors' copies).
    pub checkpoints: u64,
    /// Checkpoints signed by a key since withdrawn as compromised: not evidence either way.
    pub untrusted_checkpoints: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_seq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_broken: Option<Broken>,
    /// What verification could not vouch for, without proof of tampering (entries after the
    /// last checkpoint).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The first link that does not hold.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Broken {
    /// Chain position of the entry (or checkpoint) where verification failed.
    pub seq: i64,
    /// What does not hold there.
    pub reason: String,
}

/// The first thing found not to hold; its `Broken` says where and what, in the words auditors
/// read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ChainBreak {
    /// Two validly signed checkpoints for one entry disagree.
    Disagreeing {
        seq: i64,
    },
    Checkpoint {
        seq: i64,
        reason: String,
    },
    Missing {
        prev_seq: i64,
        seq: i64,
    },
    Unlinked {
        prev_seq: i64,
        seq: i64,
    },
    Altered {
        seq: i64,
    },
    Rewritten {
        seq: i64,
        last_good_checkpoint: i64,
    },
    /// A checkpoint vouches for entries past the chain's end.
    Deleted {
        signed_seq: i64,
        end: i64,
    },
}

impl ChainBreak {
    fn broken(&self) -> Broken {
        let (seq, reason) = match self {
            ChainBreak::Disagreeing { seq } => (
                *seq,
                "two validly signed checkpoints disagree: the signing key is compromised".into(),
            ),
            ChainBreak::Checkpoint { seq, reason } => (*seq, format!("checkpoint: {reason}")),
            ChainBreak::Missing { prev_seq, seq } => (
                prev_seq + 1,
                format!("entry missing: the chain jumps from {prev_seq} to {seq}"),
            ),
            ChainBreak::Unlinked { prev_seq, seq } => (
                *seq,
                format!("does not link to entry {prev_seq}: it or its predecessor was altered"),
            ),
            ChainBreak::Altered { seq } => (
                *seq,
                "entry altered: its content does not match its hash".into(),
            ),
            ChainBreak::Rewritten {
                seq,
                last_good_checkpoint,
            } => (
                *seq,
                format!(
                    "chain rewritten: entry {seq} differs from its signed checkpoint; \
                     the rewrite starts after entry {last_good_checkpoint}, the last signed one that matches"
                ),
            ),
            ChainBreak::Deleted { signed_seq, end } => (
                end + 1,
                format!(
                    "entries deleted: a checkpoint vouches for entry {signed_seq}, the chain ends at {end}"
                ),
            ),
        };
        Broken { seq, reason }
    }
}

/// Walks the chain from the start: each entry must follow its predecessor, link to its hash
/// and hash to what it stores; at each checkpoint, whose signature must verify with one of our
/// keys, the chain must hold the signed hash. `kept` are checkpoints auditors fetched earlier:
/// they count even if the database lost them (someone deleted the latest checkpoints along
/// with the entries they covered).
pub async fn verify(
    db: &PgPool,
    master: &MasterKey,
    issuer: &str,
    kept: &[Checkpoint],
) -> anyhow::Result<Report> {
    let keys = crate::tokens::keys::authentic_verifiers(db, master).await?;
    let mut report = Report {
        ok: true,
        entries: 0,
        unchained: sqlx::query_scalar!(
            r#"SELECT count(*) AS "count!" FROM audit_log WHERE chain_seq IS NULL"#
        )
        .fetch_one(db)
        .await?,
        checkpoints: 0,
        untrusted_checkpoints: 0,
        head_seq: None,
        first_broken: None,
        warnings: Vec::new(),
    };
    if let Err(chain_break) = check(db, &keys, issuer, kept, &mut report).await? {
        report.ok = false;
        report.first_broken = Some(chain_break.broken());
    }
    Ok(report)
}

/// The checks in order, counting what held into `report`, up to the first break.
async fn check(
    db: &PgPool,
    keys: &HashMap<String, AuthenticKey>,
    issuer: &str,
    kept: &[Checkpoint],
    report: &mut Report,
) -> anyhow::Result<Result<(), ChainBreak>> {
    let signed = match signed_heads(db, keys, issuer, kept, report).await? {
        Ok(signed) => signed,
        Err(chain_break) => return Ok(Err(chain_break)),
    };
    let end = match walk(db, &signed, report).await? {
        Ok(end) => end,
        Err(chain_break) => return Ok(Err(chain_break)),
    };
    report.head_seq = (end > 0).then_some(end);
    if let Some((&signed_seq, _)) = signed.range(end + 1..).next() {
        return Ok(Err(ChainBreak::Deleted { signed_seq, end }));
    }
    let last_signed = signed.keys().next_back().copied().unwrap_or(0);
    if end > last_signed {
        report.warnings.push(format!(
            "entries {} to {end} are not covered by a checkpoint yet: they can be checked \
             for consistency, not against a signature",
            last_signed + 1
        ));
    }
    Ok(Ok(()))
}

/// The signed heads (from the database and from auditors' copies), each checked against its
/// signature before it is believed.
async fn signed_heads(
    db: &PgPool,
    keys: &HashMap<String, AuthenticKey>,
    issuer: &str,
    kept: &[Checkpoint],
    report: &mut Report,
) -> anyhow::Result<Result<BTreeMap<i64, Vec<u8>>, ChainBreak>> {
    let mut stored = Vec::new();
    let mut after = None;
    loop {
        let page = checkpoints(db, after, 1_000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.seq);
        stored.extend(page);
    }
    let mut signed: BTreeMap<i64, Vec<u8>> = BTreeMap::new();
    for cp in stored.iter().chain(kept) {
        match check_signature(cp, keys, issuer) {
            Ok(Some(hash)) => match signed.get(&cp.seq) {
                Some(known) if *known != hash => {
                    return Ok(Err(ChainBreak::Disagreeing { seq: cp.seq }));
                }
                Some(_) => {}
                None => {
                    report.checkpoints += 1;
                    signed.insert(cp.seq, hash);
                }
            },
            Ok(None) => report.untrusted_checkpoints += 1,
            Err(reason) => {
                return Ok(Err(ChainBreak::Checkpoint {
                    seq: cp.seq,
                    reason,
                }));
            }
        }
    }
    Ok(Ok(signed))
}

/// Each entry must follow its predecessor, link to its hash and hash to what it stores, and
/// at a checkpoint be what was signed. Returns where the chain ends.
async fn walk(
    db: &PgPool,
    signed: &BTreeMap<i64, Vec<u8>>,
    report: &mut Report,
) -> anyhow::Result<Result<i64, ChainBreak>> {
    let mut prev_seq = 0_i64;
    let mut prev_hash = GENESIS.to_vec();
    let mut last_good_checkpoint = 0_i64;
    loop {
        let rows = sqlx::query_as!(
            Stored,
            r#"SELECT chain_seq AS "seq!", (extract(epoch FROM at) * 1000000)::bigint AS "at_us!",
                      action, outcome, actor, target, reason, client_id, client_ip, request_id,
                      details, prev_hash, hash
               FROM audit_log WHERE chain_seq > $1 ORDER BY chain_seq LIMIT 5000"#,
            prev_seq,
        )
        .fetch_all(db)
        .await?;
        if rows.is_empty() {
            return Ok(Ok(prev_seq));
        }
        for row in rows {
            let seq = row.seq;
            if seq != prev_seq + 1 {
                return Ok(Err(ChainBreak::Missing { prev_seq, seq }));
            }
            if row.prev_hash.as_deref() != Some(prev_hash.as_slice()) {
                return Ok(Err(ChainBreak::Unlinked { prev_seq, seq }));
            }
            let computed = row_hash(&row, &prev_hash);
            if row.hash.as_deref() != Some(computed.as_slice()) {
                return Ok(Err(ChainBreak::Altered { seq }));
            }
            if let Some(expected) = signed.get(&seq) {
                if expected.as_slice() != computed.as_slice() {
                    return Ok(Err(ChainBreak::Rewritten {
                        seq,
                        last_good_checkpoint,
                    }));
                }
                last_good_checkpoint = seq;
            }
            report.entries += 1;
            prev_seq = seq;
            prev_hash = computed.to_vec();
        }
    }
}

/// A chained entry as stored.
struct Stored {
    seq: i64,
    at_us: i64,
    action: String,
    outcome: String,
    actor: Option<String>,
    target: Option<String>,
    reason: Option<String>,
    client_id: Option<String>,
    client_ip: Option<ipnet::IpNet>,
    request_id: Option<String>,
    details: Value,
    prev_hash: Option<Vec<u8>>,
    hash: Option<Vec<u8>>,
}

/// What an entry's hash should be, from its row and its predecessor's hash.
fn row_hash(row: &Stored, prev_hash: &[u8]) -> [u8; 32] {
    entry_hash(
        prev_hash,
        &Content {
            seq: row.seq,
            at_us: row.at_us,
            action: &row.action,
            outcome: &row.outcome,
            actor: row.actor.as_deref(),
            target: row.target.as_deref(),
            reason: row.reason.as_deref(),
            client_id: row.client_id.as_deref(),
            client_ip: row.client_ip.map(|net| net.addr().to_string()),
            request_id: row.request_id.as_deref(),
            details: &row.details,
        },
    )
}

/// The signed hash, if the checkpoint's signature is ours and it says what its row says;
/// `None` when its key has since been withdrawn as compromised (it proves nothing).
fn check_signature(
    cp: &Checkpoint,
    keys: &HashMap<String, AuthenticKey>,
    issuer: &str,
) -> Result<Option<Vec<u8>>, String> {
    let header = jsonwebtoken::decode_header(&cp.jws).map_err(|e| format!("malformed: {e}"))?;
    if header.alg != Algorithm::ES256 || header.typ.as_deref() != Some(CHECKPOINT_TYP) {
        return Err("not a checkpoint statement".into());
    }
    let ours = header
        .kid
        .as_deref()
        .and_then(|kid| keys.get(kid))
        .ok_or("signed by a key that is not ours")?;
    if ours.withdrawn {
        return Ok(None);
    }
    let key = &ours.key;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.required_spec_claims = ["iss".to_string()].into_iter().collect();
    validation.set_issuer(&[issuer]);
    let claims = jsonwebtoken::decode::<CheckpointClaims>(&cp.jws, key, &validation)
        .map_err(|e| format!("signature does not verify: {e}"))?
        .claims;
    if claims.seq != cp.seq || claims.hash != cp.hash {
        return Err("its row differs from what was signed".into());
    }
    // A retired key signs nothing: a statement dated after its retirement was not made by us.
    if ours
        .retired_at
        .is_some_and(|retired| claims.iat > retired.unix_timestamp() + 1)
    {
        return Err("signed after its key retired".into());
    }
    unhex(&claims.hash)
        .map(Some)
        .ok_or_else(|| "signed hash is not hex".into())
}
