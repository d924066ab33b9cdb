//! `zkd`: the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use zkd::config::Config;
use zkd::net::ClientPorts;
use zkd::server::Server;

/// glibc malloc was ~18% of CPU under write load (many small, short-lived buffers
/// per request); mimalloc's thread-local free lists are much cheaper for that. Built
/// with `no_thp` (Cargo.toml): its transparent huge pages turned every touched 2 MiB
/// of arena into resident memory (53 of a fresh server's 64 MB, ~60 MB more with
/// 1M znodes), and the tree's slots and data fill 4 KiB pages well without them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "zkd",
    version,
    about = "A ZooKeeper-compatible coordination server"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default). With no flags: standalone on port 2181, data in ./zkd-data.
    Serve(ServeArgs),
    /// Import a stopped Apache ZooKeeper's dataDir into a new zkd data dir.
    Import(zkd::migrate::cli::ImportArgs),
    /// Write a stopped zkd's state as a ZooKeeper snapshot (the way back).
    Export(zkd::migrate::cli::ExportArgs),
    /// Compare two live servers znode by znode through the client protocol.
    Verify(zkd::migrate::cli::VerifyArgs),
    /// Turn a stopped member's data into a new single-member ensemble (quorum lost for
    /// good); the other members rejoin with empty data dirs and `serve --join`.
    Recover(RecoverArgs),
}

#[derive(clap::Args, Debug)]
struct RecoverArgs {
    /// Required: acknowledges that every other member's data will be discarded.
    #[arg(long, required = true)]
    force_new_cluster: bool,
    /// The member's zoo.cfg (for dataDir and myid).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
}

/// `zkd serve --help`, after the flags.
const SERVE_NOTES: &str = "\
Without flags: standalone, clients on 0.0.0.0:2181, data in ./zkd-data, AdminServer on
0.0.0.0:8080, four-letter word srvr only, no /metrics.

Signals: SIGTERM or SIGINT shuts down gracefully (no new connections or requests, writes
in flight are finished and answered, everything is flushed, exit status 0; sessions survive
the restart). A second signal exits at once with status 128 + the signal's number.

Every zoo.cfg key zkd reads, its ports, four-letter words, AdminServer commands and
metrics: docs/operations.md.";

#[derive(clap::Args, Default)]
#[command(after_help = SERVE_NOTES)]
struct ServeArgs {
    /// A ZooKeeper zoo.cfg file (Java properties). Flags below override its keys.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Port for clients and four-letter words (overrides clientPort; default 2181).
    #[arg(long, value_name = "PORT")]
    client_port: Option<u16>,
    /// Data directory: Raft log, state and snapshots (overrides dataDir; default ./zkd-data).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// AdminServer HTTP port, /commands (overrides admin.serverPort; default 8080).
    #[arg(long, value_name = "PORT", conflicts_with = "no_admin")]
    admin_port: Option<u16>,
    /// Do not start the AdminServer (admin.enableServer=false).
    #[arg(long)]
    no_admin: bool,
    /// Serve Prometheus /metrics on this port (as metricsProvider.className=
    /// ...PrometheusMetricsProvider with metricsProvider.httpPort).
    #[arg(long, value_name = "PORT")]
    metrics_port: Option<u16>,
    /// Log filter, e.g. `info` or `debug,openraft=info` (overrides zkd.logLevel; the
    /// RUST_LOG environment variable overrides both; default info).
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// Ensemble member with an empty data dir joining a running ensemble (after
    /// `recover --force-new-cluster`): wait to be added instead of forming a new one.
    #[arg(long)]
    join: bool,
}

