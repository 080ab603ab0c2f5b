//! Every setting, read from the environment, with defaults that run on a laptop.

use std::{env, time::Duration};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://fenhong.db?mode=rwc";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_WECHAT_API_BASE: &str = "https://api.weixin.qq.com";
pub const DEFAULT_WECHATPAY_API_BASE: &str = "https://api.mch.weixin.qq.com";
/// The mini-program AppID payments name in development mode, when `WECHAT_APPID` is unset.
pub const DEVELOPMENT_APPID: &str = "wxdevelopment000000";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Clone, Debug)]
pub struct WechatConfig {
    pub appid: String,
    pub secret: String,
    pub api_base: String,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub environment: Environment,
    pub database_url: String,
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel (instances sharing live state share it).
    pub redis_prefix: String,
    pub bind: String,
    /// Base of the links printed in QR codes (what a phone opens when it scans one).
    pub public_url: String,
    pub admin_password: Option<String>,
    pub jwt_secret: Option<String>,
    /// `None`: development login mode (any code logs in as `dev-<code>`).
    pub wechat: Option<WechatConfig>,
    pub token_ttl: Duration,
    /// How long a staff account read to check a token may be used for the next checks: a
    /// change made through another instance applies here within it (at once through this one).
    pub staff_cache: Duration,
    pub max_body_bytes: usize,
    pub max_query_depth: usize,
    /// The most a query may cost: lists count as their page size times their selection.
    pub max_query_cost: u64,
    /// How often auto-completion and point expiry run.
    pub sweep_interval: Duration,
    /// How often an open subscription connection is pinged.
    pub ws_keepalive: Duration,
    /// How long a subscription connection may wait before sending `connection_init`.
    pub ws_init_timeout: Duration,
    /// The most live subscriptions one connection may hold.
    pub ws_max_subscriptions: usize,
    /// How long one GraphQL request may run before it is answered with `UNAVAILABLE`.
    pub request_timeout: Duration,
    /// The largest GraphQL response body; a larger one is refused with `INVALID_INPUT`.
    pub max_response_bytes: usize,
    /// `staffLogin` attempts a minute per username and per client address.
    pub login_attempts_per_minute: u32,
    /// The header a trusted reverse proxy puts the client's address in (its last entry is
    /// used, e.g. `X-Forwarded-For`); unset: the TCP peer's address.
    pub client_ip_header: Option<String>,
    /// Base64 of the 32-byte key that seals merchants' WeChat Pay secrets at rest; a
    /// development database generates and keeps its own.
    pub secrets_key: Option<String>,
    pub wechatpay_api_base: String,
    /// Whether a merchant's orders that arrive together settle in one transaction.
    pub group_commit: bool,
    /// The most orders one group commit settles.
    pub group_commit_max: usize,
    /// Threads that serve requests (`FENHONG_WORKERS`); unset: [`Config::request_workers`].
    pub workers: Option<usize>,
    /// Threads that serve open subscription connections (`FENHONG_LIVE_WORKERS`); unset: one
    /// per core.
    pub live_workers: Option<usize>,
    /// Development only: the server's clock starts at this instant and runs on from there
    /// (to try the console at another time of day; refused in production).
    pub clock_start: Option<DateTime<Utc>>,
    /// Development only: serve the console's files from this directory instead of the copy
    /// embedded in the binary (to work on the console without rebuilding).
    pub console_dir: Option<std::path::PathBuf>,
}

/// A thread count: unset, or a whole number from 1 to 1024.
fn threads(value: Option<String>, name: &str) -> anyhow::Result<Option<usize>> {
    let Some(value) = value else { return Ok(None) };
    match value.trim().parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(Some(n)),
        _ => bail!("{name} must be a number of threads from 1 to 1024, not {value:?}"),
    }
}

