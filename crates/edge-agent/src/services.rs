//! The cluster's Services as this agent knows them, the pure rules for folding a
//! [`HubMessage::Services`] into them, and the Service environment variables pods get.
//!
//! Data flow: the HubLink reads a `Services` message, asks [`ServiceSet::plan`] for the
//! [`ServicesWrite`], has the local store persist it, [`ServiceSet::commit`]s it, acks, and sends
//! the complete set as [`DesiredServices`] to the service proxy, the DNS server and the pod
//! manager. At start the set comes from the local store, so the proxy and DNS work before (and
//! without) the hub.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use actix::Message;
use shoal_transport::wire::{HubMessage, ServicePlan};

/// `namespace/name`.
pub fn key(plan: &ServicePlan) -> String {
    format!("{}/{}", plan.namespace, plan.name)
}

/// The complete set of Services, sent whenever it changes (level-triggered).
#[derive(Clone, Debug, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub struct DesiredServices {
    pub services: Vec<ServicePlan>,
}

/// One change to the set, as the local store persists it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServicesWrite {
    /// Remove everything first (a full set from the hub).
    pub replace_all: bool,
    pub puts: Vec<ServicePlan>,
    /// Keys (`namespace/name`) to remove.
    pub removes: Vec<String>,
}

/// Services by key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceSet {
    services: BTreeMap<String, ServicePlan>,
}

impl ServiceSet {
    pub fn from_plans(plans: impl IntoIterator<Item = ServicePlan>) -> ServiceSet {
        ServiceSet {
            services: plans.into_iter().map(|p| (key(&p), p)).collect(),
        }
    }

