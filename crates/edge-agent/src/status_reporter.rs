//! StatusReporter: publishes the node's and its pods' status and events over MQTT (rumqttc,
//! plain TCP for `mqtt://`, rustls with the broker's CA for `mqtts://`).
//!
//! Data flow: the PodManager sends [`PodStatuses`] (only what changed, plus the running-pod
//! count); the reporter folds them into its [`Outbox`] and publishes retained, QoS 1 messages
//! under `shoal/v1/nodes/<node>/...` (see `shoal_transport::status`):
//!
//! - `.../online`: `{"online":true}` after every ConnAck; the broker publishes the last will
//!   `{"online":false}` (retained, QoS 1) when the connection dies without a DISCONNECT, which
//!   is also how a stopping agent goes offline (it just drops the connection).
//! - `.../status`: a [`NodeStatusReport`] every [`NODE_STATUS_INTERVAL`] and when the pod count
//!   changes.
//! - `.../pods/<ns>/<pod>/status`: a [`PodStatusReport`] when the pod's status changes and at
//!   least every [`POD_REFRESH`]; an empty payload once the pod is gone.
//! - `.../events`: the PodManager's pod events (in [`PodStatuses::events`]), aggregated and
//!   rate-limited by the [`EventRecorder`], QoS 1, not retained, only while connected.
//!
//! Bounds: rumqttc's request channel holds [`REQUEST_CAPACITY`] publishes; the reporter only
//! ever `try_publish`es, so it never blocks. What does not fit waits in the outbox (one entry per
//! topic, capped at [`MAX_PENDING`]; past that the oldest unsent pod report is dropped and
//! re-sent by the next refresh, see [`crate::report_outbox`]). While disconnected nothing is
//! handed to rumqttc at all; after the ConnAck everything is queued again.
//!
//! While the broker is unreachable the unsent part of the outbox (and the event series not yet
//! published) is also saved to `DIR/status-outbox.json` (at most once per [`FLUSH_INTERVAL`], at most
//! [`MAX_SAVED_BYTES`], written atomically) and restored at start, so pod status that changed
//! during an outage is published even if the agent restarts before the broker returns. The
//! file is removed once everything was handed to the broker. On every ConnAck the online
//! marker goes first, then the node status, then pods most recently changed first.
//!
//! The connection is driven by polling rumqttc's `EventLoop` as an actor stream; after an
//! error the next poll (which reconnects) waits a [`crate::backoff::LINK`] back-off.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, LastWill, MqttOptions, Packet, QoS,
    TlsConfiguration, Transport,
};
use shoal_transport::status::{
    now_ms, online_topic, rfc3339_from_ms, Condition, NodeAddress, NodeStatusReport, OnlineMarker,
    PodStatus, PodStatusReport, MAX_STATUS_PAYLOAD,
};
use shoal_transport::wire::{MqttCredentials, NodeInfo};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::backoff::{Backoff, LINK};
use crate::error_chain;
use crate::event_recorder::EventRecorder;
use crate::node_info::quantities;
use crate::pods::PodEvent;
use crate::report_outbox::{Outbox, Pending, SavedOutbox};

/// Capacity of rumqttc's request channel (publishes handed over but not yet written).
pub const REQUEST_CAPACITY: usize = 1024;
/// Most topics waiting in the outbox.
pub const MAX_PENDING: usize = 4096;
/// Node status period.
pub const NODE_STATUS_INTERVAL: Duration = Duration::from_secs(10);
/// Longest time between two publishes of one pod's status.
pub const POD_REFRESH: Duration = Duration::from_secs(60);
/// MQTT keep-alive; the broker declares the node offline about 1.5 x this after it vanishes
/// (a process that dies closes its socket, and its will goes out at once).
///
/// Design: 15 s, not less. rumqttc pings every keep-alive whatever else it sends, so at
/// fleet scale pings were the broker's most frequent packet (two a node every 10 s at 5 s),
/// and a short keep-alive turns a hub that answers late under load into a disconnect storm.
/// Silent loss is still seen (will after about 22 s) before the hub's own 40 s
/// `--node-unknown-after`.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often the outbox is retried while the request channel was full.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Headroom for topic and header on top of the largest payload.
const PACKET_OVERHEAD: usize = 4096;
/// Mailbox size: PodManager `try_send`s and retries on its next pass when this is full.
const MAILBOX_CAPACITY: usize = 64;
/// Largest saved outbox; past it the oldest unsent pod reports are left out of the file.
pub const MAX_SAVED_BYTES: usize = 8 * 1024 * 1024;
/// Name of the saved outbox in the agent's data directory.
pub const OUTBOX_FILE: &str = "status-outbox.json";

/// Errors of setting the reporter up.
#[derive(Debug, thiserror::Error)]
pub enum ReporterError {
    #[error("MQTT URL {url:?} is invalid: {reason}")]
    Url { url: String, reason: String },
    #[error("the broker mqtts://{host}:{port} needs a CA to verify it: the hub handed none out at join (start the hub with --mqtt-ca) and --mqtt-ca is not set")]
    NoCa { host: String, port: u16 },
    #[error("the MQTT broker's CA is unusable")]
    Ca {
        #[source]
        source: shoal_transport::tls::TlsError,
    },
}

