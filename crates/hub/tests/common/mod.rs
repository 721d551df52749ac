//! An in-process cluster for controller tests: a real hub (store, API, QUIC, embedded MQTT
//! broker, scheduler, controllers) and a few real agents on the `FakeRuntime`, all on
//! loopback in one actix System, with temporary data directories.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use shoal_edge_agent::runtime::FakeRuntime;
use shoal_edge_agent::{run_with_runtime, AgentConfig, ShutdownToken};
use shoal_hub::api::admission::{self, FieldValidation};
use shoal_hub::hub::{self, Hub, HubConfig};
use shoal_hub::resources::{ResourceInfo, NODES, PODS};
use shoal_hub::store::Store;

pub struct Cluster {
    pub hub: Hub,
    pub store: Store,
    pub agents: Vec<Agent>,
    dir: tempfile::TempDir,
}

pub struct Agent {
    pub name: String,
    pub runtime: Arc<FakeRuntime>,
    stop: ShutdownToken,
    task: actix_rt::task::JoinHandle<()>,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

impl Cluster {
    /// A hub and `nodes` agents named `node-0`, `node-1`, ..., all Ready.
    pub async fn start(nodes: usize) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let loopback = |port: u16| -> SocketAddr { SocketAddr::from(([127, 0, 0, 1], port)) };
        let cfg = HubConfig {
            data_dir: dir.path().join("hub"),
            api_addr: loopback(0),
            quic_addr: loopback(0),
            mqtt_addr: loopback(free_port()),
            mqtt_url: None,
            mqtt_ca: None,
            mqtts_addr: None,
            mqtt_agent_url: None,
            mqtt_summaries: false,
            node_lifecycle: Default::default(),
            service_network: Default::default(),
        };
        let hub = hub::start(cfg).await.expect("hub starts");
        let store = hub.store.clone();
        let mut c = Cluster {
            hub,
            store,
            agents: Vec::new(),
            dir,
        };
        for i in 0..nodes {
            c.add_agent(&format!("node-{i}"), &[]).await;
        }
        let names: Vec<String> = c.agents.iter().map(|a| a.name.clone()).collect();
        for n in names {
            c.wait_node_ready(&n).await;
        }
        c
    }

    pub async fn add_agent(&mut self, name: &str, labels: &[(&str, &str)]) {
        let mut cfg = AgentConfig::new(
            self.hub.quic_addr.to_string(),
            self.hub.join_token_file.clone(),
            name,
            self.dir.path().join(name),
        );
        cfg.labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let runtime = Arc::new(FakeRuntime::new());
        let stop = ShutdownToken::new();
        let (rt, st) = (runtime.clone(), stop.clone());
        let task = actix_rt::spawn(async move {
            if let Err(e) = run_with_runtime(cfg, rt, st).await {
                eprintln!("agent stopped: {e:#}");
            }
        });
        self.agents.push(Agent {
            name: name.to_string(),
            runtime,
            stop,
            task,
        });
    }

    pub async fn wait_node_ready(&self, name: &str) {
        let store = self.store.clone();
        let n = name.to_string();
        wait_for(
            &format!("node {name} to be Ready"),
            Duration::from_secs(30),
            || {
                store.get(&NODES, "", &n).is_some_and(|o| {
                    o.value()
                        .pointer("/status/conditions")
                        .and_then(Value::as_array)
                        .is_some_and(|cs| {
                            cs.iter()
                                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                        })
                })
            },
        )
        .await;
    }

    /// Creates an object the way the API does (normalize, defaults, validation).
    pub async fn create(&self, res: &'static ResourceInfo, ns: &str, v: Value) -> Value {
        let (mut v, _) =
            admission::normalize(res, v, FieldValidation::Strict).expect("valid object");
        admission::prepare_create(res, &mut v).expect("admitted");
        self.store
            .create(res, ns, v)
            .await
            .expect("created")
            .value()
    }

    /// Read-modify-write of an object's spec (what `kubectl apply`/`edit` does).
    pub async fn update(
        &self,
        res: &'static ResourceInfo,
        ns: &str,
        name: &str,
        f: impl FnOnce(&mut Value) + Send + 'static,
    ) {
        self.store
            .mutate(
                res,
                ns,
                name,
                Box::new(move |v| {
                    let mut v = v.clone();
                    f(&mut v);
                    Ok(Some(v))
                }),
            )
            .await
            .expect("updated");
    }

    /// Pods in `ns` whose labels include `app=<app>`.
    pub fn pods(&self, ns: &str, app: &str) -> Vec<Value> {
        self.store
            .list(&PODS, Some(ns), &|o| o.label("app") == Some(app), None, 0)
            .items
            .iter()
            .map(|o| o.value())
            .collect()
    }

    pub async fn stop(self) {
        for a in &self.agents {
            a.stop.cancel();
        }
        for a in self.agents {
            let _ = tokio::time::timeout(Duration::from_secs(5), a.task).await;
        }
        self.hub.stop().await;
    }
}

impl Agent {
    /// Stops the agent (its MQTT last will marks the node offline).
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

pub fn is_ready(p: &Value) -> bool {
    p.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// Polls `check` every 20 ms until it holds, or panics after `limit`.
pub async fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
