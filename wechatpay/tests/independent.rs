//! Checks against an independent implementation: Python 3's `cryptography` package (OpenSSL
//! underneath). CI must provide `python3` with `cryptography` (`pip install cryptography`, or
//! Debian/Ubuntu `apt-get install python3-cryptography`); without it these tests FAIL, on purpose.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use wechatpay::*;

// The fixed test keys (also `wechatpay::test_keys` under the `standin` feature).
const MERCHANT_PRIVATE_KEY_PEM: &str = include_str!("../testdata/merchant_key.pem");
const MERCHANT_PUBLIC_KEY_PEM: &str = include_str!("../testdata/merchant_pub.pem");

const NEEDS: &str = "these tests need `python3` with the `cryptography` package \
                     (CI: `pip install cryptography` or `apt-get install python3-cryptography`)";

/// Runs a Python script with the given files as `sys.argv[1:]`; returns its trimmed stdout.
fn python(script: &str, files: &[&PathBuf]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(format!("import sys, base64\n{script}"))
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): {NEEDS}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("ModuleNotFoundError") || stderr.contains("ImportError") {
        panic!("python3 cannot import `cryptography`: {NEEDS}\n{stderr}");
    }
    assert!(out.status.success(), "python3 failed: {stderr}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Writes `contents` to a fresh file under Cargo's per-test temporary directory.
fn file(name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("wechatpay-{}-{n}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

const PY_SIGN: &str = "
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
key = serialization.load_pem_private_key(open(sys.argv[1], 'rb').read(), password=None)
print(base64.b64encode(key.sign(open(sys.argv[2], 'rb').read(), padding.PKCS1v15(), hashes.SHA256())).decode())";

const PY_VERIFY: &str = "
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
key = serialization.load_pem_public_key(open(sys.argv[1], 'rb').read())
sig = base64.b64decode(open(sys.argv[3], 'rb').read())
key.verify(sig, open(sys.argv[2], 'rb').read(), padding.PKCS1v15(), hashes.SHA256())
print('verified')";

#[test]
fn signatures_are_identical_to_pythons_and_verify_both_ways() {
    let key = parse_private_key(MERCHANT_PRIVATE_KEY_PEM).unwrap();
    let public = parse_public_key(MERCHANT_PUBLIC_KEY_PEM).unwrap();
    let body = r#"{"appid":"wxd678efh567hg6787","mchid":"1230000109","description":"Image形象店-深圳腾大-QQ公仔","out_trade_no":"1217752501201407033233368018","notify_url":"https://www.weixin.qq.com/wxpay/pay.php","amount":{"total":1,"currency":"CNY"},"payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}"#;
    let message = request_message(
        "POST",
        "/v3/pay/transactions/jsapi",
        1554208460,
        "593BEC0C930BF1AFEB40B4A08C8FB242",
        body,
    );

    let ours = sign(&key, &message);
    let key_file = file("key.pem", MERCHANT_PRIVATE_KEY_PEM);
    let message_file = file("message.txt", &message);
    let theirs = python(PY_SIGN, &[&key_file, &message_file]);
    assert_eq!(
        ours, theirs,
        "PKCS#1 v1.5 SHA-256 is deterministic: the base64 must be identical"
    );

    // Python's signature verifies here, and ours verifies in Python with the SPKI we export.
    assert_eq!(verify(&public, &message, &theirs), Ok(()));
    let spki = file("pub.pem", public_key_pem(&public));
    let ours_file = file("sig.txt", &ours);
    assert_eq!(
        python(PY_VERIFY, &[&spki, &message_file, &ours_file]),
        "verified"
    );
}

#[test]
fn pay_sign_verifies_in_python_over_the_documented_message() {
    let key = parse_private_key(MERCHANT_PRIVATE_KEY_PEM).unwrap();
    let pay = request_payment(
        "wxd678efh567hg6787",
        "wx201410272009395522657a690389285100",
        &key,
        1414561699,
        "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
    );
    // Built independently from the mini-program payment guide: appId, timeStamp, nonceStr,
    // package, each followed by \n.
    let documented = "wxd678efh567hg6787\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nprepay_id=wx201410272009395522657a690389285100\n";
    let spki = file("pub.pem", MERCHANT_PUBLIC_KEY_PEM);
    let message = file("paysign.txt", documented);
    let signature = file("paysign.sig", &pay.pay_sign);
    assert_eq!(
        python(PY_VERIFY, &[&spki, &message, &signature]),
        "verified"
    );
}

#[test]
fn aes_256_gcm_agrees_with_python_both_ways() {
    let api_v3_key = b"Fenhong0test0APIv3key0000000032b";
    let nonce = "Mk3qT9zPw2Lx";
    let associated_data = "transaction";
    let plaintext =
        r#"{"out_trade_no":"FH20240101","trade_state":"SUCCESS","trade_state_desc":"支付成功"}"#;
    let [key_file, pt_file] = [file("aes.key", api_v3_key), file("pt.json", plaintext)];

    let script = format!(
        "from cryptography.hazmat.primitives.ciphers.aead import AESGCM
aes = AESGCM(open(sys.argv[1], 'rb').read())
print(base64.b64encode(aes.encrypt(b'{nonce}', open(sys.argv[2], 'rb').read(), b'{associated_data}')).decode())"
    );
    let theirs = python(&script, &[&key_file, &pt_file]);
    let decrypted = decrypt_resource(api_v3_key, nonce, associated_data, &theirs).unwrap();
    assert_eq!(String::from_utf8(decrypted).unwrap(), plaintext);

    let ours = encrypt_resource(api_v3_key, nonce, associated_data, plaintext.as_bytes()).unwrap();
    assert_eq!(
        ours, theirs,
        "GCM with the same key and nonce is deterministic"
    );
    let ct_file = file("ct.txt", &ours);
    let script = format!(
        "from cryptography.hazmat.primitives.ciphers.aead import AESGCM
aes = AESGCM(open(sys.argv[1], 'rb').read())
sys.stdout.buffer.write(aes.decrypt(b'{nonce}', base64.b64decode(open(sys.argv[2], 'rb').read()), b'{associated_data}'))"
    );
    assert_eq!(python(&script, &[&key_file, &ct_file]), plaintext);
}