/// Changed pod statuses, from the PodManager.
#[derive(Clone, Debug, PartialEq, Message)]
#[rtype(result = "()")]
pub struct PodStatuses {
    /// Pods whose status differs from the last one sent.
    pub changed: Vec<PodStatusUpdate>,
    /// Pods no longer on this node.
    pub removed: Vec<PodRef>,
    /// Desired pods with at least one running container.
    pub running_pods: u32,
    /// Events since the last message, for the [`EventRecorder`].
    pub events: Vec<PodEvent>,
}

/// One pod's new status.
#[derive(Clone, Debug, PartialEq)]
pub struct PodStatusUpdate {
    pub pod: PodRef,
    pub status: PodStatus,
}

/// Identity of a pod on this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodRef {
    pub uid: String,
    pub namespace: String,
    pub name: String,
}

/// Where the broker is, parsed from `mqtt.json`'s URL (or `--mqtt-url`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerAddr {
    pub host: String,
    pub port: u16,
    /// `mqtts://`: TLS, verified against the CA handed out at join (or `--mqtt-ca`).
    pub tls: bool,
}

/// Parses `mqtt://HOST:PORT` (also `tcp://`) or `mqtts://HOST:PORT` (also `ssl://`); an
/// empty host means `hub_host`. `Ok(None)` for an empty URL: status reporting is off.
pub fn parse_broker_url(url: &str, hub_host: &str) -> Result<Option<BrokerAddr>, ReporterError> {
    let url = url.trim();
    if url.is_empty() {
        return Ok(None);
    }
    let bad = |reason: &str| ReporterError::Url {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let (rest, tls) = match url.split_once("://") {
        Some(("mqtt" | "tcp", rest)) => (rest, false),
        Some(("mqtts" | "ssl", rest)) => (rest, true),
        Some(("wss" | "ws", _)) => return Err(bad("MQTT over websockets is not supported")),
        Some(_) => return Err(bad("the scheme must be mqtt:// or mqtts://")),
        None => return Err(bad("expected mqtt://HOST:PORT")),
    };
    let authority = rest.trim_end_matches('/');
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| bad("expected mqtt://HOST:PORT"))?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| bad("the port must be 1-65535"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host.is_empty() { hub_host } else { host };
    if host.is_empty() {
        return Err(bad("no host, and the hub's host is unknown"));
    }
    Ok(Some(BrokerAddr {
        host: host.to_string(),
        port,
        tls,
    }))
}

/// The TLS client config for `broker`: `None` for plain MQTT; for `mqtts://` one trusting
/// exactly the CA certificates of `ca_pem`. The broker's certificate must name `broker.host`,
/// except when `ca_pem` is the hub's own CA (`hub_ca_pem`): that is the hub's embedded broker,
/// whose certificate is checked for the name `shoal-hub` like the QUIC link's (see
/// `shoal_transport::tls::hub_mqtt_client_config`).
pub fn tls_config(
    broker: &BrokerAddr,
    ca_pem: &str,
    hub_ca_pem: &str,
) -> Result<Option<Arc<rustls::ClientConfig>>, ReporterError> {
    if !broker.tls {
        return Ok(None);
    }
    if ca_pem.trim().is_empty() {
        return Err(ReporterError::NoCa {
            host: broker.host.clone(),
            port: broker.port,
        });
    }
    let cfg = if ca_pem.trim() == hub_ca_pem.trim() {
        shoal_transport::tls::hub_mqtt_client_config(ca_pem)
    } else {
        shoal_transport::tls::mqtt_client_config(ca_pem)
    };
    cfg.map(Some).map_err(|source| ReporterError::Ca { source })
}

/// MQTT client options for a node: client id `shoal-node-<node>`, persistent session, 5 s
/// keep-alive, retained QoS 1 last will `{"online":false}`, TLS with `tls`.
pub fn mqtt_options(
    node: &str,
    broker: &BrokerAddr,
    creds: &MqttCredentials,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> MqttOptions {
    let mut opts = MqttOptions::new(format!("shoal-node-{node}"), &broker.host, broker.port);
    if let Some(cfg) = tls {
        opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(cfg)));
    }
    opts.set_keep_alive(KEEP_ALIVE);
    opts.set_clean_session(false);
    if !creds.username.is_empty() {
        opts.set_credentials(&creds.username, &creds.password);
    }
    opts.set_last_will(LastWill::new(
        online_topic(node),
        marker(false),
        QoS::AtLeastOnce,
        true,
    ));
    let max = MAX_STATUS_PAYLOAD + PACKET_OVERHEAD;
    opts.set_max_packet_size(max, max);
    opts.set_request_channel_capacity(REQUEST_CAPACITY);
    opts
}

