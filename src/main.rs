//! `zkd`: the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use zkd::config::Config;
use zkd::net::Listener;
use zkd::server::Server;

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
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// A ZooKeeper zoo.cfg file.
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Client port (overrides clientPort).
    #[arg(long)]
    client_port: Option<u16>,
    /// Data directory (overrides dataDir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,openraft=warn,fjall=warn,lsm_tree=warn".into()),
        )
        .with_target(false)
        .init();
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(a)) => a,
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
    }
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    for key in &config.ignored_keys {
        tracing::info!("zoo.cfg key {key} is not used by zkd; ignored");
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
    let server = Server::start(config).await?;
    let listener = Listener::bind(server.clone()).await?;
    tracing::info!(
        "zkd serving clients on {} (data in {})",
        listener.local_addr()?,
        server.config.data_dir.display()
    );
    let shutdown = CancellationToken::new();
    let accept = tokio::spawn(listener.run(shutdown.clone()));
    wait_for_signal().await;
    tracing::info!("shutting down: no new connections; sessions survive the restart");
    shutdown.cancel();
    let _ = accept.await;
    // Stop taking writes, then make everything applied so far durable.
    server.close_all_connections();
    if let Some(raft) = server.raft() {
        let _ = raft.shutdown().await;
    }
    server.storage.sync()?;
    tracing::info!("shutdown complete");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    // A second signal exits at once.
    tokio::spawn(async {
        wait_second_signal().await;
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    });
}

async fn wait_second_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
