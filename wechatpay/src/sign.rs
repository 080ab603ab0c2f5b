//! SHA256withRSA signatures: requests (`Authorization`), responses and notifications
//! (`Wechatpay-Signature`), and the mini-program's `wx.requestPayment`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use rand::distributions::{Alphanumeric, DistString};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, AUTH_SCHEME, MAX_CLOCK_SKEW_SECS};

/// Base64 of the SHA256withRSA (RSASSA-PKCS1-v1_5) signature of `message`'s UTF-8 bytes:
/// WeChat's 签名值. Deterministic: the same key and message give the same string.
pub fn sign(key: &RsaPrivateKey, message: &str) -> String {
    let digest = Sha256::digest(message.as_bytes());
    // Blinding (the rng) hides the private key from timing; the signature does not depend on it.
    let signature = key
        .sign_with_rng(
            &mut rand::thread_rng(),
            Pkcs1v15Sign::new::<Sha256>(),
            &digest,
        )
        .expect("a validated RSA 2048 key signs a SHA-256 digest");
    BASE64.encode(signature)
}

/// Checks a base64 SHA256withRSA signature (验签) of `message` against `key`.
pub fn verify(key: &RsaPublicKey, message: &str, signature_b64: &str) -> Result<(), Error> {
    let signature = BASE64
        .decode(signature_b64.trim())
        .map_err(|_| Error::Malformed("the signature is not base64".into()))?;
    let digest = Sha256::digest(message.as_bytes());
    key.verify(Pkcs1v15Sign::new::<Sha256>(), &digest, &signature)
        .map_err(|_| Error::BadSignature)
}

/// The message a merchant signs for a request (签名串): `METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n`.
/// `url` is the absolute path with its query, as sent (e.g. `/v3/pay/transactions/jsapi`,
/// `/v3/pay/transactions/out-trade-no/X?mchid=1230000109`); `body` is empty for GET.
pub fn request_message(method: &str, url: &str, timestamp: i64, nonce: &str, body: &str) -> String {
    format!("{method}\n{url}\n{timestamp}\n{nonce}\n{body}\n")
}

/// The `Authorization` header of a merchant's request, in the official SDKs' exact form
/// (wechatpay-go `HeaderAuthorizationFormat`, wechatpay-java `WechatPay2Credential`):
/// `WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",timestamp="…",serial_no="…",signature="…"`.
/// `serial_no` is the serial of the merchant's API certificate (商户API证书序列号).
#[allow(clippy::too_many_arguments)]
pub fn authorization(
    mchid: &str,
    serial_no: &str,
    key: &RsaPrivateKey,
    method: &str,
    url: &str,
    timestamp: i64,
    nonce: &str,
    body: &str,
) -> String {
    let signature = sign(key, &request_message(method, url, timestamp, nonce, body));
    format!(
        "{AUTH_SCHEME} mchid=\"{mchid}\",nonce_str=\"{nonce}\",timestamp=\"{timestamp}\",\
         serial_no=\"{serial_no}\",signature=\"{signature}\""
    )
}

/// The parts of a merchant's `Authorization` header (认证信息), as WeChat reads them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationHeader {
    /// 商户号.
    pub mchid: String,
    /// Serial of the merchant API certificate whose key signed (商户API证书序列号).
    pub serial_no: String,
    /// `nonce_str`: the request's random string.
    pub nonce: String,
    /// Seconds since the epoch when the merchant signed.
    pub timestamp: i64,
    /// Base64 SHA256withRSA over [`request_message`].
    pub signature: String,
}

/// Reads an `Authorization` header back into its parts. The five parameters may come in any
/// order; each must appear exactly once, quoted; nothing else is allowed.
pub fn parse_authorization(value: &str) -> Result<AuthorizationHeader, Error> {
    let malformed = |why: &str| Error::Malformed(format!("Authorization header: {why}"));
    let params = value
        .trim()
        .strip_prefix(AUTH_SCHEME)
        .and_then(|rest| rest.strip_prefix(' '))
        .ok_or_else(|| malformed(&format!("the scheme is not {AUTH_SCHEME}")))?;
    let (mut mchid, mut serial_no, mut nonce, mut timestamp, mut signature) =
        (None, None, None, None, None);
    for param in params.split(',') {
        let (name, quoted) = param
            .trim()
            .split_once('=')
            .ok_or_else(|| malformed("a parameter is not name=\"value\""))?;
        let value = quoted
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .filter(|v| !v.contains('"'))
            .ok_or_else(|| malformed(&format!("{name} is not quoted")))?;
        let slot = match name {
            "mchid" => &mut mchid,
            "serial_no" => &mut serial_no,
            "nonce_str" => &mut nonce,
            "timestamp" => &mut timestamp,
            "signature" => &mut signature,
            other => return Err(malformed(&format!("unknown parameter {other}"))),
        };
        if slot.replace(value.to_owned()).is_some() {
            return Err(malformed(&format!("{name} appears twice")));
        }
    }
    let need = |slot: Option<String>, name: &str| {
        slot.ok_or_else(|| malformed(&format!("{name} is missing")))
    };
    let timestamp = need(timestamp, "timestamp")?;
    Ok(AuthorizationHeader {
        mchid: need(mchid, "mchid")?,
        serial_no: need(serial_no, "serial_no")?,
        nonce: need(nonce, "nonce_str")?,
        timestamp: timestamp
            .parse()
            .map_err(|_| malformed("timestamp is not a number of seconds"))?,
        signature: need(signature, "signature")?,
    })
}