fn marker(online: bool) -> Vec<u8> {
    serde_json::to_vec(&OnlineMarker { online }).unwrap_or_default()
}

/// The parts of the node status that do not change while the agent runs.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeBase {
    pub node_name: String,
    pub node_ip: String,
    pub hostname: String,
    pub capacity: Vec<(String, String)>,
    pub allocatable: Vec<(String, String)>,
    pub runtimes: Vec<String>,
    pub agent_version: String,
    /// When the agent started (the conditions' `lastTransitionTime`).
    pub started_ms: u64,
}

impl NodeBase {
    pub fn from_info(info: &NodeInfo, started_ms: u64) -> NodeBase {
        NodeBase {
            node_name: info.node_name.clone(),
            node_ip: info.node_ip.clone(),
            hostname: info.hostname.clone(),
            capacity: info.capacity.clone(),
            allocatable: info.allocatable.clone(),
            runtimes: info.runtimes.clone(),
            agent_version: info.agent_version.clone(),
            started_ms,
        }
    }
}

/// The node status report at `now_ms`: Ready, no pressure, addresses InternalIP + Hostname.
pub fn node_status_report(base: &NodeBase, running_pods: u32, now_ms: u64) -> NodeStatusReport {
    let heartbeat = rfc3339_from_ms(now_ms);
    let since = rfc3339_from_ms(base.started_ms);
    let condition = |type_: &str, status: &str, reason: &str, message: &str| Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        last_heartbeat_time: Some(heartbeat.clone()),
        last_transition_time: Some(since.clone()),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
    };
    NodeStatusReport {
        node_name: base.node_name.clone(),
        observed_at_ms: now_ms,
        conditions: vec![
            condition(
                "Ready",
                "True",
                "KubeletReady",
                "shoal agent is posting ready status",
            ),
            condition(
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "shoal agent has sufficient memory available",
            ),
            condition(
                "DiskPressure",
                "False",
                "KubeletHasNoDiskPressure",
                "shoal agent has no disk pressure",
            ),
            condition(
                "PIDPressure",
                "False",
                "KubeletHasSufficientPID",
                "shoal agent has sufficient PID available",
            ),
        ],
        addresses: vec![
            NodeAddress {
                type_: "InternalIP".to_string(),
                address: base.node_ip.clone(),
            },
            NodeAddress {
                type_: "Hostname".to_string(),
                address: base.hostname.clone(),
            },
        ],
        capacity: quantities(&base.capacity),
        allocatable: quantities(&base.allocatable),
        runtimes: base.runtimes.clone(),
        agent_version: base.agent_version.clone(),
        pods: running_pods,
    }
}

/// The reporter actor. Start it with [`StatusReporter::start_with`].
pub struct StatusReporter {
    client: AsyncClient,
    eventloop: Option<EventLoop>,
    broker: String,
    outbox: Outbox,
    base: NodeBase,
    running_pods: u32,
    connected: bool,
    shutdown: CancellationToken,
    /// Where unsent reports are saved while offline (`None`: not saved).
    outbox_file: Option<PathBuf>,
    /// The outbox changed since it was last saved.
    dirty: bool,
    /// The file exists (so it is removed once the outbox is empty).
    saved_on_disk: bool,
    /// Pod events, aggregated and rate-limited; published while connected.
    events: EventRecorder,
}