    pub fn plans(&self) -> Vec<ServicePlan> {
        self.services.values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.services.len()
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// The write a `Services` message implies; `None` for any other message.
    pub fn plan(&self, msg: &HubMessage) -> Option<ServicesWrite> {
        let HubMessage::Services {
            full,
            upserts,
            deletes,
            ..
        } = msg
        else {
            return None;
        };
        let mut puts: Vec<ServicePlan> = Vec::new();
        for p in upserts {
            match puts.iter_mut().find(|q| key(q) == key(p)) {
                Some(slot) => *slot = p.clone(),
                None => puts.push(p.clone()),
            }
        }
        puts.retain(|p| !deletes.contains(&key(p)));
        Some(ServicesWrite {
            replace_all: *full,
            puts,
            removes: deletes.clone(),
        })
    }

    /// Applies a write (after it was persisted).
    pub fn commit(&mut self, write: ServicesWrite) {
        if write.replace_all {
            self.services.clear();
        }
        for k in &write.removes {
            self.services.remove(k);
        }
        for p in write.puts {
            self.services.insert(key(&p), p);
        }
    }
}

/// The agent's current Services, shared read-only with whoever needs them when it needs them
/// (the pod manager, for environment variables when a container starts).
pub type SharedServices = Arc<RwLock<Vec<ServicePlan>>>;

/// `my-svc` -> `MY_SVC`.
fn env_name(s: &str) -> String {
    s.to_ascii_uppercase().replace('-', "_")
}

/// The variables Kubernetes injects for the Services of `namespace` (`enableServiceLinks`):
/// `<NAME>_SERVICE_HOST`, `<NAME>_SERVICE_PORT`, `<NAME>_SERVICE_PORT_<PORT>` and the Docker
/// link style `<NAME>_PORT`, `<NAME>_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]`. Headless and
/// ExternalName Services have no address and get none. Sorted by name, so a container's
/// environment does not depend on the order the hub sent Services in.
pub fn env_vars(services: &[ServicePlan], namespace: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for s in services.iter().filter(|s| s.namespace == namespace) {
        let ip = &s.cluster_ip;
        if ip.is_empty() || ip == "None" || s.ports.is_empty() {
            continue;
        }
        let n = env_name(&s.name);
        let first = &s.ports[0];
        out.push((format!("{n}_SERVICE_HOST"), ip.clone()));
        out.push((format!("{n}_SERVICE_PORT"), first.port.to_string()));
        for p in s.ports.iter().filter(|p| !p.name.is_empty()) {
            out.push((
                format!("{n}_SERVICE_PORT_{}", env_name(&p.name)),
                p.port.to_string(),
            ));
        }
        let proto = |p: &str| p.to_ascii_lowercase();
        out.push((
            format!("{n}_PORT"),
            format!("{}://{ip}:{}", proto(&first.protocol), first.port),
        ));
        for p in &s.ports {
            let up = p.protocol.to_ascii_uppercase();
            let base = format!("{n}_PORT_{}_{up}", p.port);
            out.push((
                base.clone(),
                format!("{}://{ip}:{}", proto(&p.protocol), p.port),
            ));
            out.push((format!("{base}_PROTO"), proto(&p.protocol)));
            out.push((format!("{base}_PORT"), p.port.to_string()));
            out.push((format!("{base}_ADDR"), ip.clone()));
        }
    }
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_transport::wire::ServicePortPlan;

    fn svc(ns: &str, name: &str, ip: &str) -> ServicePlan {
        ServicePlan {
            namespace: ns.into(),
            name: name.into(),
            cluster_ip: ip.into(),
            service_type: "ClusterIP".into(),
            ports: vec![
                ServicePortPlan {
                    name: "http".into(),
                    protocol: "TCP".into(),
                    port: 80,
                    node_port: 0,
                },
                ServicePortPlan {
                    name: "dns".into(),
                    protocol: "UDP".into(),
                    port: 53,
                    node_port: 0,
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn env_vars_are_kubernetes_shaped() {
        let env = env_vars(
            &[
                svc("default", "my-web", "10.43.0.5"),
                svc("other", "x", "10.43.0.6"),
                svc("default", "headless", "None"),
            ],
            "default",
        );
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("MY_WEB_SERVICE_HOST"), Some("10.43.0.5"));
        assert_eq!(get("MY_WEB_SERVICE_PORT"), Some("80"));
        assert_eq!(get("MY_WEB_SERVICE_PORT_HTTP"), Some("80"));
        assert_eq!(get("MY_WEB_SERVICE_PORT_DNS"), Some("53"));
        assert_eq!(get("MY_WEB_PORT"), Some("tcp://10.43.0.5:80"));
        assert_eq!(get("MY_WEB_PORT_53_UDP"), Some("udp://10.43.0.5:53"));
        assert_eq!(get("MY_WEB_PORT_53_UDP_PROTO"), Some("udp"));
        assert_eq!(get("MY_WEB_PORT_80_TCP_PORT"), Some("80"));
        assert_eq!(get("MY_WEB_PORT_80_TCP_ADDR"), Some("10.43.0.5"));
        assert!(
            get("X_SERVICE_HOST").is_none(),
            "other namespaces' services are not injected"
        );
        assert!(get("HEADLESS_SERVICE_HOST").is_none());
    }

    #[test]
    fn full_sets_replace_and_changes_apply() {
        let mut set = ServiceSet::from_plans([svc("a", "old", "10.43.0.1")]);
        let w = set
            .plan(&HubMessage::Services {
                revision: 5,
                full: true,
                upserts: vec![svc("a", "web", "10.43.0.2")],
                deletes: vec![],
            })
            .expect("services message");
        set.commit(w);
        assert_eq!(set.plans().len(), 1);
        assert_eq!(set.plans()[0].name, "web");
        let w = set
            .plan(&HubMessage::Services {
                revision: 6,
                full: false,
                upserts: vec![svc("a", "db", "10.43.0.3"), svc("a", "gone", "10.43.0.4")],
                deletes: vec!["a/web".into(), "a/gone".into()],
            })
            .expect("services message");
        set.commit(w);
        let names: Vec<String> = set.plans().into_iter().map(|p| p.name).collect();
        assert_eq!(names, vec!["db"]);
        assert!(set.plan(&HubMessage::Ping { revision: 1 }).is_none());
    }
}
