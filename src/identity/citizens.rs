//! Citizens: linked to their eID by (provider, subject); known to everyone else by our own id.

use sqlx::PgPool;
use uuid::Uuid;

use crate::crypto::{MasterKey, Purpose};

/// What a sign-in tells us about a citizen.
#[derive(Debug, Clone)]
pub struct SignIn {
    pub provider: String,
    pub provider_subject: String,
    pub name: Option<String>,
    /// The 12-digit personal identification number, if the provider released it and it is
    /// well-formed. Never stored: only its keyed hash and a masked form are.
    pub id_number: Option<String>,
    pub level: i16,
}

#[derive(Debug, Clone)]
pub struct Citizen {
    pub id: Uuid,
    pub name: Option<String>,
    pub id_number_masked: Option<String>,
    pub level: i16,
    pub provider: String,
}

/// Accepts exactly 12 ASCII digits.
pub fn valid_id_number(value: &str) -> bool {
    value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit())
}

/// Shows only the last four digits: enough for a citizen to recognise their number.
pub fn mask_id_number(value: &str) -> String {
    let visible = &value[value.len().saturating_sub(4)..];
    format!("{}{visible}", "*".repeat(value.len().saturating_sub(4)))
}

/// Links or creates the citizen and returns our id for them.
pub async fn link(db: &PgPool, master: &MasterKey, sign_in: &SignIn) -> anyhow::Result<Uuid> {
    let (hmac, masked) = match sign_in.id_number.as_deref().filter(|n| valid_id_number(n)) {
        Some(number) => (
            Some(
                master
                    .mac(Purpose::IdNumber, number.as_bytes())
                    .map_err(|_| anyhow::anyhow!("hashing the identification number"))?,
            ),
            Some(mask_id_number(number)),
        ),
        None => (None, None),
    };
    let id = sqlx::query_scalar!(
        "INSERT INTO citizens (id, provider, provider_subject, name, id_number_hmac, id_number_masked, level)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (provider, provider_subject) DO UPDATE SET
             name = COALESCE(EXCLUDED.name, citizens.name),
             id_number_hmac = COALESCE(EXCLUDED.id_number_hmac, citizens.id_number_hmac),
             id_number_masked = COALESCE(EXCLUDED.id_number_masked, citizens.id_number_masked),
             level = EXCLUDED.level,
             last_sign_in_at = now()
         RETURNING id",
        Uuid::new_v4(),
        sign_in.provider,
        sign_in.provider_subject,
        sign_in.name,
        hmac,
        masked,
        sign_in.level,
    )
    .fetch_one(db)
    .await?;
    Ok(id)
}

pub async fn find(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Citizen>> {
    sqlx::query_as!(
        Citizen,
        "SELECT id, name, id_number_masked, level, provider FROM citizens WHERE id = $1",
        id,
    )
    .fetch_optional(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identification_numbers_are_validated_and_masked() {
        assert!(valid_id_number("079190001234"));
        assert!(!valid_id_number("07919000123"));
        assert!(!valid_id_number("07919000123a"));
        assert!(!valid_id_number("０７９１９０００１２３４"));
        assert_eq!(mask_id_number("079190001234"), "********1234");
    }
}