impl StatusReporter {
    /// Starts a reporter publishing to `broker` with `creds`; it stops when `shutdown` fires.
    /// With `outbox_file`, unsent reports saved there by an earlier run are queued first and
    /// new ones are saved there while the broker is unreachable.
    pub fn start_with(
        base: NodeBase,
        broker: &BrokerAddr,
        creds: &MqttCredentials,
        tls: Option<Arc<rustls::ClientConfig>>,
        shutdown: CancellationToken,
        outbox_file: Option<PathBuf>,
    ) -> Addr<StatusReporter> {
        let opts = mqtt_options(&base.node_name, broker, creds, tls);
        let (client, eventloop) = AsyncClient::new(opts, REQUEST_CAPACITY);
        let mut outbox = Outbox::new(&base.node_name, MAX_PENDING);
        let mut events = EventRecorder::new(&base.node_name, now_ms(), rand::random());
        let mut saved_on_disk = false;
        if let Some(path) = &outbox_file {
            match load_saved(path) {
                Ok(Some(mut saved)) => {
                    info!(
                        pods = saved.pods.len(),
                        clears = saved.clears.len(),
                        events = saved.events.len(),
                        "queued status reports saved by the previous run"
                    );
                    events.restore(std::mem::take(&mut saved.events));
                    outbox.restore(saved);
                    saved_on_disk = true;
                }
                Ok(None) => {}
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "ignoring an unreadable saved status outbox");
                    saved_on_disk = true;
                }
            }
        }
        let reporter = StatusReporter {
            client,
            eventloop: Some(eventloop),
            broker: format!(
                "{}://{}:{}",
                if broker.tls { "mqtts" } else { "mqtt" },
                broker.host,
                broker.port
            ),
            outbox,
            running_pods: 0,
            connected: false,
            shutdown,
            outbox_file,
            dirty: false,
            saved_on_disk,
            events,
            base,
        };
        reporter.start()
    }

    /// Saves the unsent reports while offline; removes the file once nothing is pending.
    fn persist(&mut self) {
        let Some(path) = self.outbox_file.clone() else {
            return;
        };
        if self.connected {
            if self.saved_on_disk
                && self.outbox.pending_len() == 0
                && self.events.pending().is_empty()
            {
                match std::fs::remove_file(&path) {
                    Ok(()) => self.saved_on_disk = false,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        self.saved_on_disk = false
                    }
                    Err(e) => {
                        warn!(path = %path.display(), error = %e, "cannot remove the saved status outbox")
                    }
                }
            }
            return;
        }
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let mut saved = self.outbox.saved();
        saved.events = self.events.pending();
        // Past the size limit the oldest events go first (they matter least), then the
        // oldest pod reports (the next refresh re-sends those).
        let bytes = loop {
            let bytes = serde_json::to_vec(&saved).unwrap_or_default();
            if bytes.len() <= MAX_SAVED_BYTES || (saved.pods.is_empty() && saved.events.is_empty())
            {
                break bytes;
            }
            if !saved.events.is_empty() {
                let drop = saved.events.len().div_ceil(10);
                saved.events.drain(..drop);
            } else {
                let drop = saved.pods.len().div_ceil(10);
                saved.pods.drain(..drop);
            }
        };
        match write_atomic(&path, &bytes) {
            Ok(()) => self.saved_on_disk = true,
            Err(e) => {
                warn!(path = %path.display(), error = %e, "cannot save unsent status reports")
            }
        }
    }

    /// Hands as much of the outbox to rumqttc as its request channel takes.
    fn flush(&mut self) {
        if !self.connected {
            return;
        }
        let now = now_ms();
        while let Some((topic, kind)) = self.outbox.peek() {
            let payload = match kind {
                Pending::Online => marker(true),
                Pending::Clear => Vec::new(),
                Pending::Node => json(&node_status_report(&self.base, self.running_pods, now)),
                Pending::Pod => match self.outbox.pod(&topic) {
                    Some(entry) => json(&PodStatusReport {
                        uid: entry.uid.clone(),
                        namespace: entry.namespace.clone(),
                        name: entry.name.clone(),
                        node_name: self.base.node_name.clone(),
                        observed_at_ms: now,
                        status: entry.status.clone(),
                    }),
                    None => Vec::new(),
                },
            };
            if payload.len() > MAX_STATUS_PAYLOAD || !rumqttc::valid_topic(&topic) {
                warn!(%topic, bytes = payload.len(), "status not published: payload too large or topic invalid");
                self.outbox.sent(&topic, now);
                continue;
            }
            match self
                .client
                .try_publish(topic.clone(), QoS::AtLeastOnce, true, payload)
            {
                Ok(()) => self.outbox.sent(&topic, now),
                Err(_) => {
                    debug!(
                        waiting = self.outbox.pending_len(),
                        "MQTT request queue is full; status reports wait in the outbox"
                    );
                    break;
                }
            }
        }
    }
}

impl StatusReporter {
    /// Publishes the event reports that are due (QoS 1, not retained) while connected; a
    /// report rumqttc cannot take now goes back to the recorder.
    fn flush_events(&mut self) {
        if !self.connected {
            return;
        }
        let topic = shoal_transport::status::events_topic(&self.base.node_name);
        for report in self.events.poll(now_ms()) {
            let payload = json(&report);
            if payload.len() > shoal_transport::event_report::MAX_EVENT_PAYLOAD
                || report.validate().is_err()
            {
                warn!(reason = %report.reason, "event not published: it would be refused");
                continue;
            }
            if self
                .client
                .try_publish(topic.clone(), QoS::AtLeastOnce, false, payload)
                .is_err()
            {
                self.events.unsent(&report);
            }
        }
    }
}

fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// The saved outbox at `path`; `Ok(None)` when there is none.
fn load_saved(path: &Path) -> Result<Option<SavedOutbox>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    if bytes.len() > MAX_SAVED_BYTES {
        return Err(format!("larger than {MAX_SAVED_BYTES} bytes"));
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Writes `bytes` to a temporary file next to `path`, fsyncs it and renames it into place.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

impl Actor for StatusReporter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        if let Some(eventloop) = self.eventloop.take() {
            ctx.add_stream(mqtt_events(eventloop));
        }
        ctx.run_interval(NODE_STATUS_INTERVAL, |act, _ctx| {
            act.outbox.mark_node();
            act.outbox
                .mark_stale(now_ms(), POD_REFRESH.as_millis() as u64);
            act.flush();
        });
        ctx.run_interval(FLUSH_INTERVAL, |act, _ctx| {
            act.flush();
            act.flush_events();
            act.persist();
        });
        let shutdown = self.shutdown.clone();
        ctx.spawn(
            async move { shutdown.cancelled().await }
                .into_actor(self)
                .map(|(), _act, ctx| ctx.stop()),
        );
        info!(broker = %self.broker, "status reporter started");
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        debug!("status reporter stopped");
    }
}

