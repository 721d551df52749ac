//! Discovery by environment and DNS: a [`ContainerRuntime`] decorator that gives the
//! containers of a pod with `enableServiceLinks` the Service variables Kubernetes injects
//! ([`crate::services::env_vars`]) for the Services of the pod's namespace, and `ClusterFirst`
//! pods the agent's cluster DNS as resolver with Kubernetes' search path
//! (`<ns>.svc.<domain> svc.<domain> <domain>`, `ndots:5`).
//!
//! Design: the variables are computed when the runtime creates the pod's containers, from the
//! agent's own copy of the Services ([`SharedServices`], kept current by the HubLink and loaded
//! from the local store at start). So the hub's plan of a pod never depends on the Services,
//! and a Service created later does not touch pods that already run, as in Kubernetes. A
//! container's own `env` wins over a Service variable of the same name.

use std::sync::Arc;
use std::time::Duration;

use shoal_transport::wire::PodPlan;

use crate::runtime::{ContainerRuntime, ObservedPod, RuntimeFuture};
use crate::services::{env_vars, SharedServices};

/// Wraps a runtime; everything but `start_pod` passes straight through.
pub struct ServiceEnvRuntime {
    inner: Arc<dyn ContainerRuntime>,
    services: SharedServices,
    dns: Option<ClusterDnsConfig>,
}

/// Where pods send DNS queries, and the cluster domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterDnsConfig {
    pub server: std::net::IpAddr,
    pub domain: String,
}

impl ServiceEnvRuntime {
    pub fn new(
        inner: Arc<dyn ContainerRuntime>,
        services: SharedServices,
        dns: Option<ClusterDnsConfig>,
    ) -> ServiceEnvRuntime {
        ServiceEnvRuntime {
            inner,
            services,
            dns,
        }
    }
}

/// `plan` with the cluster DNS as resolver when its policy asks for it (pure).
pub fn with_cluster_dns(mut plan: PodPlan, dns: Option<&ClusterDnsConfig>) -> PodPlan {
    let Some(dns) = dns else { return plan };
    let wants = match plan.dns_policy.as_str() {
        "" | "ClusterFirst" => !plan.host_network,
        "ClusterFirstWithHostNet" => true,
        _ => false,
    };
    if !wants || !plan.dns_servers.is_empty() {
        return plan;
    }
    let d = &dns.domain;
    plan.dns_servers = vec![dns.server.to_string()];
    plan.dns_search = vec![
        format!("{}.svc.{d}", plan.namespace),
        format!("svc.{d}"),
        d.clone(),
    ];
    plan.dns_options = vec!["ndots:5".into()];
    plan
}

/// `plan` with the Service variables put before each container's own environment (pure).
pub fn with_service_env(
    plan: &PodPlan,
    services: &[shoal_transport::wire::ServicePlan],
) -> PodPlan {
    let mut plan = plan.clone();
    if !plan.enable_service_links {
        return plan;
    }
    let vars = env_vars(services, &plan.namespace);
    if vars.is_empty() {
        return plan;
    }
    for c in plan
        .init_containers
        .iter_mut()
        .chain(plan.containers.iter_mut())
    {
        let mut env: Vec<(String, String)> = vars
            .iter()
            .filter(|(k, _)| !c.env.iter().any(|(own, _)| own == k))
            .cloned()
            .collect();
        env.append(&mut c.env);
        c.env = env;
    }
    plan
}

impl ServiceEnvRuntime {
    /// The plan as the runtime gets it: Service variables and the cluster DNS added.
    fn enrich(&self, plan: &PodPlan) -> PodPlan {
        let services = self
            .services
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        with_cluster_dns(with_service_env(plan, &services), self.dns.as_ref())
    }
}

