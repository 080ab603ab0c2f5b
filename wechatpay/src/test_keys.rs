//! Fixed RSA 2048 keys for tests and the stand-in. PUBLISHED IN THIS REPOSITORY: never use them
//! with the real WeChat Pay. Fixed keys keep tests fast (no key generation) and reproducible.

/// The merchant's API private key (PKCS#8, like `apiclient_key.pem`).
pub const MERCHANT_PRIVATE_KEY_PEM: &str = include_str!("../testdata/merchant_key.pem");
/// The public half of [`MERCHANT_PRIVATE_KEY_PEM`] (SPKI), what WeChat holds for the merchant.
pub const MERCHANT_PUBLIC_KEY_PEM: &str = include_str!("../testdata/merchant_pub.pem");
/// The stand-in's WeChat Pay signing key (PKCS#8).
pub const PLATFORM_PRIVATE_KEY_PEM: &str = include_str!("../testdata/platform_key.pem");
/// The public half of [`PLATFORM_PRIVATE_KEY_PEM`] (SPKI), like WeChat's `pub_key.pem`.
pub const PLATFORM_PUBLIC_KEY_PEM: &str = include_str!("../testdata/platform_pub.pem");
