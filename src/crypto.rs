//! Small cryptographic helpers over aws-lc-rs: random tokens, hashing, keyed hashing,
//! encryption at rest under keys derived from `MOTCUA_MASTER_KEY`.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::{constant_time, digest, hkdf, hmac, rand};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Purposes of keys derived from the master key; each gets an independent key (HKDF-SHA256).
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    SigningKeys,
    IdNumber,
    TokenReplies,
    LookupPin,
    WebhookSecrets,
    IdempotentReplies,
}

impl Purpose {
    fn info(self) -> &'static [u8] {
        match self {
            Purpose::SigningKeys => b"motcua signing-key encryption v1",
            Purpose::IdNumber => b"motcua id-number hmac v1",
            Purpose::TokenReplies => b"motcua token-reply encryption v1",
            Purpose::LookupPin => b"motcua dossier lookup-pin hmac v1",
            Purpose::WebhookSecrets => b"motcua webhook-secret encryption v1",
            Purpose::IdempotentReplies => b"motcua idempotent-reply encryption v1",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cryptographic operation failed")]
pub struct CryptoError;

impl From<aws_lc_rs::error::Unspecified> for CryptoError {
    fn from(_: aws_lc_rs::error::Unspecified) -> Self {
        CryptoError
    }
}

/// Keys derived from the master key, one per purpose.
#[derive(Clone)]
pub struct MasterKey {
    master: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

struct Len32;
impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

impl MasterKey {
    pub fn new(master: [u8; 32]) -> Self {
        Self { master }
    }

    fn derive(&self, purpose: Purpose) -> Result<[u8; 32], CryptoError> {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"motcua");
        let prk = salt.extract(&self.master);
        let info = [purpose.info()];
        let okm = prk.expand(&info, Len32)?;
        let mut out = [0u8; 32];
        okm.fill(&mut out)?;
        Ok(out)
    }

    /// AES-256-GCM with a random nonce; the output is `nonce || ciphertext || tag`. `context`
    /// is bound as associated data, so a ciphertext cannot be moved to another row.
    pub fn seal(
        &self,
        purpose: Purpose,
        context: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.derive(purpose)?)?);
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce)?;
        let mut buffer = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(context),
            &mut buffer,
        )?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        Ok(out)
    }

    pub fn open(
        &self,
        purpose: Purpose,
        context: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.derive(purpose)?)?);
        let nonce = Nonce::try_assume_unique_for_key(nonce)?;
        let mut buffer = ciphertext.to_vec();
        let plaintext = key.open_in_place(nonce, Aad::from(context), &mut buffer)?;
        Ok(plaintext.to_vec())
    }

    /// HMAC-SHA256 under the purpose's key.
    pub fn mac(&self, purpose: Purpose, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.derive(purpose)?);
        Ok(hmac::sign(&key, data).as_ref().to_vec())
    }
}

/// `len` bytes from the system RNG.
pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut buffer = vec![0u8; len];
    // Cannot fail short of a broken OS (getrandom on Linux blocks until seeded); then issuing
    // guessable secrets would be worse than stopping.
    #[allow(clippy::expect_used)]
    rand::fill(&mut buffer[..]).expect("system random number generator");
    buffer
}

/// `bytes` random bytes, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(bytes))
}

/// Lower-case alphanumeric random string (for identifiers that appear in URLs and logs).
pub fn random_alphanumeric(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    // 256 is not a multiple of 36: the bias is under 1% per character, harmless for ids.
    random_bytes(len)
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// SHA-256 over bytes written a piece at a time (`io::Write`, so a serializer can write into it
/// without building its text first).
pub struct Sha256Writer(digest::Context);

impl Default for Sha256Writer {
    fn default() -> Self {
        Self(digest::Context::new(&digest::SHA256))
    }
}

impl Sha256Writer {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.0.finish().as_ref());
        out
    }
}

impl std::io::Write for Sha256Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// base64url(SHA-256(data)), as PKCE S256 and token hashes use.
pub fn sha256_b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(sha256(data))
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_with_the_same_key_purpose_and_context() {
        let key = MasterKey::new([1; 32]);
        let sealed = key.seal(Purpose::SigningKeys, b"kid-1", b"secret").unwrap();
        assert_eq!(
            key.open(Purpose::SigningKeys, b"kid-1", &sealed).unwrap(),
            b"secret"
        );
        assert!(key.open(Purpose::SigningKeys, b"kid-2", &sealed).is_err());
        assert!(key.open(Purpose::TokenReplies, b"kid-1", &sealed).is_err());
        assert!(
            MasterKey::new([2; 32])
                .open(Purpose::SigningKeys, b"kid-1", &sealed)
                .is_err()
        );
    }

    #[test]
    fn macs_differ_per_purpose_and_key() {
        let a = MasterKey::new([1; 32]);
        let b = MasterKey::new([2; 32]);
        let m = a.mac(Purpose::IdNumber, b"079190001234").unwrap();
        assert_eq!(m, a.mac(Purpose::IdNumber, b"079190001234").unwrap());
        assert_ne!(m, b.mac(Purpose::IdNumber, b"079190001234").unwrap());
        assert_ne!(m, a.mac(Purpose::TokenReplies, b"079190001234").unwrap());
    }

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            sha256_b64(b"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
