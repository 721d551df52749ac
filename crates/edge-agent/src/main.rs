//! `shoal-agent`: parses flags (and `SHOAL_*` environment variables), sets up logging, and
//! runs [`shoal_edge_agent::run`] in an actix System until SIGINT or SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use shoal_edge_agent::{AgentConfig, Args};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let args = Args::parse();
    // The storage engine's recovery chatter is not news at the default level; an explicit
    // filter can still ask for it.
    let quiet = "fjall=warn,lsm_tree=warn";
    let filter = match &args.log {
        Some(f) => EnvFilter::try_new(format!("{quiet},{f}")),
        None => match std::env::var("RUST_LOG") {
            Ok(f) => EnvFilter::try_new(format!("{quiet},{f}")),
            Err(_) => EnvFilter::try_new(format!("{quiet},info")),
        },
    };
    let filter = match filter {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: invalid --log / RUST_LOG filter: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only on a terminal: journald and log files get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();

    match shoal_edge_agent::fd_limit::raise_to_hard() {
        Ok((soft, hard)) => tracing::debug!(?soft, ?hard, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit to the hard one"),
    }
    let config = match AgentConfig::from_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };

    let shutdown = CancellationToken::new();
    let result = actix_rt::System::new().block_on(async move {
        actix_rt::spawn(stop_on_signal(shutdown.clone()));
        shoal_edge_agent::run(config, shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Cancels `shutdown` on the first SIGINT or SIGTERM.
async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot watch SIGTERM ({e}); only Ctrl-C stops the agent");
            let _ = tokio::signal::ctrl_c().await;
            shutdown.cancel();
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("signal received; shutting down");
    shutdown.cancel();
}
