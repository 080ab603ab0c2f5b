//! Secrets at rest (a merchant's WeChat Pay private key and API v3 key): sealed with
//! AES-256-GCM under the server's secrets key (`FENHONG_SECRETS_KEY`), a fresh nonce each.

use aes_gcm::{
    aead::{Aead, KeyInit},
    Aes256Gcm, Nonce,
};
use base64::{engine::general_purpose::STANDARD, Engine};

use crate::error::{AppError, AppResult};

/// What a sealed value starts with, so a later key scheme can be told apart.
const VERSION: &str = "v1:";

#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl SecretBox {
    /// From the base64 of exactly 32 bytes.
    pub fn from_base64(key: &str) -> anyhow::Result<Self> {
        let bytes = STANDARD
            .decode(key.trim())
            .map_err(|_| anyhow::anyhow!("FENHONG_SECRETS_KEY is not base64"))?;
        if bytes.len() != 32 {
            anyhow::bail!(
                "FENHONG_SECRETS_KEY must be 32 bytes (base64 of them); it is {}",
                bytes.len()
            );
        }
        Ok(Self {
            cipher: Aes256Gcm::new_from_slice(&bytes)
                .map_err(|_| anyhow::anyhow!("FENHONG_SECRETS_KEY is not an AES-256 key"))?,
        })
    }

    pub fn seal(&self, plaintext: &[u8]) -> String {
        let nonce: [u8; 12] = rand::random();
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .expect("AES-GCM encrypts any input of this size");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{VERSION}{}", STANDARD.encode(out))
    }

    /// The plaintext, or an internal error if the value was sealed under another key or
    /// altered.
    pub fn open(&self, sealed: &str) -> AppResult<Vec<u8>> {
        let unreadable = || {
            AppError::Internal(anyhow::anyhow!(
                "a sealed secret cannot be opened: FENHONG_SECRETS_KEY changed or the value was altered"
            ))
        };
        let bytes = sealed
            .strip_prefix(VERSION)
            .and_then(|b| STANDARD.decode(b).ok())
            .filter(|b| b.len() > 12)
            .ok_or_else(unreadable)?;
        let (nonce, ciphertext) = bytes.split_at(12);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| unreadable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_under_its_key_and_unaltered() {
        let key = STANDARD.encode([7u8; 32]);
        let secrets = SecretBox::from_base64(&key).unwrap();
        let sealed = secrets.seal(b"-----BEGIN PRIVATE KEY-----");
        assert!(!sealed.contains("PRIVATE"));
        assert_ne!(sealed, secrets.seal(b"-----BEGIN PRIVATE KEY-----"));
        assert_eq!(
            secrets.open(&sealed).unwrap(),
            b"-----BEGIN PRIVATE KEY-----"
        );
        let other = SecretBox::from_base64(&STANDARD.encode([8u8; 32])).unwrap();
        assert!(other.open(&sealed).is_err());
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert!(secrets.open(&String::from_utf8(altered).unwrap()).is_err());
        assert!(SecretBox::from_base64("c2hvcnQ=").is_err());
    }
}
