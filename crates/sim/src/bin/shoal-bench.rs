//! `shoal-bench`: fleet benchmark scenarios (see `shoal_sim::bench`). Prints figures and
//! writes them as JSON; build it and the binaries it starts with `--release`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use shoal_sim::bench::ingest::{self, IngestBench};
use shoal_sim::bench::scenario::{self, FleetBench};
use shoal_sim::bench::store_vs_etcd::{self, StoreBench};

#[derive(Debug, Parser)]
#[command(name = "shoal-bench", version, about = "shoal fleet benchmarks")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// One hub and N hollow nodes: join, DaemonSet create, DaemonSet rolling update (10%),
    /// Deployment; API latency, hub CPU and memory per phase.
    Fleet {
        #[arg(long, default_value_t = 1000)]
        nodes: usize,
        /// Deployment replicas (0 skips the Deployment phase).
        #[arg(long, default_value_t = 10_000)]
        replicas: usize,
        /// Share of nodes whose links flap (20 s up, 10 s down).
        #[arg(long, default_value_t = 0.0)]
        flap_fraction: f64,
        /// Node starts per second.
        #[arg(long, default_value_t = 500.0)]
        join_rate: f64,
        /// Simulator threads.
        #[arg(long, default_value_t = 1)]
        sim_threads: usize,
        /// Directory of shoal-hub and shoal-sim (default: this binary's).
        #[arg(long)]
        bin_dir: Option<PathBuf>,
        /// JSON report.
        #[arg(long, default_value = "bench-fleet.json")]
        out: PathBuf,
        /// Longest wait of one phase, seconds.
        #[arg(long, default_value_t = 600)]
        phase_timeout: u64,
        /// Keep the work directory (hub data, logs).
        #[arg(long)]
        keep: bool,
    },
    /// The hub's store against etcd (single node, fsync on), side by side: put, get, watch
    /// with concurrent clients (install etcd with scripts/bench-setup.sh).
    Store {
        #[arg(long, default_value_t = 5000)]
        ops: usize,
        #[arg(long, default_value_t = 16)]
        clients: usize,
        #[arg(long, default_value_t = 256)]
        value_bytes: usize,
        /// Idle connections kept per server by each system's client (at least --clients
        /// reuses one connection per client; 3 was ureq's default).
        #[arg(long, default_value_t = shoal_sim::bench::api::POOL)]
        pool: usize,
        /// The etcd binary.
        #[arg(long, default_value = "/usr/bin/etcd")]
        etcd: PathBuf,
        #[arg(long)]
        bin_dir: Option<PathBuf>,
        #[arg(long, default_value = "bench-store.json")]
        out: PathBuf,
    },
    /// MQTT status ingestion through the hub's embedded broker against Mosquitto, side by
    /// side: messages/s into the store, publish-to-watch lag, hub and broker CPU and memory.
    Ingest {
        /// Nodes, each its own MQTT client with its own credentials.
        #[arg(long, default_value_t = 200)]
        nodes: usize,
        #[arg(long, default_value_t = 5)]
        pods_per_node: usize,
        /// Rounds of one node status and one status per pod, per node.
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        /// Pod status changes every this many rounds (and in the last); node heartbeats
        /// never change after the first.
        #[arg(long, default_value_t = 5)]
        change_every: usize,
        /// Changed pod reports of the paced lag measurement.
        #[arg(long, default_value_t = 1000)]
        lag_messages: usize,
        /// Their rate, per second.
        #[arg(long, default_value_t = 200.0)]
        lag_rate: f64,
        /// The Mosquitto binary.
        #[arg(long, default_value = "/usr/sbin/mosquitto")]
        mosquitto: PathBuf,
        #[arg(long)]
        bin_dir: Option<PathBuf>,
        #[arg(long, default_value = "bench-ingest.json")]
        out: PathBuf,
    },
}

fn default_bin_dir(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    given
        .or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        })
        .ok_or_else(|| anyhow::anyhow!("cannot tell where shoal-hub is; pass --bin-dir"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.cmd {
        Cmd::Fleet {
            nodes,
            replicas,
            flap_fraction,
            join_rate,
            sim_threads,
            bin_dir,
            out,
            phase_timeout,
            keep,
        } => default_bin_dir(bin_dir).and_then(|bin_dir| {
            scenario::run(&FleetBench {
                nodes,
                replicas,
                flap_fraction,
                join_rate,
                sim_threads,
                bin_dir,
                out,
                phase_timeout: Duration::from_secs(phase_timeout),
                keep,
            })
            .map(|_| ())
        }),
        Cmd::Store {
            ops,
            clients,
            value_bytes,
            pool,
            etcd,
            bin_dir,
            out,
        } => default_bin_dir(bin_dir).and_then(|bin_dir| {
            store_vs_etcd::run(&StoreBench {
                ops,
                clients,
                value_bytes,
                bin_dir,
                etcd,
                pool,
                out,
            })
            .map(|_| ())
        }),
        Cmd::Ingest {
            nodes,
            pods_per_node,
            rounds,
            change_every,
            lag_messages,
            lag_rate,
            mosquitto,
            bin_dir,
            out,
        } => default_bin_dir(bin_dir).and_then(|bin_dir| {
            ingest::run(&IngestBench {
                nodes,
                pods_per_node,
                rounds,
                change_every,
                lag_messages,
                lag_rate,
                bin_dir,
                mosquitto,
                out,
            })
            .map(|_| ())
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