/// Logging: RUST_LOG, else `--log-level`, else zoo.cfg's `zkd.logLevel`, else info.
fn init_logging(level: Option<&str>) -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    let filter = match (std::env::var("RUST_LOG").ok(), level) {
        (Some(env), _) if !env.is_empty() => {
            EnvFilter::try_new(&env).map_err(|e| format!("invalid RUST_LOG {env:?}: {e}"))?
        }
        (_, Some(level)) => {
            EnvFilter::try_new(level).map_err(|e| format!("invalid log level {level:?}: {e}"))?
        }
        _ => EnvFilter::new("info,openraft=error,fjall=warn,lsm_tree=warn"),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Some(Command::Serve(_)) | None) {
        // Other subcommands log at the default level (RUST_LOG honoured); `serve` takes
        // its level from its flags and zoo.cfg, so it starts logging below.
        if let Err(e) = init_logging(None) {
            eprintln!("zkd: {e}");
            return ExitCode::from(2);
        }
    }
    let args = match cli.command {
        Some(Command::Serve(a)) => a,
        Some(Command::Import(a)) => return zkd::migrate::cli::import(a),
        Some(Command::Export(a)) => return zkd::migrate::cli::export(a),
        Some(Command::Verify(a)) => return zkd::migrate::cli::verify(a),
        Some(Command::Recover(a)) => return recover(a),
        None => ServeArgs::default(),
    };
    let mut config = match &args.config {
        Some(path) => match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("zkd: {e}");
                return ExitCode::from(2);
            }
        },
        None => Config::default(),
    };
    if let Some(port) = args.client_port {
        config.client_port = port;
        config.client_port_set = true;
    }
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    if let Some(port) = args.admin_port {
        config.admin_port = port;
    }
    if args.no_admin {
        config.admin_enable_server = false;
    }
    if args.join {
        config.join_existing = true;
    }
    if let Some(port) = args.metrics_port {
        config.prometheus_enabled = true;
        config.metrics_port = port;
    }
    let level = args.log_level.as_deref().or(config.log_level.as_deref());
    if let Err(e) = init_logging(level) {
        eprintln!("zkd: {e}");
        return ExitCode::from(2);
    }
    // zkServer.sh users pass settings as -D flags (the JAAS file, the SASL super user).
    let jvm_flags: Vec<String> = ["SERVER_JVMFLAGS", "JVMFLAGS"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .collect();
    let security = config
        .apply_jvm_flags(&jvm_flags.join(" "))
        .and_then(|()| config.security.load_files())
        .and_then(|()| config.security.check());
    if let Err(e) = security {
        eprintln!("zkd: {e}");
        return ExitCode::from(2);
    }
    for key in &config.ignored_keys {
        tracing::info!("zoo.cfg key {key} is not used by zkd; ignored");
    }
    if let Some(id) = config.single_server_line {
        tracing::info!(
            "zoo.cfg lists only server.{id}: running standalone (standaloneEnabled=true), as ZooKeeper does"
        );
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zkd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zkd: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> std::io::Result<()> {
    // Signals first: from here on SIGTERM/SIGINT never kill the process mid-write.
    let mut signals = Signals::new()?;
    // The Prometheus recorder must exist before anything records a metric.
    if let Some(addr) = config.metrics_addr() {
        zkd::admin::metrics::install_prometheus(addr)?;
        tracing::info!("Prometheus metrics on http://{addr}/metrics");
    }
    let server = Server::start(config).await?;
    let shutdown = CancellationToken::new();
    let ports = ClientPorts::bind(&server, &shutdown).await?;
    if server.config.metrics_addr().is_some() {
        tokio::spawn(zkd::admin::metrics::sample_gauges(server.clone()));
    }
    let admin = match server.config.admin_addr() {
        Some(_) => {
            let admin = zkd::admin::http::AdminServer::bind(server.clone()).await?;
            tracing::info!(
                "AdminServer on http://{}{}",
                admin.local_addr()?,
                server.config.admin_command_url
            );
            Some(tokio::spawn(admin.run(shutdown.clone())))
        }
        None => None,
    };
    let accepting = ports.run(&shutdown);
    let signal = signals.recv().await;
    tracing::info!(
        "{signal}: shutting down; no new connections or requests, finishing writes in flight"
    );
    // A second signal exits at once.
    tokio::spawn(async move {
        let signal = signals.recv().await;
        tracing::warn!("second signal ({signal}): exiting now");
        std::process::exit(128 + signal_number(signal));
    });
    shutdown.cancel();
    for accept in accepting {
        let _ = accept.await;
    }
    if let Some(admin) = admin {
        let _ = admin.await;
    }
    // Connections stop reading, get the replies of their writes in flight, and close.
    server.draining.cancel();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !server.connections.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    server.close_all_connections();
    if let Some(raft) = server.raft() {
        // Acknowledged writes are in the log already; the checkpoint spares the next
        // start from replaying it.
        if let Err(e) = zkd::consensus::checkpoint(raft).await {
            tracing::warn!("no checkpoint at shutdown ({e}); the next start replays the log");
        }
        let _ = raft.shutdown().await;
    }
    tracing::info!("shutdown complete");
    Ok(())
}

fn recover(args: RecoverArgs) -> ExitCode {
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("zkd: {e}");
            return ExitCode::from(2);
        }
    };
    let run = async {
        let storage = zkd::storage::Storage::open(&config.data_dir)?;
        zkd::consensus::recover::force_new_cluster(&storage, config.tree_config()).await
    };
    let result = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt.block_on(run),
        Err(e) => Err(e),
    };
    match result {
        Ok(r) => {
            println!(
                "recovered {}: {} znodes, last zxid {:#x} ({} log entries replayed).\n\
                 Start this member with `zkd serve`; it forms an ensemble of itself and adds\n\
                 the other voters of zoo.cfg back as they start with empty data dirs and\n\
                 `zkd serve --join` (keep their myid files).",
                config.data_dir.display(),
                r.znodes,
                r.last_zxid,
                r.replayed
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("zkd recover: {e}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM and SIGINT, registered once so that neither kills the process by default.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// The name of the next signal received.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

fn signal_number(name: &str) -> i32 {
    if name == "SIGTERM" {
        15
    } else {
        2
    }
}
