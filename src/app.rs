//! Builds the shared state and the router; used by `main` and by the tests alike.

use std::sync::Arc;

use axum::Router;
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};

use crate::{
    auth::{wechat::WechatLogin, LoginLimiter, TokenKeys},
    clock::{SharedClock, SystemClock},
    config::Config,
    db,
    graphql::{self, FenhongSchema},
    http,
    live::{self, LiveHub},
    rules::scene::SceneSigner,
    secrets::SecretBox,
    services,
    wechat_server::WechatServer,
    wechatpay_api::PayClient,
};

/// What every request may use. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub db: DatabaseConnection,
    pub clock: SharedClock,
    pub tokens: TokenKeys,
    pub scenes: SceneSigner,
    pub wechat: WechatLogin,
    pub live: LiveHub,
    pub logins: LoginLimiter,
    /// Seals merchants' WeChat Pay secrets; `None` in production without
    /// `FENHONG_SECRETS_KEY` (then no merchant may have WeChat Pay).
    pub secrets: Option<SecretBox>,
    pub pay: PayClient,
    /// WeChat's server API for subscribe messages; `None` in development login mode.
    pub wechat_server: Option<WechatServer>,
    /// Each merchant's orders that arrive together settle in one transaction.
    pub commits: services::group_commit::GroupCommit,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// A ready gateway: its state, its schema and its router. Cheap to clone (one `Arc`: the
/// router clones it for every request).
#[derive(Clone)]
pub struct Fenhong(Arc<Parts>);

/// What a [`Fenhong`] holds.
pub struct Parts {
    pub state: AppState,
    pub schema: FenhongSchema,
    /// Documents parsed before, shared by every request.
    pub documents: Arc<graphql::documents::DocumentCache>,
    /// Where open subscription connections are served: the server's live threads
    /// ([`Fenhong::serve_live_on`]); `None`, the runtime the request came in on.
    pub live_runtime: Option<tokio::runtime::Handle>,
}

