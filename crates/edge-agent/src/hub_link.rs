//! HubLink: the agent's sync connection to the hub, kept up for as long as the agent runs.
//!
//! One *session* = one mTLS QUIC connection ([`quic::mtls_client_config`]) with one
//! bi-stream: the agent writes an [`AgentHello`] (its [`NodeInfo`] and the last revision it
//! persisted), then reads [`HubMessage`]s. For each `Snapshot`/`Delta`:
//!
//! 1. [`DesiredSet::plan`] turns it into a [`crate::desired::DesiredWrite`] (pure);
//! 2. the [`LocalStore`] persists that write durably (fsync, on the blocking pool);
//! 3. the set commits it in memory and the agent writes [`AgentMessage::Ack`] with the revision;
//! 4. the PodManager gets the complete new [`DesiredPods`].
//!
//! Design: persisting comes before the ack, so anything the hub believes the node has survives
//! a power cut; a failed write ends the session without an ack and the hub resends after the
//! reconnect. `Ping`s need nothing.
//!
//! Alongside the sync stream, the session serves the logs/exec streams the hub opens
//! ([`crate::streams`]).
//!
//! When a session ends (error, hub closed the stream, idle timeout) the actor schedules the next
//! one after a [`crate::backoff::LINK`] back-off (0.5 s doubling to 30 s, ±30 %), which a
//! session that stayed up for a minute resets. The session future owns the [`DesiredSet`] while
//! it runs and hands it back when it ends.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use shoal_actors::DesiredPods;
use shoal_transport::frame::{self, FrameError, MAX_FRAME_LEN};
use shoal_transport::quic::{self, QuicError};
use shoal_transport::wire::{AgentHello, AgentMessage, HubMessage, NodeInfo};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::backoff::{Backoff, LINK};
use crate::desired::DesiredSet;
use crate::error_chain;
use crate::hub_addr::{resolve_hub, ResolveError};
use crate::local_store::{LocalStore, StoreError};
use crate::services::{DesiredServices, ServiceSet, ServicesWrite, SharedServices};

/// Why a sync session ended.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the hub address could not be resolved")]
    Resolve {
        #[source]
        source: ResolveError,
    },
    #[error("connecting to the hub failed")]
    Connect {
        #[source]
        source: QuicError,
    },
    #[error("opening the sync stream failed")]
    OpenStream {
        #[source]
        source: quinn::ConnectionError,
    },
    #[error("the sync stream failed while {what}")]
    Frame {
        what: &'static str,
        #[source]
        source: FrameError,
    },
    #[error("persisting desired pods of revision {revision} failed; not acknowledged")]
    Persist {
        revision: u64,
        #[source]
        source: StoreError,
    },
    #[error("the hub closed the sync stream")]
    HubClosed,
}

/// How a session went.
#[derive(Debug)]
struct SessionEnd {
    /// How long the connection was up, if it came up at all.
    connected_for: Option<Duration>,
    result: Result<(), LinkError>,
}

/// What the link needs; every session gets a clone.
#[derive(Clone)]
pub struct LinkSetup {
    /// Hub address, `HOST:PORT`, resolved at every attempt.
    pub hub: String,
    /// The agent's QUIC client endpoint.
    pub endpoint: quinn::Endpoint,
    /// mTLS client config from the node's credentials.
    pub client_config: quinn::ClientConfig,
    /// Sent in every hello.
    pub node: NodeInfo,
    /// Where desired pods are persisted before they are acked.
    pub store: LocalStore,
    /// Gets the complete desired set after every change.
    pub pod_manager: Recipient<DesiredPods>,
    /// Serves the logs and exec streams the hub opens on the connection ([`crate::streams`]).
    pub runtime: std::sync::Arc<dyn crate::runtime::ContainerRuntime>,
    /// Where Services go (see [`ServicesLink`]).
    pub services: ServicesLink,
}

/// The Services half of the link: the set (persisted like pods, before the ack), who gets it
/// after each change, and the shared copy pods' environment variables are computed from.
#[derive(Clone)]
pub struct ServicesLink {
    pub set: Arc<Mutex<ServiceSet>>,
    pub shared: SharedServices,
    pub recipients: Vec<Recipient<DesiredServices>>,
}

impl ServicesLink {
    /// Persists a `Services` message, commits it, and hands the new set out. Returns the
    /// revision to ack.
    async fn apply(
        &self,
        store: &LocalStore,
        write: ServicesWrite,
        revision: u64,
    ) -> Result<(), LinkError> {
        let write = store
            .write_services_async(write)
            .await
            .map_err(|source| LinkError::Persist { revision, source })?;
        let plans = {
            let mut set = self.set.lock().unwrap_or_else(|p| p.into_inner());
            set.commit(write);
            set.plans()
        };
        *self.shared.write().unwrap_or_else(|p| p.into_inner()) = plans.clone();
        for r in &self.recipients {
            if r.send(DesiredServices {
                services: plans.clone(),
            })
            .await
            .is_err()
            {
                debug!("a services recipient is gone");
            }
        }
        Ok(())
    }
}

