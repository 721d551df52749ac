//! `shoal-hub`: API server, store, scheduler, node sessions and MQTT status ingest in one
//! process; `--with-agent` adds an edge agent for a one-machine cluster.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use shoal_hub::hub::{self, HubConfig};

#[derive(Parser, Debug)]
#[command(
    name = "shoal-hub",
    version,
    about = "The shoal hub: Kubernetes-style orchestration for fleets of edge devices"
)]
struct Args {
    /// Directory for the store, certificates, tokens and kubeconfig.
    #[arg(long, env = "SHOAL_DATA_DIR", default_value = "/var/lib/shoal/hub")]
    data_dir: PathBuf,
    /// HTTPS API (Kubernetes REST) address.
    #[arg(long, env = "SHOAL_API_ADDR", default_value = "127.0.0.1:6443")]
    api_addr: SocketAddr,
    /// QUIC address agents connect to.
    #[arg(long, env = "SHOAL_QUIC_ADDR", default_value = "127.0.0.1:7443")]
    quic_addr: SocketAddr,
    /// Address of the embedded MQTT broker.
    #[arg(long, env = "SHOAL_MQTT_ADDR", default_value = "127.0.0.1:1883")]
    mqtt_addr: SocketAddr,
    /// Also serve the embedded MQTT broker over TLS here (the hub's server certificate, under
    /// the hub CA); agents then get mqtts:// and the hub CA at join.
    #[arg(long, env = "SHOAL_MQTTS_ADDR")]
    mqtts_addr: Option<SocketAddr>,
    /// Use an external MQTT broker (mqtt://HOST:PORT, or mqtts://HOST:PORT with --mqtt-ca)
    /// instead of the embedded one; credentials for it are written to DATA/mosquitto/.
    #[arg(long, env = "SHOAL_MQTT_URL")]
    mqtt_url: Option<String>,
    /// CA certificate (PEM) of the external broker, for mqtts://.
    #[arg(long, env = "SHOAL_MQTT_CA")]
    mqtt_ca: Option<PathBuf>,
    /// Broker URL handed to agents when they join (default: --mqtt-url, or the embedded
    /// broker's address).
    #[arg(long, env = "SHOAL_MQTT_AGENT_URL")]
    mqtt_agent_url: Option<String>,
    /// Republish Deployment and DaemonSet rollout summaries on MQTT (shoal/v1/cluster/...).
    #[arg(long, env = "SHOAL_MQTT_SUMMARIES")]
    mqtt_summaries: bool,
    /// Seconds without status after which a node's Ready condition turns Unknown.
    #[arg(long, env = "SHOAL_NODE_UNKNOWN_AFTER", default_value_t = 40)]
    node_unknown_after: u64,
    /// Seconds a node may stay not Ready before its pods (never DaemonSet pods) are evicted;
    /// 0 = never. Edge devices go offline often, so the default is a day.
    #[arg(long, env = "SHOAL_POD_EVICTION_TIMEOUT", default_value_t = 86_400)]
    pod_eviction_timeout: u64,
    /// IPv4 CIDR ClusterIPs are allocated from.
    #[arg(long, env = "SHOAL_SERVICE_CIDR", default_value = shoal_hub::service_alloc::DEFAULT_SERVICE_CIDR)]
    service_cidr: String,
    /// Range NodePorts are allocated from, `LOW-HIGH`.
    #[arg(long, env = "SHOAL_SERVICE_NODE_PORT_RANGE", default_value = shoal_hub::service_alloc::DEFAULT_NODE_PORT_RANGE)]
    service_node_port_range: String,
    /// Also run an edge agent in this process (a one-machine cluster).
    #[arg(long)]
    with_agent: bool,
    /// Node name of the `--with-agent` agent (default: this host's name).
    #[arg(long, env = "SHOAL_AGENT_NODE_NAME")]
    agent_node_name: Option<String>,
    /// Podman API socket for the `--with-agent` agent.
    #[arg(
        long,
        env = "SHOAL_PODMAN_SOCKET",
        default_value = "unix:///run/podman/podman.sock"
    )]
    podman_socket: String,
    /// Runtime of the `--with-agent` agent: `podman`, or `process` on machines without Podman
    /// (pods run as host processes; `runtimeClassName: process` pods run so on Podman too).
    #[arg(long, env = "SHOAL_AGENT_RUNTIME", value_enum, default_value_t = shoal_edge_agent::config::RuntimeKind::Podman)]
    agent_runtime: shoal_edge_agent::config::RuntimeKind,
    /// Log filter (tracing env-filter syntax), e.g. "info" or "shoal_hub=debug".
    #[arg(long, env = "SHOAL_LOG", default_value = "info")]
    log: String,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    // Libraries' own info logs (fjall's flushes, rumqttd's per-connection lines) are noise at
    // the default level; an explicit filter can still ask for them.
    let filter = format!(
        "fjall=warn,lsm_tree=warn,rumqttd=warn,actix_server=warn,{}",
        args.log
    );
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    match shoal_edge_agent::fd_limit::raise_to_hard() {
        Ok((soft, hard)) => tracing::debug!(?soft, ?hard, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit to the hard one"),
    }
    let result = actix_rt::System::new().block_on(run(args));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shoal-hub: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let cfg = HubConfig {
        data_dir: args.data_dir.clone(),
        api_addr: args.api_addr,
        quic_addr: args.quic_addr,
        mqtt_addr: args.mqtt_addr,
        mqtt_url: args.mqtt_url.clone(),
        mqtt_ca: args.mqtt_ca.clone(),
        mqtts_addr: args.mqtts_addr,
        mqtt_agent_url: args.mqtt_agent_url.clone(),
        mqtt_summaries: args.mqtt_summaries,
        node_lifecycle: shoal_hub::controllers::node_lifecycle::LifecycleConfig {
            unknown_after: std::time::Duration::from_secs(args.node_unknown_after.max(1)),
            evict_after: (args.pod_eviction_timeout > 0)
                .then(|| std::time::Duration::from_secs(args.pod_eviction_timeout)),
            ..Default::default()
        },
        service_network: shoal_hub::service_alloc::ServiceNetwork::parse(
            &args.service_cidr,
            &args.service_node_port_range,
        )?,
    };
    let hub = hub::start(cfg).await?;
    eprintln!(
        "shoal-hub is up.\n  API:        https://{}\n  agents:     {} (QUIC)\n  kubeconfig: {}\n  join token: {}\n  try:        kubectl --kubeconfig {} get nodes",
        hub.api_addr,
        hub.quic_addr,
        hub.kubeconfig.display(),
        hub.join_token_file.display(),
        hub.kubeconfig.display()
    );
    let agent_stop = shoal_edge_agent::ShutdownToken::new();
    let agent = if args.with_agent {
        let node = args
            .agent_node_name
            .clone()
            .unwrap_or_else(shoal_hub::bootstrap::hostname);
        let node = if node.is_empty() {
            "shoal-node".to_string()
        } else {
            node.to_lowercase()
        };
        let mut cfg = shoal_edge_agent::AgentConfig::new(
            hub.quic_addr.to_string(),
            hub.join_token_file.clone(),
            node.clone(),
            args.data_dir.join("agent"),
        );
        cfg.podman_socket = args.podman_socket.clone();
        cfg.runtime = args.agent_runtime;
        match cfg.runtime {
            shoal_edge_agent::config::RuntimeKind::Podman => {
                eprintln!("  agent:      node {node}, Podman at {}", cfg.podman_socket)
            }
            shoal_edge_agent::config::RuntimeKind::Process => {
                eprintln!("  agent:      node {node}, pods run as host processes (process runtime)")
            }
        }
        let stop = agent_stop.clone();
        Some(actix_rt::spawn(async move {
            if let Err(e) = shoal_edge_agent::run(cfg, stop).await {
                eprintln!("shoal-hub: the local agent stopped: {e:#}");
            }
        }))
    } else {
        None
    };
    shutdown_signal().await;
    eprintln!("shoal-hub: shutting down");
    agent_stop.cancel();
    if let Some(a) = agent {
        let _ = a.await;
    }
    hub.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}