impl Handler<PodStatuses> for StatusReporter {
    type Result = ();

    fn handle(&mut self, msg: PodStatuses, _ctx: &mut Context<Self>) {
        for update in msg.changed {
            let pod = update.pod;
            self.outbox
                .update_pod(&pod.uid, &pod.namespace, &pod.name, update.status);
        }
        for pod in msg.removed {
            self.outbox.remove_pod(&pod.uid, &pod.namespace, &pod.name);
        }
        if msg.running_pods != self.running_pods {
            self.running_pods = msg.running_pods;
            self.outbox.mark_node();
        }
        let now = now_ms();
        for ev in msg.events {
            self.events.record(ev, now);
        }
        self.dirty = true;
        self.flush();
        self.flush_events();
    }
}

impl Handler<crate::usage::PublishMetrics> for StatusReporter {
    type Result = ();

    /// Usage goes out at most once (QoS 0), retained so a dashboard that subscribes late sees
    /// the latest figures; it is never queued while offline: an old sample is worth nothing.
    fn handle(&mut self, msg: crate::usage::PublishMetrics, _ctx: &mut Context<Self>) {
        if !self.connected {
            return;
        }
        let payload = json(&msg.0);
        if payload.len() > MAX_STATUS_PAYLOAD {
            warn!(
                bytes = payload.len(),
                "usage report not published: too large"
            );
            return;
        }
        let topic = shoal_transport::status::metrics_topic(&self.base.node_name);
        if self
            .client
            .try_publish(topic, QoS::AtMostOnce, true, payload)
            .is_err()
        {
            debug!("MQTT request queue is full; this usage report is skipped");
        }
    }
}

impl StreamHandler<Result<Event, ConnectionError>> for StatusReporter {
    fn handle(&mut self, item: Result<Event, ConnectionError>, _ctx: &mut Context<Self>) {
        match item {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                info!(broker = %self.broker, "connected to the MQTT broker");
                self.connected = true;
                self.outbox.mark_all();
                self.flush();
                self.flush_events();
            }
            Ok(_) => {}
            Err(e) => {
                if self.connected {
                    warn!(broker = %self.broker, error = %error_chain(&e), "lost the MQTT connection; reconnecting");
                } else {
                    warn!(broker = %self.broker, error = %error_chain(&e), "cannot reach the MQTT broker; retrying");
                }
                self.connected = false;
            }
        }
    }

    fn finished(&mut self, _ctx: &mut Context<Self>) {
        debug!("MQTT event stream ended");
    }
}