impl ContainerRuntime for ServiceEnvRuntime {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn version(&self) -> RuntimeFuture<'_, String> {
        self.inner.version()
    }

    fn runtime_classes(&self) -> Vec<String> {
        self.inner.runtime_classes()
    }

    fn start_pod<'a>(&'a self, plan: &'a PodPlan) -> RuntimeFuture<'a, ()> {
        let plan = self.enrich(plan);
        Box::pin(async move { self.inner.start_pod(&plan).await })
    }

    fn start_init_container<'a>(
        &'a self,
        plan: &'a PodPlan,
        container: &'a str,
    ) -> RuntimeFuture<'a, ()> {
        let plan = self.enrich(plan);
        Box::pin(async move { self.inner.start_init_container(&plan, container).await })
    }

    fn sync_volumes<'a>(&'a self, plan: &'a PodPlan) -> RuntimeFuture<'a, ()> {
        let plan = self.enrich(plan);
        Box::pin(async move { self.inner.sync_volumes(&plan).await })
    }

    fn stop_container<'a>(
        &'a self,
        uid: &'a str,
        container: &'a str,
        grace: Duration,
    ) -> RuntimeFuture<'a, ()> {
        self.inner.stop_container(uid, container, grace)
    }

    fn probe_exec<'a>(
        &'a self,
        uid: &'a str,
        container: &'a str,
        command: &'a [String],
        timeout: Duration,
    ) -> RuntimeFuture<'a, (i32, String)> {
        self.inner.probe_exec(uid, container, command, timeout)
    }

    fn container_usage(&self) -> RuntimeFuture<'_, Vec<crate::runtime::ContainerUsage>> {
        self.inner.container_usage()
    }

    fn logs<'a>(
        &'a self,
        uid: &'a str,
        container: &'a str,
        opts: crate::runtime::LogOptions,
    ) -> RuntimeFuture<'a, crate::runtime::LogStream> {
        self.inner.logs(uid, container, opts)
    }

    fn exec<'a>(
        &'a self,
        uid: &'a str,
        container: &'a str,
        spec: crate::runtime::ExecSpec,
    ) -> RuntimeFuture<'a, crate::runtime::ExecSession> {
        self.inner.exec(uid, container, spec)
    }

    fn restart_container<'a>(&'a self, uid: &'a str, container: &'a str) -> RuntimeFuture<'a, ()> {
        self.inner.restart_container(uid, container)
    }

    fn stop_pod<'a>(&'a self, uid: &'a str, grace: Duration) -> RuntimeFuture<'a, ()> {
        self.inner.stop_pod(uid, grace)
    }

    fn remove_pod<'a>(&'a self, uid: &'a str) -> RuntimeFuture<'a, ()> {
        self.inner.remove_pod(uid)
    }

    fn list_pods(&self) -> RuntimeFuture<'_, Vec<ObservedPod>> {
        self.inner.list_pods()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_transport::wire::{ContainerPlan, ServicePlan, ServicePortPlan};

    #[test]
    fn service_variables_come_first_and_own_env_wins() {
        let svc = ServicePlan {
            namespace: "default".into(),
            name: "db".into(),
            cluster_ip: "10.43.0.9".into(),
            ports: vec![ServicePortPlan {
                name: String::new(),
                protocol: "TCP".into(),
                port: 5432,
                node_port: 0,
            }],
            ..Default::default()
        };
        let plan = PodPlan {
            namespace: "default".into(),
            enable_service_links: true,
            containers: vec![ContainerPlan {
                name: "c".into(),
                env: vec![("DB_SERVICE_PORT".into(), "1".into())],
                ..Default::default()
            }],
            ..Default::default()
        };
        let out = with_service_env(&plan, std::slice::from_ref(&svc));
        let env = &out.containers[0].env;
        assert!(env.contains(&("DB_SERVICE_HOST".into(), "10.43.0.9".into())));
        assert_eq!(
            env.iter().filter(|(k, _)| k == "DB_SERVICE_PORT").count(),
            1,
            "{env:?}"
        );
        assert_eq!(env.last(), Some(&("DB_SERVICE_PORT".into(), "1".into())));
        let off = PodPlan {
            enable_service_links: false,
            ..plan
        };
        assert_eq!(with_service_env(&off, &[svc]), off);
    }

    #[test]
    fn cluster_first_pods_get_the_cluster_dns() {
        let dns = ClusterDnsConfig {
            server: "10.88.0.1".parse().expect("ip"),
            domain: "cluster.local".into(),
        };
        let plan = PodPlan {
            namespace: "team".into(),
            dns_policy: "ClusterFirst".into(),
            ..Default::default()
        };
        let p = with_cluster_dns(plan.clone(), Some(&dns));
        assert_eq!(p.dns_servers, vec!["10.88.0.1"]);
        assert_eq!(
            p.dns_search,
            vec![
                "team.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local"
            ]
        );
        assert_eq!(p.dns_options, vec!["ndots:5"]);
        let default_policy = PodPlan {
            dns_policy: "Default".into(),
            ..plan.clone()
        };
        assert!(with_cluster_dns(default_policy, Some(&dns))
            .dns_servers
            .is_empty());
        let host = PodPlan {
            host_network: true,
            ..plan.clone()
        };
        assert!(with_cluster_dns(host, Some(&dns)).dns_servers.is_empty());
        assert!(with_cluster_dns(plan, None).dns_servers.is_empty());
    }
}
