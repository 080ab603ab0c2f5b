//! WeChat's server API for the mini-program, as the sender of subscribe messages uses it:
//! the access token from `stable_token` (cached, refreshed when WeChat says it is invalid or
//! expired) and `subscribe/send`.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::config::WechatConfig;

/// How a send ended, when it did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// `43101`: the shopper has not accepted (or used up) this template.
    #[error("the user has not accepted this template")]
    Refused,
    /// WeChat's system error or no answer: the same message may be sent again later.
    #[error("WeChat is unavailable: {0}")]
    Transient(String),
    /// Anything else WeChat refused (an argument, the template): sending again will not help.
    #[error("WeChat refused the message: {errcode} {errmsg}")]
    Rejected { errcode: i64, errmsg: String },
}

pub struct WechatServer {
    http: reqwest::Client,
    base: String,
    appid: String,
    secret: String,
    token: Mutex<Option<String>>,
}

impl WechatServer {
    /// `None` in development login mode (no `WECHAT_APPID`): nothing is sent.
    pub fn new(config: Option<&WechatConfig>) -> anyhow::Result<Option<Self>> {
        let Some(config) = config else {
            return Ok(None);
        };
        Ok(Some(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            base: config.api_base.trim_end_matches('/').to_owned(),
            appid: config.appid.clone(),
            secret: config.secret.clone(),
            token: Mutex::new(None),
        }))
    }

    async fn post(&self, url: &str, body: &Value) -> Result<Value, SendError> {
        let response = self
            .http
            .post(url)
            .json(body)
            .send()
            .await
            .map_err(|e| SendError::Transient(e.to_string()))?;
        let text = response
            .text()
            .await
            .map_err(|e| SendError::Transient(e.to_string()))?;
        serde_json::from_str(&text)
            .map_err(|_| SendError::Transient(format!("an answer that is not JSON: {text:.100}")))
    }

    /// The access token: the cached one, or a new one from `stable_token` (with
    /// `force_refresh` when the cached one was refused).
    async fn access_token(&self, refresh: bool) -> Result<String, SendError> {
        let mut cached = self.token.lock().await;
        if let (Some(token), false) = (cached.as_ref(), refresh) {
            return Ok(token.clone());
        }
        let answer = self
            .post(
                &format!("{}/cgi-bin/stable_token", self.base),
                &json!({
                    "grant_type": "client_credential",
                    "appid": self.appid,
                    "secret": self.secret,
                    "force_refresh": refresh,
                }),
            )
            .await?;
        match answer["access_token"].as_str() {
            Some(token) => {
                *cached = Some(token.to_owned());
                Ok(token.to_owned())
            }
            None => Err(errcode_of(&answer)),
        }
    }

    /// `POST /cgi-bin/message/subscribe/send`. A token WeChat calls invalid (`40001`) or
    /// expired (`42001`) is refreshed and the message sent once more.
    pub async fn send_subscribe(&self, message: &Value) -> Result<(), SendError> {
        let mut refresh = false;
        loop {
            let token = self.access_token(refresh).await?;
            let answer = self
                .post(
                    &format!(
                        "{}/cgi-bin/message/subscribe/send?access_token={token}",
                        self.base
                    ),
                    message,
                )
                .await?;
            match answer["errcode"].as_i64().unwrap_or(0) {
                0 => return Ok(()),
                40001 | 42001 if !refresh => refresh = true,
                _ => return Err(errcode_of(&answer)),
            }
        }
    }
}

fn errcode_of(answer: &Value) -> SendError {
    let errcode = answer["errcode"].as_i64().unwrap_or(-1);
    let errmsg = answer["errmsg"].as_str().unwrap_or_default().to_owned();
    match errcode {
        43101 => SendError::Refused,
        -1 | 45009 | 45011 => SendError::Transient(format!("{errcode} {errmsg}")),
        _ => SendError::Rejected { errcode, errmsg },
    }
}
