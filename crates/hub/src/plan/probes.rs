//! Probes with Kubernetes' defaults applied and named ports resolved against the container's
//! ports, so the agent's prober needs nothing else.

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use shoal_transport::wire::{ProbeAction, ProbePlan};

type Compiled = (
    Option<ProbePlan>,
    Option<ProbePlan>,
    Option<ProbePlan>,
    Option<String>,
);

/// (liveness, readiness, startup, the first probe that cannot be run).
pub(super) fn compile(c: &Container) -> Compiled {
    let mut error = None;
    let mut one = |p: &Option<Probe>, what: &str, single_success: bool| {
        let p = p.as_ref()?;
        match probe(c, p, single_success) {
            Ok(plan) => Some(plan),
            Err(e) => {
                error.get_or_insert_with(|| format!("{what} probe: {e}"));
                None
            }
        }
    };
    let liveness = one(&c.liveness_probe, "liveness", true);
    let readiness = one(&c.readiness_probe, "readiness", false);
    let startup = one(&c.startup_probe, "startup", true);
    (liveness, readiness, startup, error)
}

fn probe(c: &Container, p: &Probe, single_success: bool) -> Result<ProbePlan, String> {
    let action = if let Some(e) = &p.exec {
        ProbeAction::Exec {
            command: e.command.clone().unwrap_or_default(),
        }
    } else if let Some(h) = &p.http_get {
        ProbeAction::HttpGet {
            scheme: h.scheme.clone().unwrap_or_else(|| "HTTP".into()),
            host: h.host.clone().unwrap_or_default(),
            port: port(c, &h.port)?,
            path: h.path.clone().unwrap_or_else(|| "/".into()),
            headers: h
                .http_headers
                .iter()
                .flatten()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect(),
        }
    } else if let Some(t) = &p.tcp_socket {
        ProbeAction::TcpSocket {
            host: t.host.clone().unwrap_or_default(),
            port: port(c, &t.port)?,
        }
    } else if p.grpc.is_some() {
        return Err(
            "grpc probes are not supported by shoal agents (use exec, httpGet or tcpSocket)".into(),
        );
    } else {
        return Err("no handler (exec, httpGet or tcpSocket)".into());
    };
    let at_least_one = |v: Option<i32>, default: u32| v.map_or(default, |v| v.max(1) as u32);
    Ok(ProbePlan {
        action,
        initial_delay_seconds: p.initial_delay_seconds.unwrap_or(0).max(0) as u32,
        period_seconds: at_least_one(p.period_seconds, 10),
        timeout_seconds: at_least_one(p.timeout_seconds, 1),
        success_threshold: if single_success {
            1
        } else {
            at_least_one(p.success_threshold, 1)
        },
        failure_threshold: at_least_one(p.failure_threshold, 3),
    })
}

fn port(c: &Container, port: &IntOrString) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("port {n} is out of range")),
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .ok_or_else(|| format!("the container has no port named {name:?}")),
    }
}