impl Config {
    /// Reads the configuration of API.md "Running it" (plus the limits, which have defaults).
    pub fn from_env() -> anyhow::Result<Self> {
        let var = |name: &str| env::var(name).ok().filter(|v| !v.trim().is_empty());
        let environment = match var("FENHONG_ENV").as_deref() {
            None | Some("development") | Some("dev") => Environment::Development,
            Some("production") | Some("prod") => Environment::Production,
            Some(other) => bail!("FENHONG_ENV must be development or production, not {other:?}"),
        };
        let bind = var("FENHONG_BIND").unwrap_or_else(|| DEFAULT_BIND.into());
        let wechat = match var("WECHAT_APPID") {
            Some(appid) => Some(WechatConfig {
                appid,
                secret: var("WECHAT_SECRET")
                    .context("WECHAT_SECRET is required with WECHAT_APPID")?,
                api_base: var("WECHAT_API_BASE").unwrap_or_else(|| DEFAULT_WECHAT_API_BASE.into()),
            }),
            None => None,
        };
        let config = Self {
            environment,
            database_url: var("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
            redis_url: var("REDIS_URL"),
            redis_prefix: var("FENHONG_REDIS_PREFIX").unwrap_or_else(|| "fenhong".into()),
            public_url: var("FENHONG_PUBLIC_URL").unwrap_or_else(|| format!("http://{bind}")),
            bind,
            admin_password: var("FENHONG_ADMIN_PASSWORD"),
            jwt_secret: var("JWT_SECRET"),
            wechat,
            token_ttl: Duration::from_secs(parse_or(var("FENHONG_TOKEN_TTL_SECS"), 7 * 24 * 3600)?),
            staff_cache: Duration::from_millis(parse_or(var("FENHONG_STAFF_CACHE_MS"), 1000)?),
            max_body_bytes: parse_or(var("FENHONG_MAX_BODY_BYTES"), 64 * 1024)?,
            max_query_depth: parse_or(var("FENHONG_MAX_QUERY_DEPTH"), 16)?,
            max_query_cost: parse_or(var("FENHONG_MAX_QUERY_COST"), 5000)?,
            sweep_interval: Duration::from_secs(
                parse_or(var("FENHONG_SWEEP_INTERVAL_SECS"), 60)?.max(1),
            ),
            ws_keepalive: Duration::from_secs(
                parse_or(var("FENHONG_WS_KEEPALIVE_SECS"), 30)?.max(1),
            ),
            ws_init_timeout: Duration::from_secs(
                parse_or(var("FENHONG_WS_INIT_TIMEOUT_SECS"), 10)?.max(1),
            ),
            ws_max_subscriptions: parse_or(var("FENHONG_WS_MAX_SUBSCRIPTIONS"), 20)?,
            request_timeout: Duration::from_secs(
                parse_or(var("FENHONG_REQUEST_TIMEOUT_SECS"), 15)?.max(1),
            ),
            max_response_bytes: parse_or(var("FENHONG_MAX_RESPONSE_BYTES"), 4 * 1024 * 1024)?,
            login_attempts_per_minute: parse_or(var("FENHONG_LOGIN_ATTEMPTS_PER_MINUTE"), 10)?,
            client_ip_header: var("FENHONG_CLIENT_IP_HEADER"),
            secrets_key: var("FENHONG_SECRETS_KEY"),
            wechatpay_api_base: var("WECHATPAY_API_BASE")
                .unwrap_or_else(|| DEFAULT_WECHATPAY_API_BASE.into()),
            group_commit: match var("FENHONG_GROUP_COMMIT").as_deref() {
                None | Some("on") | Some("true") | Some("1") => true,
                Some("off") | Some("false") | Some("0") => false,
                Some(other) => bail!("FENHONG_GROUP_COMMIT must be on or off, not {other:?}"),
            },
            group_commit_max: parse_or(var("FENHONG_GROUP_COMMIT_MAX"), 64)?,
            workers: threads(var("FENHONG_WORKERS"), "FENHONG_WORKERS")?,
            live_workers: threads(var("FENHONG_LIVE_WORKERS"), "FENHONG_LIVE_WORKERS")?,
            clock_start: var("FENHONG_CLOCK_START")
                .map(|v| {
                    DateTime::parse_from_rfc3339(&v)
                        .map(|t| t.with_timezone(&Utc))
                        .with_context(|| {
                            format!("FENHONG_CLOCK_START {v:?} is not an RFC 3339 time")
                        })
                })
                .transpose()?,
            console_dir: var("FENHONG_CONSOLE_DIR").map(Into::into),
        };
        config.validate()?;
        Ok(config)
    }

    /// Settings for a test or a local tool: development mode, embedded defaults.
    pub fn development(database_url: impl Into<String>) -> Self {
        Self {
            environment: Environment::Development,
            database_url: database_url.into(),
            redis_url: None,
            redis_prefix: "fenhong".into(),
            bind: DEFAULT_BIND.into(),
            public_url: format!("http://{DEFAULT_BIND}"),
            admin_password: None,
            jwt_secret: None,
            wechat: None,
            token_ttl: Duration::from_secs(7 * 24 * 3600),
            staff_cache: Duration::from_millis(1000),
            max_body_bytes: 64 * 1024,
            max_query_depth: 16,
            max_query_cost: 5000,
            sweep_interval: Duration::from_secs(60),
            ws_keepalive: Duration::from_secs(30),
            ws_init_timeout: Duration::from_secs(10),
            ws_max_subscriptions: 20,
            request_timeout: Duration::from_secs(15),
            max_response_bytes: 4 * 1024 * 1024,
            login_attempts_per_minute: 10,
            client_ip_header: None,
            secrets_key: None,
            wechatpay_api_base: DEFAULT_WECHATPAY_API_BASE.into(),
            group_commit: true,
            group_commit_max: 64,
            workers: None,
            live_workers: None,
            clock_start: None,
            console_dir: None,
        }
    }

    /// The mini-program's AppID: what logins and payments are for.
    pub fn appid(&self) -> &str {
        self.wechat
            .as_ref()
            .map_or(DEVELOPMENT_APPID, |w| w.appid.as_str())
    }

    /// Whether the database runs on this machine: SQLite, or PostgreSQL at a loopback
    /// address or a Unix socket.
    pub fn database_is_local(&self) -> bool {
        use sea_orm::sqlx::postgres::PgConnectOptions;
        if !self.database_url.starts_with("postgres") {
            return true;
        }
        let Ok(options) = self.database_url.parse::<PgConnectOptions>() else {
            return false;
        };
        let host = options.get_host();
        host.starts_with('/')
            || host == "localhost"
            || host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// Threads that serve requests, on a machine of `cores` cores: `FENHONG_WORKERS`, else
    /// one per core, less one (at least one) when the database runs on this machine. Its
    /// backends need a core there, and request threads that outnumber the cores left to
    /// them wake each other for every few requests: on two cores with PostgreSQL beside
    /// it, one request thread served a logged-in lookup a fifth faster than two
    /// (BENCHMARKS.md).
    pub fn request_workers(&self, cores: usize) -> usize {
        self.workers.unwrap_or(if self.database_is_local() {
            cores.saturating_sub(1).max(1)
        } else {
            cores.max(1)
        })
    }

    /// Threads that serve open subscription connections, on a machine of `cores` cores:
    /// `FENHONG_LIVE_WORKERS`, else one per core. They idle until an event goes out to the
    /// subscribers, and then a busy request thread does not delay it.
    pub fn live_workers(&self, cores: usize) -> usize {
        self.live_workers.unwrap_or(cores.max(1))
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if self.is_production() {
            match &self.jwt_secret {
                None => bail!("JWT_SECRET is required when FENHONG_ENV=production"),
                Some(s) if s.len() < 32 => bail!("JWT_SECRET must be at least 32 characters"),
                Some(_) => {}
            }
            if self.wechat.is_none() {
                bail!("WECHAT_APPID and WECHAT_SECRET are required when FENHONG_ENV=production");
            }
            if self.clock_start.is_some() {
                bail!("FENHONG_CLOCK_START is for development only");
            }
            if self.console_dir.is_some() {
                bail!("FENHONG_CONSOLE_DIR is for development only");
            }
        }
        Ok(())
    }
}

fn parse_or<T: std::str::FromStr>(value: Option<String>, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match value {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|e| anyhow::anyhow!("invalid number {v:?}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_on_this_machine_leaves_it_a_core() {
        let on = |url: &str| Config::development(url);
        for local in [
            "sqlite://fenhong.db?mode=rwc",
            "sqlite::memory:",
            "postgres://postgres@127.0.0.1:5432/fenhong",
            "postgres://postgres@localhost/fenhong",
            "postgresql://postgres@[::1]:5432/fenhong",
            "postgres:///fenhong?host=/var/run/postgresql",
        ] {
            let config = on(local);
            assert!(config.database_is_local(), "{local}");
            assert_eq!(config.request_workers(2), 1, "{local}");
            assert_eq!(config.request_workers(8), 7, "{local}");
            assert_eq!(config.request_workers(1), 1, "{local}");
        }
        for remote in [
            "postgres://fenhong@db.internal:5432/fenhong",
            "postgres://fenhong@10.0.0.5/fenhong",
        ] {
            let config = on(remote);
            assert!(!config.database_is_local(), "{remote}");
            assert_eq!(config.request_workers(2), 2, "{remote}");
        }
        let mut set = on("sqlite::memory:");
        set.workers = Some(3);
        set.live_workers = Some(1);
        assert_eq!((set.request_workers(2), set.live_workers(2)), (3, 1));
        assert_eq!(on("sqlite::memory:").live_workers(2), 2);
    }

    #[test]
    fn a_thread_count_is_a_whole_number_from_one() {
        assert_eq!(threads(None, "FENHONG_WORKERS").unwrap(), None);
        assert_eq!(
            threads(Some("4".into()), "FENHONG_WORKERS").unwrap(),
            Some(4)
        );
        for bad in ["0", "-1", "two", "1.5", "5000"] {
            let err = threads(Some(bad.into()), "FENHONG_WORKERS").unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("FENHONG_WORKERS must be a number of threads from 1 to 1024, not {bad:?}")
            );
        }
    }
}