impl std::ops::Deref for Fenhong {
    type Target = Parts;
    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl Fenhong {
    /// Connects, migrates, bootstraps the platform account and builds the schema.
    pub async fn start(config: Config, clock: Option<SharedClock>) -> anyhow::Result<Self> {
        config.validate()?;
        let db = db::connect(&config.database_url).await?;
        db::migrate(&db).await?;
        Self::with_database(config, db, clock).await
    }

    /// As [`Fenhong::start`], on a database that is already connected and migrated.
    pub async fn with_database(
        config: Config,
        db: DatabaseConnection,
        clock: Option<SharedClock>,
    ) -> anyhow::Result<Self> {
        let clock = clock.unwrap_or_else(|| Arc::new(SystemClock));
        let secret = match &config.jwt_secret {
            Some(secret) => secret.clone(),
            None => services::platform::development_secret(&db).await?,
        };
        if let Some(password) = &config.admin_password {
            services::platform::bootstrap_admin(&db, password, clock.now()).await?;
        }
        let secrets = match &config.secrets_key {
            Some(key) => Some(SecretBox::from_base64(key)?),
            None if !config.is_production() => Some(SecretBox::from_base64(
                &services::platform::development_secrets_key(&db).await?,
            )?),
            None => {
                let connected = entity::wechat_pay_account::Entity::find()
                    .count(&db)
                    .await?;
                if connected > 0 {
                    anyhow::bail!(
                        "FENHONG_SECRETS_KEY is required: {connected} merchants have WeChat Pay"
                    );
                }
                None
            }
        };
        let pay = PayClient::new(&config.wechatpay_api_base)?;
        let wechat_server = WechatServer::new(config.wechat.as_ref())?;
        let wechat = WechatLogin::new(config.wechat.clone())?;
        if wechat.is_development() {
            tracing::warn!(
                "development login mode: WECHAT_APPID is not set, so loginWithWechat accepts \
                 any code and logs in as openid dev-<code>"
            );
        }
        let (signals, _) = tokio::sync::broadcast::channel(live::LOCAL_BUFFER);
        let backend: Arc<dyn live::LiveBackend> = match &config.redis_url {
            Some(url) => {
                let redis =
                    Arc::new(live::redis::RedisLive::connect(url, &config.redis_prefix).await?);
                redis.rebuild(&db).await?;
                redis.start(db.clone(), signals.clone());
                redis
            }
            None => Arc::new(live::memory::MemoryLive::new(signals.clone())),
        };
        tracing::info!(backend = backend.name(), "live backend ready");
        let hub = LiveHub {
            backend,
            signals,
            wake: Arc::new(tokio::sync::Notify::new()),
        };
        live::outbox::spawn_relay(db.clone(), hub.clone());
        let state = AppState(Arc::new(Inner {
            live: hub,
            tokens: TokenKeys::new(secret.as_bytes(), config.token_ttl)
                .with_staff_cache(config.staff_cache),
            logins: LoginLimiter::new(config.login_attempts_per_minute),
            secrets,
            pay,
            wechat_server,
            commits: services::group_commit::GroupCommit::new(
                config.group_commit,
                config.group_commit_max,
            ),
            scenes: SceneSigner::new(secret.as_bytes()),
            wechat,
            db,
            clock,
            config,
        }));
        let schema = graphql::build_schema(state.clone());
        Ok(Self(Arc::new(Parts {
            state,
            schema,
            documents: Arc::default(),
            live_runtime: None,
        })))
    }

    /// Serves open subscription connections on `runtime`'s threads from now on (a
    /// connection upgraded to a WebSocket moves there), so fanning an event out to many
    /// subscribers does not wait for busy request threads, nor they for it.
    pub fn serve_live_on(self, runtime: tokio::runtime::Handle) -> Self {
        Self(Arc::new(Parts {
            state: self.state.clone(),
            schema: self.schema.clone(),
            documents: self.documents.clone(),
            live_runtime: Some(runtime),
        }))
    }

    /// Starts the clock-driven work (auto-completion, point expiry) every
    /// `sweep_interval`. Safe to run on every instance at once.
    pub fn spawn_background(&self) -> tokio::task::JoinHandle<()> {
        let state = self.state.clone();
        // Subscribe messages: planned from the outbox and sent every second.
        let notifier = self.state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(err) =
                    services::notifications::run_once(&notifier, notifier.clock.now()).await
                {
                    tracing::warn!(error = %err.detail(), "subscribe messages: a round failed");
                }
            }
        });
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(state.config.sweep_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match services::payments::sweep(&state, state.clock.now()).await {
                    Ok(report) if report != Default::default() => {
                        state.live.wake();
                        tracing::info!(?report, "WeChat Pay lookups")
                    }
                    Ok(_) => {}
                    Err(err) => tracing::error!(error = %err.detail(), "WeChat Pay lookups failed"),
                }
                match services::transfers::sweep(&state, state.clock.now()).await {
                    Ok(0) => {}
                    Ok(ended) => {
                        state.live.wake();
                        tracing::info!(ended, "WeChat Pay transfer lookups")
                    }
                    Err(err) => tracing::error!(error = %err.detail(), "transfer lookups failed"),
                }
                if let Err(err) =
                    services::notifications::plan_expiring(&state.db, state.clock.now()).await
                {
                    tracing::warn!(error = %err.detail(), "expiring points notices failed");
                }
                match services::sweeps::run_once(&state.db, state.clock.now()).await {
                    Ok(report) if report != Default::default() => {
                        state.live.wake();
                        tracing::info!(?report, "background sweep")
                    }
                    Ok(_) => {}
                    Err(err) => tracing::error!(error = %err.detail(), "background sweep failed"),
                }
            }
        })
    }

    pub fn router(&self) -> Router {
        http::router(self.clone())
    }
}
