//! `shoal-sim`: runs N hollow agents (simulated runtime) in one process against a hub, until
//! SIGINT or SIGTERM. See [`shoal_sim::fleet`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use shoal_edge_agent::runtime::SimProfile;
use shoal_sim::flap::FlapConfig;
use shoal_sim::fleet::{self, FleetConfig};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// Flags of `shoal-sim`.
#[derive(Debug, Parser)]
#[command(
    name = "shoal-sim",
    version,
    about = "Runs N hollow shoal agents (simulated containers) in one process for scale tests"
)]
struct Args {
    /// Hub QUIC address, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    hub: String,
    /// File holding the join token.
    #[arg(long, value_name = "FILE")]
    token_file: PathBuf,
    /// Number of hollow nodes.
    #[arg(long)]
    nodes: usize,
    /// Node names are <prefix><5-digit index>.
    #[arg(long, default_value = "sim-")]
    name_prefix: String,
    /// Directory for the nodes' credentials (a temporary one, removed at exit, if not given).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Nodes started per second (0 = all at once).
    #[arg(long, default_value_t = 200.0)]
    join_rate: f64,
    /// Threads the agents are spread over.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Labels of every node, k=v,k2=v2.
    #[arg(long, default_value = "")]
    labels: String,
    /// Shortest simulated container start, in milliseconds.
    #[arg(long, default_value_t = 100)]
    start_delay_min_ms: u64,
    /// Longest simulated container start, in milliseconds.
    #[arg(long, default_value_t = 500)]
    start_delay_max_ms: u64,
    /// Share of container starts that fail (exit 1), 0.0 to 1.0.
    #[arg(long, default_value_t = 0.0)]
    failure_rate: f64,
    /// Seed of the simulated start delays and failures.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of nodes whose link flaps, 0.0 to 1.0.
    #[arg(long, default_value_t = 0.0)]
    flap_fraction: f64,
    /// Seconds a flapping node stays connected each cycle.
    #[arg(long, default_value_t = 30)]
    flap_up_secs: u64,
    /// Seconds a flapping node stays away each cycle.
    #[arg(long, default_value_t = 10)]
    flap_down_secs: u64,
    /// Log filter (tracing env-filter syntax); defaults to RUST_LOG, then warnings only.
    #[arg(long)]
    log: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = args
        .log
        .clone()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "warn,shoal_sim=info".to_string());
    match EnvFilter::try_new(format!("fjall=warn,lsm_tree=warn,{filter}")) {
        Ok(f) => tracing_subscriber::fmt()
            .with_env_filter(f)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .init(),
        Err(e) => {
            eprintln!("error: invalid --log / RUST_LOG filter: {e}");
            return ExitCode::from(2);
        }
    }
    match shoal_edge_agent::fd_limit::raise_to_hard() {
        Ok((soft, hard)) => tracing::debug!(?soft, ?hard, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit to the hard one"),
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    if args.nodes == 0 {
        problems.push("--nodes: must be at least 1".to_string());
    }
    if !(0.0..=1.0).contains(&args.failure_rate) {
        problems.push("--failure-rate: must be between 0 and 1".to_string());
    }
    if !(0.0..=1.0).contains(&args.flap_fraction) {
        problems.push("--flap-fraction: must be between 0 and 1".to_string());
    }
    if !args.join_rate.is_finite() || args.join_rate < 0.0 {
        problems.push("--join-rate: must be 0 or more".to_string());
    }
    let mut labels = Vec::new();
    for pair in args.labels.split(',').filter(|p| !p.trim().is_empty()) {
        match pair.split_once('=') {
            Some((k, v)) => labels.push((k.trim().to_string(), v.trim().to_string())),
            None => problems.push(format!("--labels: {pair:?} is not k=v")),
        }
    }
    if !problems.is_empty() {
        anyhow::bail!("invalid flags:\n  {}", problems.join("\n  "));
    }
    let temp;
    let data_dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::Builder::new().prefix("shoal-sim-").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&data_dir)?;
    let cfg = FleetConfig {
        hub: args.hub,
        token_file: args.token_file,
        nodes: args.nodes,
        name_prefix: args.name_prefix,
        data_dir,
        join_rate: args.join_rate,
        threads: args.threads,
        labels,
        profile: SimProfile {
            start_delay_min: Duration::from_millis(args.start_delay_min_ms),
            start_delay_max: Duration::from_millis(args.start_delay_max_ms),
            failure_rate: args.failure_rate,
            seed: args.seed,
        },
        flap: (args.flap_fraction > 0.0).then(|| FlapConfig {
            fraction: args.flap_fraction,
            up: Duration::from_secs(args.flap_up_secs),
            down: Duration::from_secs(args.flap_down_secs),
        }),
    };
    let shutdown = CancellationToken::new();
    actix_rt::System::new().block_on(async move {
        actix_rt::spawn(stop_on_signal(shutdown.clone()));
        fleet::run(cfg, shutdown).await
    })
}

/// Cancels `shutdown` on the first SIGINT or SIGTERM.
async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    shutdown.cancel();
}
