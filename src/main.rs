use axum::serve::ListenerExt;
use clap::{Parser, Subcommand};
use fenhong::{config::Config, db, Fenhong};
use tokio::net::TcpListener;

/// mimalloc: a request allocates many small short-lived values (documents, JSON, futures);
/// glibc's allocator spent a tenth of the server's time on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "fenhong",
    version,
    about = "The reward-program gateway of mini-program stores"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run migrations and serve GraphQL (the default).
    Serve,
    /// Bring the database schema up to date and exit.
    Migrate,
    /// Print the GraphQL schema (SDL) that clients are written against.
    PrintSchema,
    /// Run the queue free-order engine over a CSV of orders (`user,amount[,referrer]`)
    /// from an empty queue and print what it pays; touches no database.
    Simulate {
        /// The CSV file of orders, in completion order.
        orders: std::path::PathBuf,
        #[arg(long, default_value = "3")]
        slots: i32,
        #[arg(long, default_value = "0.40")]
        queue_ratio: rust_decimal::Decimal,
        #[arg(long, default_value = "0.20")]
        referral_ratio: rust_decimal::Decimal,
        #[arg(long, default_value = "0")]
        second_level_ratio: rust_decimal::Decimal,
        #[arg(long, default_value = "1")]
        cap_multiple: rust_decimal::Decimal,
        #[arg(long, default_value = "0")]
        min_order_amount: rust_decimal::Decimal,
    },
    /// Check the ledger: balanced transactions, cached balances, nothing negative.
    /// Exits with status 1 if anything is wrong.
    Audit,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(),
        command => tokio::runtime::Runtime::new()?.block_on(run(command)),
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::PrintSchema => {
            print!("{}", fenhong::graphql::sdl());
            Ok(())
        }
        Command::Migrate => {
            let config = Config::from_env()?;
            init_logging(&config);
            let db = db::connect(&config.database_url).await?;
            db::migrate(&db).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Simulate {
            orders,
            slots,
            queue_ratio,
            referral_ratio,
            second_level_ratio,
            cap_multiple,
            min_order_amount,
        } => {
            let rules = fenhong::rules::programs::QueueRules {
                enabled: true,
                active_slots: slots,
                queue_ratio,
                referral_ratio,
                second_level_ratio,
                cap_multiple,
                min_order_amount,
            };
            let csv = std::fs::read_to_string(&orders)?;
            let (_, summary) = fenhong::cli::run(&rules, &csv)?;
            print!("{summary}");
            Ok(())
        }
        Command::Audit => {
            let config = Config::from_env()?;
            init_logging(&config);
            let db = db::connect(&config.database_url).await?;
            db::migrate(&db).await?;
            let report = fenhong::ledger::audit(&db).await?;
            println!("{report}");
            if report.is_clean() {
                println!("ledger is clean");
                Ok(())
            } else {
                println!("LEDGER HAS PROBLEMS");
                std::process::exit(1);
            }
        }
        Command::Serve => unreachable!("`main` serves on runtimes of its own"),
    }
}

/// Requests are served on one runtime, open subscription connections on another: each with
/// its own threads (`FENHONG_WORKERS`, `FENHONG_LIVE_WORKERS`).
fn serve() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let request_threads = config.request_workers(cores);
    // One thread: tokio's single-threaded runtime, which runs its tasks without the
    // work-stealing queues and cross-thread wake-ups of the multi-threaded one (alternating
    // runs: lookups 3–12 % faster, with less CPU each).
    let requests = if request_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(request_threads)
            .enable_all()
            .build()?
    };
    let live = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.live_workers(cores))
        .thread_name("fenhong-live")
        .enable_all()
        .build()?;
    let served = requests.block_on(serve_requests(
        config,
        request_threads,
        live.handle().clone(),
    ));
    // Subscription connections still open end here, after the request runtime.
    live.shutdown_background();
    served
}

async fn serve_requests(
    config: Config,
    request_threads: usize,
    live: tokio::runtime::Handle,
) -> anyhow::Result<()> {
    init_logging(&config);
    let bind = config.bind.clone();
    let clock = config.clock_start.map(|start| {
        tracing::warn!(%start, "development clock: the server's time starts at FENHONG_CLOCK_START");
        std::sync::Arc::new(fenhong::clock::StartedClock::new(start)) as fenhong::clock::SharedClock
    });
    let app = Fenhong::start(config, clock).await?.serve_live_on(live);
    let background = app.spawn_background();
    let listener = TcpListener::bind(&bind).await?;
    tracing::info!(
        address = %listener.local_addr()?,
        request_threads,
        "serving GraphQL at /graphql"
    );
    // Small writes go out at once: a live update or a response must not wait for the
    // client's acknowledgement of the one before (Nagle's algorithm).
    let listener = listener.tap_io(|stream| {
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "could not set TCP_NODELAY on a connection");
        }
    });
    axum::serve(
        listener,
        app.router()
            .into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    background.abort();
    tracing::info!("stopped");
    Ok(())
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,sea_orm=warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if config.is_production() {
        builder.json().init();
    } else {
        builder.init();
    }
    // A panic is one log line (in the request's span, so with its id), never a backtrace:
    // the request that hit it is answered `INTERNAL` by the router.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(%location, "panic: {message}");
    }));
}

/// Resolves on SIGTERM or Ctrl-C: in-flight requests finish, new connections are refused.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