/// rumqttc's event loop as a stream; after an error the next poll (a reconnect) is delayed by
/// a back-off that resets on every ConnAck.
fn mqtt_events(
    eventloop: EventLoop,
) -> impl futures::Stream<Item = Result<Event, ConnectionError>> {
    struct State {
        eventloop: EventLoop,
        backoff: Backoff,
        wait: Option<Duration>,
    }
    let state = State {
        eventloop,
        backoff: Backoff::new(LINK),
        wait: None,
    };
    futures::stream::unfold(state, |mut st| async move {
        if let Some(wait) = st.wait.take() {
            tokio::time::sleep(wait).await;
        }
        let event = st.eventloop.poll().await;
        match &event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => st.backoff.reset(),
            Ok(_) => {}
            Err(_) => st.wait = Some(st.backoff.next_delay()),
        }
        Some((event, st))
    })
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use bytes::BytesMut;
    use rumqttc::{ConnAck, ConnectReturnCode, PubAck};
    use shoal_transport::status::pod_status_topic;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::mpsc;

    use super::*;

    /// What the fake broker saw.
    #[derive(Debug)]
    enum Seen {
        Connect(rumqttc::Connect),
        Publish(rumqttc::Publish),
        Disconnect,
        Closed,
    }

    /// A one-connection MQTT 3.1.1 broker on 127.0.0.1: acks CONNECT, QoS 1 PUBLISH and
    /// PINGREQ, and reports every packet. Ends when the client goes.
    async fn fake_broker() -> (
        u16,
        mpsc::UnboundedReceiver<Seen>,
        tokio::task::JoinHandle<()>,
    ) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = BytesMut::new();
            loop {
                let packet = match rumqttc::Packet::read(&mut buf, 1 << 20) {
                    Ok(p) => p,
                    Err(rumqttc::Error::InsufficientBytes(_)) => {
                        if matches!(sock.read_buf(&mut buf).await, Ok(0) | Err(_)) {
                            let _ = tx.send(Seen::Closed);
                            return;
                        }
                        continue;
                    }
                    Err(e) => panic!("bad packet from the agent: {e:?}"),
                };
                let mut out = BytesMut::new();
                match packet {
                    rumqttc::Packet::Connect(c) => {
                        rumqttc::Packet::ConnAck(ConnAck::new(ConnectReturnCode::Success, false))
                            .write(&mut out, 1 << 20)
                            .expect("connack");
                        let _ = tx.send(Seen::Connect(c));
                    }
                    rumqttc::Packet::Publish(p) => {
                        if p.qos == QoS::AtLeastOnce {
                            rumqttc::Packet::PubAck(PubAck::new(p.pkid))
                                .write(&mut out, 1 << 20)
                                .expect("puback");
                        }
                        let _ = tx.send(Seen::Publish(p));
                    }
                    rumqttc::Packet::PingReq => {
                        rumqttc::Packet::PingResp
                            .write(&mut out, 1 << 20)
                            .expect("pingresp");
                    }
                    rumqttc::Packet::Disconnect => {
                        let _ = tx.send(Seen::Disconnect);
                    }
                    _ => {}
                }
                if !out.is_empty() && sock.write_all(&out).await.is_err() {
                    let _ = tx.send(Seen::Closed);
                    return;
                }
            }
        });
        (port, rx, task)
    }

    fn base() -> NodeBase {
        NodeBase {
            node_name: "edge-1".into(),
            node_ip: "127.0.0.2".into(),
            hostname: "dev1".into(),
            capacity: vec![("cpu".into(), "2".into())],
            allocatable: vec![("cpu".into(), "2".into())],
            runtimes: vec!["fake".into()],
            agent_version: "shoal-agent/test".into(),
            started_ms: 0,
        }
    }

    fn creds() -> MqttCredentials {
        MqttCredentials {
            url: "mqtt://:1883".into(),
            username: "node-edge-1".into(),
            password: "pw".into(),
            ca_pem: String::new(),
        }
    }

    fn pod(uid: &str, name: &str) -> PodRef {
        PodRef {
            uid: uid.into(),
            namespace: "default".into(),
            name: name.into(),
        }
    }

    /// Publishes seen until `pred` matches one; returns it.
    async fn until_publish(
        rx: &mut mpsc::UnboundedReceiver<Seen>,
        mut pred: impl FnMut(&rumqttc::Publish) -> bool,
    ) -> rumqttc::Publish {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Seen::Publish(p))) if pred(&p) => return p,
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => panic!("the expected publish never came"),
            }
        }
    }

    #[actix_rt::test]
    async fn status_changed_while_offline_is_saved_and_published_after_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join(OUTBOX_FILE);
        // Nothing listens on this port: the broker is down.
        let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let dead_port = dead.local_addr().expect("addr").port();
        drop(dead);
        let shutdown = CancellationToken::new();
        let offline = StatusReporter::start_with(
            base(),
            &BrokerAddr {
                host: "127.0.0.1".into(),
                port: dead_port,
                tls: false,
            },
            &creds(),
            None,
            shutdown.clone(),
            Some(file.clone()),
        );
        offline
            .send(PodStatuses {
                changed: vec![PodStatusUpdate {
                    pod: pod("u1", "job"),
                    status: PodStatus {
                        phase: "Succeeded".into(),
                        ..Default::default()
                    },
                }],
                removed: vec![pod("u0", "gone")],
                running_pods: 0,
                events: vec![PodEvent {
                    uid: "u1".into(),
                    namespace: "default".into(),
                    name: "job".into(),
                    field_path: "spec.containers{app}".into(),
                    warning: true,
                    reason: "Failed",
                    message: "Error: no such image".into(),
                }],
            })
            .await
            .expect("reporter alive");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !file.exists() {
            assert!(Instant::now() < deadline, "the outbox was never saved");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        shutdown.cancel();
        tokio::time::sleep(Duration::from_millis(100)).await;

        // The agent restarts and the broker is back: the saved reports go out, then the
        // file is gone.
        let (port, mut rx, _broker) = fake_broker().await;
        let shutdown = CancellationToken::new();
        let _online = StatusReporter::start_with(
            base(),
            &BrokerAddr {
                host: "127.0.0.1".into(),
                port,
                tls: false,
            },
            &creds(),
            None,
            shutdown.clone(),
            Some(file.clone()),
        );
        let mut seen = std::collections::HashMap::new();
        while seen.len() < 2 {
            let p = until_publish(&mut rx, |p| p.topic.contains("/pods/")).await;
            seen.insert(p.topic.clone(), p);
        }
        let job = &seen["shoal/v1/nodes/edge-1/pods/default/job/status"];
        let report: PodStatusReport = serde_json::from_slice(&job.payload).expect("pod report");
        assert_eq!(report.status.phase, "Succeeded");
        let ev = until_publish(&mut rx, |p| p.topic == "shoal/v1/nodes/edge-1/events").await;
        let ev: shoal_transport::event_report::EventReport =
            serde_json::from_slice(&ev.payload).expect("event report");
        assert_eq!(
            (ev.reason.as_str(), ev.message.as_str()),
            ("Failed", "Error: no such image"),
            "the event recorded offline survived the restart"
        );
        let gone = &seen["shoal/v1/nodes/edge-1/pods/default/gone/status"];
        assert!(
            gone.payload.is_empty() && gone.retain,
            "the removed pod is cleared"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while file.exists() {
            assert!(
                Instant::now() < deadline,
                "the saved outbox was never removed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        shutdown.cancel();
    }

    #[actix_rt::test]
    async fn publishes_online_node_and_pod_status_retained_and_clears_removed_pods() {
        let (port, mut rx, broker) = fake_broker().await;
        let shutdown = CancellationToken::new();
        let broker_addr = BrokerAddr {
            host: "127.0.0.1".into(),
            port,
            tls: false,
        };
        let reporter = StatusReporter::start_with(
            base(),
            &broker_addr,
            &creds(),
            None,
            shutdown.clone(),
            None,
        );

        let Some(Seen::Connect(connect)) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a connect")
        else {
            panic!("first packet must be CONNECT");
        };
        assert_eq!(connect.client_id, "shoal-node-edge-1");
        assert!(!connect.clean_session);
        assert_eq!(connect.keep_alive, 15);
        let will = connect.last_will.expect("a last will");
        assert_eq!(will.topic, "shoal/v1/nodes/edge-1/online");
        assert_eq!(&will.message[..], br#"{"online":false}"#);
        assert!(will.retain && will.qos == QoS::AtLeastOnce);
        assert_eq!(
            connect.login.map(|l| l.username).as_deref(),
            Some("node-edge-1")
        );

        let online = until_publish(&mut rx, |p| p.topic.ends_with("/online")).await;
        assert_eq!(&online.payload[..], br#"{"online":true}"#);
        assert!(online.retain && online.qos == QoS::AtLeastOnce);

        reporter
            .send(PodStatuses {
                changed: vec![PodStatusUpdate {
                    pod: pod("u1", "web"),
                    status: PodStatus {
                        phase: "Running".into(),
                        ..Default::default()
                    },
                }],
                removed: vec![],
                running_pods: 1,
                events: vec![],
            })
            .await
            .expect("reporter alive");
        let topic = pod_status_topic("edge-1", "default", "web");
        let p = until_publish(&mut rx, |p| p.topic == topic).await;
        assert!(p.retain && p.qos == QoS::AtLeastOnce);
        let report: PodStatusReport = serde_json::from_slice(&p.payload).expect("pod report");
        assert_eq!(report.uid, "u1");
        assert_eq!(report.node_name, "edge-1");
        assert_eq!(report.status.phase, "Running");
        let n = until_publish(&mut rx, |p| {
            p.topic == "shoal/v1/nodes/edge-1/status"
                && serde_json::from_slice::<NodeStatusReport>(&p.payload).is_ok_and(|r| r.pods == 1)
        })
        .await;
        assert!(n.retain);

        // Events go out on the events topic, QoS 1, not retained, aggregated.
        let backoff = PodEvent {
            uid: "u1".into(),
            namespace: "default".into(),
            name: "web".into(),
            field_path: "spec.containers{app}".into(),
            warning: true,
            reason: "BackOff",
            message: "Back-off restarting failed container app".into(),
        };
        reporter
            .send(PodStatuses {
                changed: vec![],
                removed: vec![],
                running_pods: 1,
                events: vec![backoff.clone(), backoff],
            })
            .await
            .expect("reporter alive");
        let e = until_publish(&mut rx, |p| p.topic == "shoal/v1/nodes/edge-1/events").await;
        assert!(!e.retain && e.qos == QoS::AtLeastOnce);
        let report: shoal_transport::event_report::EventReport =
            serde_json::from_slice(&e.payload).expect("event report");
        assert_eq!(report.count, 2, "both occurrences in one series");
        assert_eq!(report.type_, "Warning");
        assert_eq!(report.involved_object.uid, "u1");

        reporter
            .send(PodStatuses {
                changed: vec![],
                removed: vec![pod("u1", "web")],
                running_pods: 0,
                events: vec![],
            })
            .await
            .expect("reporter alive");
        let cleared = until_publish(&mut rx, |p| p.topic == topic).await;
        assert!(
            cleared.payload.is_empty() && cleared.retain,
            "empty retained payload clears"
        );

        // Stopping drops the connection without DISCONNECT, so the broker fires the will.
        shutdown.cancel();
        let deadline = Instant::now() + Duration::from_secs(10);
        while reporter.connected() {
            assert!(Instant::now() < deadline, "reporter did not stop");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut saw_disconnect = false;
        loop {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
                Ok(Some(Seen::Disconnect)) => saw_disconnect = true,
                Ok(Some(Seen::Closed)) | Ok(None) => break,
                Ok(Some(_)) => {}
                Err(_) => panic!("the connection was not closed"),
            }
        }
        assert!(!saw_disconnect, "no clean DISCONNECT: the will must fire");
        broker.await.expect("broker task");
    }

    #[actix_rt::test]
    async fn an_unreachable_broker_never_blocks_the_reporter() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let shutdown = CancellationToken::new();
        let broker = BrokerAddr {
            host: "127.0.0.1".into(),
            port,
            tls: false,
        };
        let reporter =
            StatusReporter::start_with(base(), &broker, &creds(), None, shutdown.clone(), None);
        let started = Instant::now();
        for round in 0..20u32 {
            let changed = (0..500u32)
                .map(|i| PodStatusUpdate {
                    pod: pod(&format!("u{i}"), &format!("p{i}")),
                    status: PodStatus {
                        phase: format!("round-{round}"),
                        ..Default::default()
                    },
                })
                .collect();
            reporter
                .send(PodStatuses {
                    changed,
                    removed: vec![],
                    running_pods: round,
                    events: vec![],
                })
                .await
                .expect("reporter alive");
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "handing statuses over must not wait for the broker"
        );
        shutdown.cancel();
        let deadline = Instant::now() + Duration::from_secs(10);
        while reporter.connected() {
            assert!(Instant::now() < deadline, "reporter did not stop");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[test]
    fn broker_urls() {
        let ok = |url: &str| parse_broker_url(url, "hub.local").expect("valid");
        assert_eq!(ok(""), None);
        assert_eq!(
            ok("mqtt://:1883"),
            Some(BrokerAddr {
                host: "hub.local".into(),
                port: 1883,
                tls: false,
            })
        );
        assert_eq!(
            ok("mqtt://127.0.0.1:1884/"),
            Some(BrokerAddr {
                host: "127.0.0.1".into(),
                port: 1884,
                tls: false,
            })
        );
        assert_eq!(
            ok("tcp://[::1]:1883").map(|b| b.host),
            Some("::1".to_string())
        );
        assert_eq!(
            ok("mqtts://broker.local:8883"),
            Some(BrokerAddr {
                host: "broker.local".into(),
                port: 8883,
                tls: true,
            })
        );
        assert!(ok("ssl://:8883").is_some_and(|b| b.tls && b.host == "hub.local"));
        for bad in [
            "wss://h:8883",
            "http://h:1",
            "h:1883",
            "mqtt://h",
            "mqtt://h:0",
        ] {
            assert!(parse_broker_url(bad, "hub").is_err(), "{bad}");
        }
        assert!(parse_broker_url("mqtt://:1883", "").is_err());
    }

    #[test]
    fn options_carry_identity_session_and_will() {
        let creds = MqttCredentials {
            url: "mqtt://:1883".into(),
            username: "edge-1".into(),
            password: "pw".into(),
            ca_pem: String::new(),
        };
        let broker = BrokerAddr {
            host: "127.0.0.1".into(),
            port: 1883,
            tls: false,
        };
        let opts = mqtt_options("edge-1", &broker, &creds, None);
        assert_eq!(opts.client_id(), "shoal-node-edge-1");
        assert!(!opts.clean_session());
        assert_eq!(opts.keep_alive(), Duration::from_secs(15));
        let will = opts.last_will().expect("will");
        assert_eq!(will.topic, "shoal/v1/nodes/edge-1/online");
        assert_eq!(&will.message[..], br#"{"online":false}"#);
        assert!(will.retain);
        assert_eq!(will.qos, QoS::AtLeastOnce);
        assert_eq!(
            opts.credentials().map(|l| l.username),
            Some("edge-1".into())
        );
        assert_eq!(opts.request_channel_capacity(), REQUEST_CAPACITY);
    }

    #[test]
    fn node_status_is_ready_with_addresses() {
        let base = NodeBase {
            node_name: "edge-1".into(),
            node_ip: "127.0.0.2".into(),
            hostname: "dev1".into(),
            capacity: vec![("cpu".into(), "2".into())],
            allocatable: vec![("cpu".into(), "2".into())],
            runtimes: vec!["podman".into()],
            agent_version: "shoal-agent/0.1.0".into(),
            started_ms: 0,
        };
        let r = node_status_report(&base, 3, 951_782_400_000);
        let types: Vec<(&str, &str)> = r
            .conditions
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str()))
            .collect();
        assert_eq!(
            types,
            [
                ("Ready", "True"),
                ("MemoryPressure", "False"),
                ("DiskPressure", "False"),
                ("PIDPressure", "False")
            ]
        );
        assert_eq!(r.conditions[0].reason.as_deref(), Some("KubeletReady"));
        assert_eq!(
            r.conditions[0].message.as_deref(),
            Some("shoal agent is posting ready status")
        );
        assert_eq!(
            r.conditions[0].last_heartbeat_time.as_deref(),
            Some("2000-02-29T00:00:00Z")
        );
        assert_eq!(r.addresses[0].type_, "InternalIP");
        assert_eq!(r.addresses[0].address, "127.0.0.2");
        assert_eq!(r.addresses[1].type_, "Hostname");
        assert_eq!(r.pods, 3);
        assert_eq!(r.capacity.get("cpu").map(String::as_str), Some("2"));
    }
}