/// The HubLink actor.
pub struct HubLink {
    params: LinkSetup,
    /// `None` while a session owns it.
    desired: Option<DesiredSet>,
    backoff: Backoff,
    shutdown: CancellationToken,
}

impl HubLink {
    /// A link set up by `setup`, starting from `desired` (what the local store holds). Stops
    /// when `shutdown` fires.
    pub fn new(setup: LinkSetup, desired: DesiredSet, shutdown: CancellationToken) -> HubLink {
        HubLink {
            params: setup,
            desired: Some(desired),
            backoff: Backoff::new(LINK),
            shutdown,
        }
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        let Some(desired) = self.desired.take() else {
            return; // a session is running
        };
        let params = self.params.clone();
        ctx.spawn(
            session(params, desired)
                .into_actor(self)
                .map(|(desired, end), act, ctx| {
                    act.desired = Some(desired);
                    if let Some(lasted) = end.connected_for {
                        act.backoff.session_ended(lasted);
                    }
                    let delay = act.backoff.next_delay();
                    match &end.result {
                        Ok(()) => info!(retry_in = ?delay, "hub session ended"),
                        Err(e) => warn!(
                            hub = %act.params.hub,
                            error = %error_chain(e),
                            retry_in = ?delay,
                            "hub session ended; reconnecting"
                        ),
                    }
                    ctx.run_later(delay, |act, ctx| act.connect(ctx));
                }),
        );
    }
}

impl Actor for HubLink {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let shutdown = self.shutdown.clone();
        ctx.spawn(
            async move { shutdown.cancelled().await }
                .into_actor(self)
                .map(|(), _act, ctx| ctx.stop()),
        );
        self.connect(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        debug!("hub link stopped");
    }
}

/// One session; always hands the desired set back.
async fn session(params: LinkSetup, mut desired: DesiredSet) -> (DesiredSet, SessionEnd) {
    let mut connected_at = None;
    let result = run_session(&params, &mut desired, &mut connected_at).await;
    let end = SessionEnd {
        connected_for: connected_at.map(|t: Instant| t.elapsed()),
        result,
    };
    (desired, end)
}

async fn run_session(
    params: &LinkSetup,
    desired: &mut DesiredSet,
    connected_at: &mut Option<Instant>,
) -> Result<(), LinkError> {
    let addr = resolve_hub(&params.hub)
        .await
        .map_err(|source| LinkError::Resolve { source })?;
    let conn = quic::connect(&params.endpoint, params.client_config.clone(), addr)
        .await
        .map_err(|source| LinkError::Connect { source })?;
    *connected_at = Some(Instant::now());
    info!(hub = %params.hub, last_acked_revision = desired.revision(), "connected to the hub");
    // Logs and exec requests arrive on streams the hub opens on this connection.
    let streams = tokio::spawn(crate::streams::serve(conn.clone(), params.runtime.clone()));
    let result = sync(params, &conn, desired).await;
    streams.abort();
    conn.close(0u32.into(), b"agent reconnecting");
    result
}

async fn sync(
    params: &LinkSetup,
    conn: &quinn::Connection,
    desired: &mut DesiredSet,
) -> Result<(), LinkError> {
    let frame_err = |what| move |source| LinkError::Frame { what, source };
    let (mut send, mut recv) = conn
        .open_bi()
        .await
        .map_err(|source| LinkError::OpenStream { source })?;
    let hello = AgentHello {
        node: params.node.clone(),
        last_acked_revision: desired.revision(),
    };
    frame::write_frame(&mut send, &hello)
        .await
        .map_err(frame_err("sending the hello"))?;
    loop {
        let msg = frame::read_frame::<HubMessage>(&mut recv, MAX_FRAME_LEN)
            .await
            .map_err(frame_err("reading a hub message"))?
            .ok_or(LinkError::HubClosed)?;
        if let HubMessage::Services { revision, .. } = &msg {
            let revision = *revision;
            let write = params
                .services
                .set
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .plan(&msg);
            if let Some(write) = write {
                params
                    .services
                    .apply(&params.store, write, revision)
                    .await?;
                frame::write_frame(&mut send, &AgentMessage::Ack { revision })
                    .await
                    .map_err(frame_err("sending an ack"))?;
            }
            continue;
        }
        let Some(write) = desired.plan(msg) else {
            continue; // Ping
        };
        let revision = write.revision;
        let write = params
            .store
            .write_async(write)
            .await
            .map_err(|source| LinkError::Persist { revision, source })?;
        desired.commit(write);
        frame::write_frame(&mut send, &AgentMessage::Ack { revision })
            .await
            .map_err(frame_err("sending an ack"))?;
        debug!(
            revision,
            pods = desired.len(),
            "desired pods persisted and acknowledged"
        );
        let update = DesiredPods {
            revision,
            pods: desired.plans(),
        };
        // Waiting for the PodManager to take the update bounds its mailbox; if it is gone the
        // agent is stopping and this session is about to be dropped anyway.
        if params.pod_manager.send(update).await.is_err() {
            debug!("pod manager is gone");
        }
    }
}