/// The message WeChat signs for a response or a notification (应答/回调签名串):
/// `TIMESTAMP\nNONCE\nBODY\n`, from the `Wechatpay-Timestamp` and `Wechatpay-Nonce` headers and
/// the body exactly as received (empty for 204).
pub fn response_message(timestamp: i64, nonce: &str, body: &str) -> String {
    format!("{timestamp}\n{nonce}\n{body}\n")
}

/// Checks `Wechatpay-Signature` of a response or notification with WeChat Pay's public key.
/// Callers also check `Wechatpay-Serial` names that key and [`within_clock_skew`].
pub fn verify_response(
    key: &RsaPublicKey,
    timestamp: i64,
    nonce: &str,
    body: &str,
    signature_b64: &str,
) -> Result<(), Error> {
    verify(
        key,
        &response_message(timestamp, nonce, body),
        signature_b64,
    )
}

/// Whether a signed timestamp is within [`MAX_CLOCK_SKEW_SECS`] of `now` (both in seconds), the
/// replay check the official SDKs make on responses and notifications.
pub fn within_clock_skew(timestamp: i64, now: i64) -> bool {
    timestamp.abs_diff(now) < MAX_CLOCK_SKEW_SECS.unsigned_abs()
}

/// The parameters of `wx.requestPayment` in a mini-program (小程序调起支付), API v3 form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestPayment {
    /// Seconds since the epoch, as a string.
    pub time_stamp: String,
    /// Random string, at most 32 characters.
    pub nonce_str: String,
    /// `prepay_id=…` from the JSAPI order.
    pub package: String,
    /// `RSA` in API v3.
    pub sign_type: String,
    /// Base64 SHA256withRSA of `appId\ntimeStamp\nnonceStr\npackage\n` with the merchant key.
    pub pay_sign: String,
}

/// Builds and signs the `wx.requestPayment` parameters for a JSAPI order's `prepay_id`.
pub fn request_payment(
    appid: &str,
    prepay_id: &str,
    key: &RsaPrivateKey,
    timestamp: i64,
    nonce: &str,
) -> RequestPayment {
    let package = format!("prepay_id={prepay_id}");
    let pay_sign = sign(key, &format!("{appid}\n{timestamp}\n{nonce}\n{package}\n"));
    RequestPayment {
        time_stamp: timestamp.to_string(),
        nonce_str: nonce.to_owned(),
        package,
        sign_type: "RSA".to_owned(),
        pay_sign,
    }
}

