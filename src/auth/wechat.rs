//! WeChat mini-program login (`auth.code2Session`), or the development stand-in for it.

use std::time::Duration;

use serde::Deserialize;

use crate::{
    config::WechatConfig,
    error::{AppError, AppResult},
};

/// What a login code resolves to. The `session_key` stays on the server: it is never
/// returned to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WechatIdentity {
    pub openid: String,
    pub unionid: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Code2SessionReply {
    openid: Option<String>,
    unionid: Option<String>,
    #[allow(dead_code)] // read by WeChat's protocol; deliberately never leaves this module
    session_key: Option<String>,
    errcode: Option<i64>,
    errmsg: Option<String>,
}

#[derive(Clone)]
pub enum WechatLogin {
    /// No `WECHAT_APPID`: any code logs in, as openid `dev-<code>`.
    Development,
    Real {
        http: reqwest::Client,
        config: WechatConfig,
    },
}

impl WechatLogin {
    pub fn new(config: Option<WechatConfig>) -> anyhow::Result<Self> {
        Ok(match config {
            None => Self::Development,
            Some(config) => Self::Real {
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()?,
                config,
            },
        })
    }

    pub fn is_development(&self) -> bool {
        matches!(self, Self::Development)
    }

    pub async fn code_to_session(&self, code: &str) -> AppResult<WechatIdentity> {
        let code = code.trim();
        if code.is_empty() || code.len() > 128 {
            return Err(AppError::invalid("the login code is empty or too long"));
        }
        match self {
            Self::Development => {
                if !code
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                {
                    return Err(AppError::invalid(
                        "a development login code may hold only letters, digits, '-', '_' and '.'",
                    ));
                }
                Ok(WechatIdentity {
                    openid: format!("dev-{code}"),
                    unionid: None,
                })
            }
            Self::Real { http, config } => code2session(http, config, code).await,
        }
    }
}

async fn code2session(
    http: &reqwest::Client,
    config: &WechatConfig,
    code: &str,
) -> AppResult<WechatIdentity> {
    let url = format!(
        "{}/sns/jscode2session",
        config.api_base.trim_end_matches('/')
    );
    let response = http
        .get(url)
        .query(&[
            ("appid", config.appid.as_str()),
            ("secret", config.secret.as_str()),
            ("js_code", code),
            ("grant_type", "authorization_code"),
        ])
        .send()
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "WeChat code2Session unreachable");
            AppError::Unavailable("WeChat could not be reached; try again in a moment".into())
        })?;
    // WeChat answers with `text/plain` at times, so the body is parsed whatever its type.
    let body = response
        .bytes()
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("reading WeChat's reply: {e}")))?;
    let reply: Code2SessionReply = serde_json::from_slice(&body)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("WeChat's reply is not JSON: {e}")))?;
    match reply.errcode.unwrap_or(0) {
        0 => match reply.openid {
            Some(openid) if !openid.is_empty() => Ok(WechatIdentity {
                openid,
                unionid: reply.unionid.filter(|u| !u.is_empty()),
            }),
            _ => Err(AppError::Internal(anyhow::anyhow!(
                "WeChat's reply has no openid"
            ))),
        },
        40029 | 40163 => Err(AppError::invalid(
            "the WeChat login code is invalid or already used; call wx.login again",
        )),
        45011 => Err(AppError::RateLimited(
            "too many WeChat logins for this account; wait a minute and try again".into(),
        )),
        40226 => Err(AppError::forbidden(
            "WeChat has blocked this account as high-risk; it cannot log in",
        )),
        -1 => Err(AppError::Unavailable(
            "WeChat is busy; try again in a moment".into(),
        )),
        other => Err(AppError::Internal(anyhow::anyhow!(
            "WeChat code2Session error {other}: {}",
            reply.errmsg.unwrap_or_default()
        ))),
    }
}
