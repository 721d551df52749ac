//! Discovery by environment: a [`ContainerRuntime`] decorator that gives the containers of a
//! pod with `enableServiceLinks` the Service variables Kubernetes injects
//! ([`crate::services::env_vars`]) for the Services of the pod's namespace.
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
}

impl ServiceEnvRuntime {
    pub fn new(inner: Arc<dyn ContainerRuntime>, services: SharedServices) -> ServiceEnvRuntime {
        ServiceEnvRuntime { inner, services }
    }
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

impl ContainerRuntime for ServiceEnvRuntime {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn version(&self) -> RuntimeFuture<'_, String> {
        self.inner.version()
    }

    fn start_pod<'a>(&'a self, plan: &'a PodPlan) -> RuntimeFuture<'a, ()> {
        let services = self
            .services
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let plan = with_service_env(plan, &services);
        Box::pin(async move { self.inner.start_pod(&plan).await })
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
}