/// A fresh random string (随机串) of 32 ASCII letters and digits, from the OS-seeded CSPRNG.
pub fn nonce() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_private_key, parse_public_key, test_keys};

    fn merchant() -> (RsaPrivateKey, RsaPublicKey) {
        let key = parse_private_key(test_keys::MERCHANT_PRIVATE_KEY_PEM).unwrap();
        let public = parse_public_key(test_keys::MERCHANT_PUBLIC_KEY_PEM).unwrap();
        (key, public)
    }

    #[test]
    fn sign_verify_round_trip_and_tampering() {
        let (key, public) = merchant();
        let message = request_message(
            "POST",
            "/v3/pay/transactions/jsapi",
            1,
            "n",
            "{\"a\":\"分\"}",
        );
        let signature = sign(&key, &message);
        assert_eq!(
            signature,
            sign(&key, &message),
            "PKCS#1 v1.5 is deterministic"
        );
        assert_eq!(verify(&public, &message, &signature), Ok(()));
        assert_eq!(
            verify(&public, &format!("{message} "), &signature),
            Err(Error::BadSignature)
        );
        let other = parse_public_key(test_keys::PLATFORM_PUBLIC_KEY_PEM).unwrap();
        assert_eq!(
            verify(&other, &message, &signature),
            Err(Error::BadSignature)
        );
        assert!(matches!(
            verify(&public, &message, "not base64!"),
            Err(Error::Malformed(_))
        ));
    }

    /// The header is byte for byte what wechatpay-go builds with `HeaderAuthorizationFormat`
    /// `"%s mchid=\"%s\",nonce_str=\"%s\",timestamp=\"%d\",serial_no=\"%s\",signature=\"%s\""`
    /// (core/consts/const.go) and wechatpay-java's `WechatPay2Credential.getToken`; the values are
    /// the example of WeChat's signing guide (签名生成).
    #[test]
    fn authorization_matches_the_official_sdk_format() {
        let (key, public) = merchant();
        let (mchid, serial) = ("1900009191", "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C");
        let (nonce, timestamp) = ("593BEC0C930BF1AFEB40B4A08C8FB242", 1554208460);
        let header = authorization(
            mchid,
            serial,
            &key,
            "GET",
            "/v3/certificates",
            timestamp,
            nonce,
            "",
        );

        let message = "GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n";
        let signature = sign(&key, message);
        let expected = format!(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"1900009191\",nonce_str=\"593BEC0C930BF1AFEB40B4A08C8FB242\",\
             timestamp=\"1554208460\",serial_no=\"1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C\",signature=\"{signature}\""
        );
        assert_eq!(header, expected);

        let parsed = parse_authorization(&header).unwrap();
        assert_eq!(
            parsed,
            AuthorizationHeader {
                mchid: mchid.into(),
                serial_no: serial.into(),
                nonce: nonce.into(),
                timestamp,
                signature: signature.clone(),
            }
        );
        let again = request_message(
            "GET",
            "/v3/certificates",
            parsed.timestamp,
            &parsed.nonce,
            "",
        );
        assert_eq!(verify(&public, &again, &parsed.signature), Ok(()));
    }

    #[test]
    fn parse_authorization_accepts_any_order_and_refuses_bad_headers() {
        let docs_order = "WECHATPAY2-SHA256-RSA2048 mchid=\"1\",nonce_str=\"n\",signature=\"s\",timestamp=\"2\",serial_no=\"x\"";
        let parsed = parse_authorization(docs_order).unwrap();
        assert_eq!(
            (
                parsed.mchid.as_str(),
                parsed.timestamp,
                parsed.serial_no.as_str()
            ),
            ("1", 2, "x")
        );
        for bad in [
            "Bearer abc",
            "WECHATPAY2-SHA256-RSA2048 mchid=\"1\",nonce_str=\"n\",signature=\"s\",timestamp=\"2\"",
            "WECHATPAY2-SHA256-RSA2048 mchid=\"1\",mchid=\"1\",nonce_str=\"n\",signature=\"s\",timestamp=\"2\",serial_no=\"x\"",
            "WECHATPAY2-SHA256-RSA2048 mchid=1,nonce_str=\"n\",signature=\"s\",timestamp=\"2\",serial_no=\"x\"",
            "WECHATPAY2-SHA256-RSA2048 mchid=\"1\",nonce_str=\"n\",signature=\"s\",timestamp=\"soon\",serial_no=\"x\"",
            "WECHATPAY2-SHA256-RSA2048 mchid=\"1\",nonce_str=\"n\",signature=\"s\",timestamp=\"2\",serial_no=\"x\",extra=\"y\"",
        ] {
            assert!(matches!(parse_authorization(bad), Err(Error::Malformed(_))), "{bad}");
        }
    }

    #[test]
    fn response_signature_covers_timestamp_nonce_and_body() {
        let key = parse_private_key(test_keys::PLATFORM_PRIVATE_KEY_PEM).unwrap();
        let public = key.to_public_key();
        let body = "{\"prepay_id\":\"wx1\"}";
        let signature = sign(&key, &response_message(1700000000, "abc", body));
        assert_eq!(
            verify_response(&public, 1700000000, "abc", body, &signature),
            Ok(())
        );
        assert!(verify_response(&public, 1700000001, "abc", body, &signature).is_err());
        assert!(verify_response(&public, 1700000000, "abd", body, &signature).is_err());
        assert!(verify_response(&public, 1700000000, "abc", "{}", &signature).is_err());
        assert!(within_clock_skew(1000, 1000 + 299) && within_clock_skew(1000 + 299, 1000));
        assert!(!within_clock_skew(1000, 1000 + 300));
    }

    #[test]
    fn request_payment_signs_the_four_lines() {
        let (key, public) = merchant();
        let pay = request_payment(
            "wxd678efh567hg6787",
            "wx2017",
            &key,
            1414561699,
            "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
        );
        assert_eq!(pay.package, "prepay_id=wx2017");
        assert_eq!(
            (pay.sign_type.as_str(), pay.time_stamp.as_str()),
            ("RSA", "1414561699")
        );
        let message =
            "wxd678efh567hg6787\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nprepay_id=wx2017\n";
        assert_eq!(verify(&public, message, &pay.pay_sign), Ok(()));
        let json = serde_json::to_value(&pay).unwrap();
        let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 5);
        for k in ["timeStamp", "nonceStr", "package", "signType", "paySign"] {
            assert!(json.get(k).is_some(), "{k}");
        }
    }

    #[test]
    fn nonce_is_32_alphanumerics_and_fresh() {
        let (a, b) = (nonce(), nonce());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
