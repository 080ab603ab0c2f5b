//! AEAD_AES_256_GCM, the envelope of notification resources and downloaded certificates.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use crate::Error;

/// Decrypts a `resource` (解密回调报文): `api_v3_key` is the merchant's 32-byte API v3 key
/// (APIv3密钥), `nonce` the resource's 12-character `nonce`, `associated_data` its
/// `associated_data` (empty when absent), `ciphertext_b64` its base64 `ciphertext`
/// (ciphertext followed by the 16-byte tag).
pub fn decrypt_resource(
    api_v3_key: &[u8],
    nonce: &str,
    associated_data: &str,
    ciphertext_b64: &str,
) -> Result<Vec<u8>, Error> {
    let (cipher, nonce) = cipher(api_v3_key, nonce)?;
    let ciphertext = BASE64
        .decode(ciphertext_b64.trim())
        .map_err(|_| Error::Malformed("the ciphertext is not base64".into()))?;
    let payload = Payload {
        msg: &ciphertext,
        aad: associated_data.as_bytes(),
    };
    cipher.decrypt(nonce, payload).map_err(|_| Error::Decrypt)
}

/// Encrypts a resource the way WeChat does (for stand-ins and tests): base64 of ciphertext‖tag.
pub fn encrypt_resource(
    api_v3_key: &[u8],
    nonce: &str,
    associated_data: &str,
    plaintext: &[u8],
) -> Result<String, Error> {
    let (cipher, nonce) = cipher(api_v3_key, nonce)?;
    let payload = Payload {
        msg: plaintext,
        aad: associated_data.as_bytes(),
    };
    let sealed = cipher
        .encrypt(nonce, payload)
        .map_err(|_| Error::Malformed("the plaintext is too long for AES-GCM".into()))?;
    Ok(BASE64.encode(sealed))
}

fn cipher<'n>(
    api_v3_key: &[u8],
    nonce: &'n str,
) -> Result<(Aes256Gcm, &'n Nonce<aes_gcm::aead::consts::U12>), Error> {
    let cipher = Aes256Gcm::new_from_slice(api_v3_key).map_err(|_| {
        Error::InvalidKey(format!(
            "the API v3 key must be 32 bytes, not {}",
            api_v3_key.len()
        ))
    })?;
    if nonce.len() != 12 {
        return Err(Error::Malformed(format!(
            "the nonce must be 12 bytes, not {}",
            nonce.len()
        )));
    }
    Ok((cipher, Nonce::from_slice(nonce.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Published vector of the official Java SDK: wechatpay-apiv3/wechatpay-java,
    /// core/src/test/java/com/wechat/pay/java/core/cipher/AeadAesCipherTest.java (key
    /// `API_V3_KEY` from core/src/test/java/com/wechat/pay/java/core/model/TestConfig.java),
    /// commit 1dab7bec717989e4a4f006d2469c3eebe9eabba7.
    const JAVA_SDK_KEY: &[u8] = b"a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb";
    const JAVA_SDK_NONCE: &str = "uluk4a9R25RW";
    const JAVA_SDK_AD: &str = "associatedData";
    const JAVA_SDK_CIPHERTEXT: &str = "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=";

    #[test]
    fn decrypts_and_reproduces_the_java_sdk_vector() {
        let plain = decrypt_resource(
            JAVA_SDK_KEY,
            JAVA_SDK_NONCE,
            JAVA_SDK_AD,
            JAVA_SDK_CIPHERTEXT,
        );
        assert_eq!(plain.unwrap(), b"message");
        let sealed = encrypt_resource(JAVA_SDK_KEY, JAVA_SDK_NONCE, JAVA_SDK_AD, b"message");
        assert_eq!(sealed.unwrap(), JAVA_SDK_CIPHERTEXT);
    }

    #[test]
    fn wrong_key_nonce_data_or_tampering_fail_to_decrypt() {
        let d = |key: &[u8], nonce, ad, ct| decrypt_resource(key, nonce, ad, ct);
        let other_key = b"b7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb";
        assert_eq!(
            d(other_key, JAVA_SDK_NONCE, JAVA_SDK_AD, JAVA_SDK_CIPHERTEXT),
            Err(Error::Decrypt)
        );
        assert_eq!(
            d(
                JAVA_SDK_KEY,
                "bad-4a9R25RW",
                JAVA_SDK_AD,
                JAVA_SDK_CIPHERTEXT
            ),
            Err(Error::Decrypt)
        );
        assert_eq!(
            d(
                JAVA_SDK_KEY,
                JAVA_SDK_NONCE,
                "bad-associatedData",
                JAVA_SDK_CIPHERTEXT
            ),
            Err(Error::Decrypt)
        );
        assert_eq!(
            d(
                JAVA_SDK_KEY,
                JAVA_SDK_NONCE,
                JAVA_SDK_AD,
                "vlwSiIajGClcvcOYvOQ7+l+0PAbzzwI="
            ),
            Err(Error::Decrypt)
        );
        assert!(matches!(
            d(b"short", JAVA_SDK_NONCE, JAVA_SDK_AD, JAVA_SDK_CIPHERTEXT),
            Err(Error::InvalidKey(_))
        ));
        assert!(matches!(
            d(JAVA_SDK_KEY, "short", JAVA_SDK_AD, JAVA_SDK_CIPHERTEXT),
            Err(Error::Malformed(_))
        ));
        assert!(matches!(
            d(JAVA_SDK_KEY, JAVA_SDK_NONCE, JAVA_SDK_AD, "***"),
            Err(Error::Malformed(_))
        ));
    }
}
