//! RSA keys in the PEM forms WeChat Pay hands out.

use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};

use crate::Error;

/// WeChat Pay v3 keys are RSA 2048 (the scheme is `…-RSA2048`); smaller keys are refused.
const MIN_BITS: usize = 2048;

/// The merchant's API private key (商户API私钥, `apiclient_key.pem`): PKCS#8
/// `BEGIN PRIVATE KEY`, as WeChat issues it, or PKCS#1 `BEGIN RSA PRIVATE KEY`.
pub fn parse_private_key(pem: &str) -> Result<RsaPrivateKey, Error> {
    let pem = pem.trim();
    let key = if pem.starts_with("-----BEGIN PRIVATE KEY-----") {
        RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| invalid("PKCS#8 private key", e))?
    } else if pem.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
        RsaPrivateKey::from_pkcs1_pem(pem).map_err(|e| invalid("PKCS#1 private key", e))?
    } else {
        return Err(Error::InvalidKey(
            "expected a PEM private key (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY)".into(),
        ));
    };
    key.validate().map_err(|e| invalid("RSA private key", e))?;
    check_size(key.size())?;
    Ok(key)
}

/// WeChat Pay's public key (微信支付公钥, `pub_key.pem`) or any RSA public key: SPKI
/// `BEGIN PUBLIC KEY` or PKCS#1 `BEGIN RSA PUBLIC KEY`. (Platform *certificates* are not read.)
pub fn parse_public_key(pem: &str) -> Result<RsaPublicKey, Error> {
    let pem = pem.trim();
    let key = if pem.starts_with("-----BEGIN PUBLIC KEY-----") {
        RsaPublicKey::from_public_key_pem(pem).map_err(|e| invalid("SPKI public key", e))?
    } else if pem.starts_with("-----BEGIN RSA PUBLIC KEY-----") {
        RsaPublicKey::from_pkcs1_pem(pem).map_err(|e| invalid("PKCS#1 public key", e))?
    } else {
        return Err(Error::InvalidKey(
            "expected a PEM public key (BEGIN PUBLIC KEY or BEGIN RSA PUBLIC KEY)".into(),
        ));
    };
    check_size(key.size())?;
    Ok(key)
}

/// A public key as SPKI PEM (`BEGIN PUBLIC KEY`), the form of WeChat's `pub_key.pem`.
pub fn public_key_pem(key: &RsaPublicKey) -> String {
    key.to_public_key_pem(LineEnding::LF)
        .expect("an RSA public key always encodes as SPKI")
}

fn check_size(bytes: usize) -> Result<(), Error> {
    if bytes * 8 < MIN_BITS {
        return Err(Error::InvalidKey(format!(
            "the key has {} bits; WeChat Pay needs at least {MIN_BITS}",
            bytes * 8
        )));
    }
    Ok(())
}

fn invalid(what: &str, e: impl std::fmt::Display) -> Error {
    Error::InvalidKey(format!("not a valid {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_keys;

    #[test]
    fn pkcs8_and_pkcs1_forms_are_the_same_key() {
        let pkcs8 = parse_private_key(test_keys::MERCHANT_PRIVATE_KEY_PEM).unwrap();
        let pkcs1 = parse_private_key(include_str!("../testdata/merchant_key_pkcs1.pem")).unwrap();
        assert_eq!(pkcs8, pkcs1);
        assert_eq!(pkcs8.size() * 8, 2048);
    }

    #[test]
    fn spki_and_pkcs1_public_keys_parse_and_spki_round_trips() {
        let spki = parse_public_key(test_keys::PLATFORM_PUBLIC_KEY_PEM).unwrap();
        let pkcs1 = parse_public_key(include_str!("../testdata/platform_pub_pkcs1.pem")).unwrap();
        assert_eq!(spki, pkcs1);
        assert_eq!(
            public_key_pem(&spki).trim(),
            test_keys::PLATFORM_PUBLIC_KEY_PEM.trim()
        );
        let private = parse_private_key(test_keys::PLATFORM_PRIVATE_KEY_PEM).unwrap();
        assert_eq!(private.to_public_key(), spki);
    }

    #[test]
    fn refuses_small_keys_other_pem_and_garbage() {
        let small = parse_private_key(include_str!("../testdata/small_key.pem"));
        assert!(matches!(small, Err(Error::InvalidKey(m)) if m.contains("1024 bits")));
        assert!(parse_private_key(test_keys::MERCHANT_PUBLIC_KEY_PEM).is_err());
        assert!(parse_public_key(test_keys::MERCHANT_PRIVATE_KEY_PEM).is_err());
        let broken = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            parse_private_key(broken),
            Err(Error::InvalidKey(_))
        ));
    }
}
