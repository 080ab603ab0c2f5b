//! Scenes: what a printed mini-program code carries (RULES.md "Referral binding").
//!
//! A scene is `<kind><nonce><mac>`: one letter (`s` a store's code, `r` a member's referral
//! code), 11 base62 characters of random nonce and 11 of HMAC-SHA256 over kind and nonce.
//! 23 characters of `[0-9A-Za-z]`, inside WeChat's 32-character limit and alphabet. A forged
//! or altered scene fails the MAC before anything is looked up.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const SCENE_MAX_LEN: usize = 32;
const PART_LEN: usize = 11;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SceneKind {
    Store,
    Referral,
}

impl SceneKind {
    fn letter(self) -> char {
        match self {
            Self::Store => 's',
            Self::Referral => 'r',
        }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SceneError {
    #[error("this code is not a Fenhong code")]
    Malformed,
    #[error("this code has been altered or forged")]
    BadSignature,
}

/// Mints and checks scenes with a server-side key.
#[derive(Clone)]
pub struct SceneSigner {
    key: [u8; 32],
}

impl SceneSigner {
    pub fn new(secret: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"fenhong scene key\0");
        hasher.update(secret);
        Self {
            key: hasher.finalize().into(),
        }
    }

    pub fn mint(&self, kind: SceneKind) -> String {
        self.mint_with_nonce(kind, rand::thread_rng().next_u64())
    }

    pub fn mint_with_nonce(&self, kind: SceneKind, nonce: u64) -> String {
        let mut scene = String::with_capacity(1 + 2 * PART_LEN);
        scene.push(kind.letter());
        scene.push_str(&base62(nonce));
        let mac = self.mac(&scene);
        scene.push_str(&mac);
        scene
    }

    pub fn verify(&self, scene: &str) -> Result<SceneKind, SceneError> {
        if scene.len() != 1 + 2 * PART_LEN || !scene.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(SceneError::Malformed);
        }
        let kind = match scene.as_bytes()[0] {
            b's' => SceneKind::Store,
            b'r' => SceneKind::Referral,
            _ => return Err(SceneError::Malformed),
        };
        let (signed, mac) = scene.split_at(1 + PART_LEN);
        let expected = self.mac(signed);
        // Compare without an early exit, so timing says nothing about the right MAC.
        let diff = expected
            .bytes()
            .zip(mac.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff == 0 {
            Ok(kind)
        } else {
            Err(SceneError::BadSignature)
        }
    }

    fn mac(&self, signed: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(signed.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        base62(u64::from_be_bytes(first))
    }
}

/// `n` in base62, zero-padded to 11 characters (62^11 > 2^64).
fn base62(mut n: u64) -> String {
    let mut out = [b'0'; PART_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).expect("base62 is ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    const WECHAT_ALPHABET: &str =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$&'()*+,/:;=?@-._~";

    #[test]
    fn minted_scenes_fit_wechat_and_verify() {
        let signer = SceneSigner::new(b"secret");
        for kind in [SceneKind::Store, SceneKind::Referral] {
            for nonce in [0, 1, u64::MAX, 1234567890] {
                let scene = signer.mint_with_nonce(kind, nonce);
                assert!(scene.len() <= SCENE_MAX_LEN);
                assert!(scene.chars().all(|c| WECHAT_ALPHABET.contains(c)));
                assert_eq!(signer.verify(&scene), Ok(kind));
            }
        }
    }

    #[test]
    fn any_altered_character_is_rejected() {
        let signer = SceneSigner::new(b"secret");
        let scene = signer.mint_with_nonce(SceneKind::Store, 42);
        for i in 0..scene.len() {
            let mut bytes = scene.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap();
            assert!(signer.verify(&altered).is_err(), "accepted {altered}");
        }
    }

    #[test]
    fn another_key_rejects_the_scene() {
        let scene = SceneSigner::new(b"one").mint(SceneKind::Referral);
        assert_eq!(
            SceneSigner::new(b"two").verify(&scene),
            Err(SceneError::BadSignature)
        );
    }

    #[test]
    fn garbage_is_malformed() {
        let signer = SceneSigner::new(b"secret");
        for bad in [
            "",
            "s",
            "x1234567890A1234567890A",
            "s123",
            "s1234567890.1234567890A",
        ] {
            assert_eq!(signer.verify(bad), Err(SceneError::Malformed), "{bad}");
        }
    }
}
