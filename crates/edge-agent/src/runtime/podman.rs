//! [`PodmanRuntime`]: runs pods on Podman through its libpod REST API (the `podman-api` crate).
//!
//! A Kubernetes pod becomes a Podman pod (one network namespace, so containers reach each other
//! on localhost; host ports are published on the pod's infra container) holding one Podman
//! container per spec container. How plans map onto Podman objects is in [`spec`]; how Podman's
//! answers map back is in [`observe`].
//!
//! Design decisions this file enforces:
//! - **Ownership by label.** Every lookup filters on `io.shoal.managed=true` and
//!   `io.shoal.node=<node>` (and the pod UID), on the server and again on the client, so the
//!   agent never lists or changes anything it did not create itself.
//! - **The agent restarts, not Podman.** Containers get restart policy `no`; the pod core
//!   applies the Kubernetes restart policy and back-off and calls [`ContainerRuntime::restart_container`].
//! - **Grace on create.** `podman-api` 0.11 drops the timeout of container stop calls, so each
//!   container is created with `stop_timeout` = the pod's termination grace period (what
//!   Podman uses when it stops containers itself, e.g. on `remove_pod`), and `stop_pod` applies
//!   its own grace by signalling (see `do_stop_pod`).
//!
//! Calls for one pod must not overlap (the agent runs one worker per pod); calls for different
//! pods may run concurrently.

mod observe;
pub mod spec;
mod streams;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use podman_api::models::{ListContainer, ListPodsReport};
use podman_api::opts::{
    ContainerCreateOpts, ContainerListFilter, ContainerListOpts, ContainerRestartPolicy,
    PodCreateOpts, PodListFilter, PodListOpts, PullOpts, VolumeCreateOpts, VolumeListFilter,
    VolumeListOpts,
};
use podman_api::Podman;
use shoal_transport::wire::{ContainerPlan, PodPlan, PullPolicy, VolumePlan};
use tracing::{debug, info, warn};

use super::{ContainerRuntime, ObservedPod, RuntimeError, RuntimeFuture};
use spec::{
    MountSource, LABEL_CONTAINER, LABEL_MANAGED, LABEL_NAME, LABEL_NAMESPACE, LABEL_NODE,
    LABEL_POD_UID,
};

/// How often `stop_pod` looks whether the containers are gone.
const STOP_POLL: Duration = Duration::from_millis(100);
/// How long `stop_pod` waits for Podman to notice the exits after SIGKILL.
const STOP_SETTLE: Duration = Duration::from_secs(5);
/// Output an exec probe keeps (kubelet keeps 10 KiB).
const PROBE_OUTPUT_LIMIT: usize = 10 * 1024;

/// The infra ("pause") container of each pod: holds the pod's namespaces while application
/// containers come and go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfraContainer {
    pub image: String,
    pub command: Vec<String>,
}

/// A [`ContainerRuntime`] backed by a Podman service.
#[derive(Debug, Clone)]
pub struct PodmanRuntime {
    podman: Podman,
    url: String,
    node: String,
    data_dir: PathBuf,
    infra: Option<InfraContainer>,
}

impl PodmanRuntime {
    /// Connects to the Podman service at `socket_url` (`unix:///run/podman/podman.sock`, a bare
    /// socket path, or `tcp://host:port`) and checks that it answers.
    ///
    /// `node_name` is written into (and filtered on) every object's `io.shoal.node` label.
    /// `data_dir` holds the pods' on-disk `emptyDir` volumes under `pods/<uid>/volumes/`.
    pub async fn connect(
        socket_url: &str,
        node_name: &str,
        data_dir: impl Into<PathBuf>,
    ) -> Result<Self, RuntimeError> {
        let url = if socket_url.starts_with('/') {
            format!("unix://{socket_url}")
        } else {
            socket_url.to_string()
        };
        let podman = Podman::new(&url).map_err(|source| RuntimeError::Connect {
            url: url.clone(),
            source,
        })?;
        let runtime = Self {
            podman,
            url,
            node: node_name.to_string(),
            data_dir: data_dir.into(),
            infra: None,
        };
        runtime
            .podman
            .version()
            .await
            .map_err(|source| RuntimeError::Connect {
                url: runtime.url.clone(),
                source,
            })?;
        Ok(runtime)
    }

    /// Uses `image` running `command` as every pod's infra container instead of Podman's
    /// default (which needs `catatonit` on the host to build its pause image). The command
    /// must sleep forever and exit promptly on SIGTERM.
    pub fn with_infra_container(mut self, image: impl Into<String>, command: Vec<String>) -> Self {
        self.infra = Some(InfraContainer {
            image: image.into(),
            command,
        });
        self
    }

    /// The node name this runtime labels and filters by.
    pub fn node_name(&self) -> &str {
        &self.node
    }

    fn podman_err(op: impl Into<String>) -> impl FnOnce(podman_api::Error) -> RuntimeError {
        let op = op.into();
        move |source| RuntimeError::Podman { op, source }
    }

    /// Server-side filters for "ours", optionally narrowed to one pod.
    fn label_filters(&self, uid: Option<&str>) -> Vec<(String, String)> {
        let mut filters = vec![
            (LABEL_MANAGED.to_string(), "true".to_string()),
            (LABEL_NODE.to_string(), self.node.clone()),
        ];
        if let Some(uid) = uid {
            filters.push((LABEL_POD_UID.to_string(), uid.to_string()));
        }
        filters
    }

    async fn find_pods(&self, uid: Option<&str>) -> Result<Vec<ListPodsReport>, RuntimeError> {
        let filters = self
            .label_filters(uid)
            .into_iter()
            .map(|(k, v)| PodListFilter::LabelKeyVal(k, v));
        let pods = self
            .podman
            .pods()
            .list(&PodListOpts::builder().filter(filters).build())
            .await
            .map_err(Self::podman_err("list pods"))?;
        Ok(pods
            .into_iter()
            .filter(|p| {
                p.labels
                    .as_ref()
                    .is_some_and(|l| spec::is_ours(l, &self.node, uid))
            })
            .collect())
    }

    /// Our application containers (never infra containers), optionally of one pod.
    async fn find_containers(&self, uid: Option<&str>) -> Result<Vec<ListContainer>, RuntimeError> {
        let filters = self
            .label_filters(uid)
            .into_iter()
            .map(|(k, v)| ContainerListFilter::LabelKeyVal(k, v));
        let containers = self
            .podman
            .containers()
            .list(
                &ContainerListOpts::builder()
                    .all(true)
                    .filter(filters)
                    .build(),
            )
            .await
            .map_err(Self::podman_err("list containers"))?;
        Ok(containers
            .into_iter()
            .filter(|c| c.is_infra != Some(true))
            .filter(|c| {
                c.labels.as_ref().is_some_and(|l| {
                    spec::is_ours(l, &self.node, uid) && l.contains_key(LABEL_CONTAINER)
                })
            })
            .collect())
    }

    /// Makes `container.image` available according to its pull policy.
    async fn ensure_image(&self, container: &ContainerPlan) -> Result<(), RuntimeError> {
        let image = &container.image;
        let present = self
            .podman
            .images()
            .get(image.as_str())
            .exists()
            .await
            .map_err(Self::podman_err(format!("look up image {image}")))?;
        match container.image_pull_policy {
            PullPolicy::Never if present => Ok(()),
            PullPolicy::Never => Err(RuntimeError::ImageNotPresent {
                image: image.clone(),
            }),
            PullPolicy::IfNotPresent if present => Ok(()),
            PullPolicy::IfNotPresent => {
                self.pull(image)
                    .await
                    .map_err(|source| RuntimeError::ImagePull {
                        image: image.clone(),
                        source,
                    })
            }
            PullPolicy::Always => match self.pull(image).await {
                Ok(()) => Ok(()),
                // Design: devices are often offline; a local copy beats not running at all.
                Err(e) if present => {
                    warn!(%image, error = %e, "pull failed; using the image already on the device");
                    Ok(())
                }
                Err(source) => Err(RuntimeError::ImagePull {
                    image: image.clone(),
                    source,
                }),
            },
        }
    }

    async fn pull(&self, image: &str) -> Result<(), podman_api::Error> {
        info!(%image, "pulling image");
        let images = self.podman.images();
        let opts = PullOpts::builder().reference(image).quiet(true).build();
        let mut reports = images.pull(&opts);
        while let Some(report) = reports.next().await {
            if let Some(error) = report?.error.filter(|e| !e.is_empty()) {
                return Err(podman_api::Error::StringError(error));
            }
        }
        Ok(())
    }

    /// Creates what the pod's volumes need on the host. Idempotent.
    async fn prepare_volumes(&self, plan: &PodPlan) -> Result<(), RuntimeError> {
        for volume in &plan.volumes {
            match volume {
                VolumePlan::EmptyDir {
                    name,
                    medium_memory: false,
                } => {
                    let dir = spec::empty_dir_path(&self.data_dir, &plan.uid, name);
                    create_dir_all(&dir).await?;
                    // Kubernetes' emptyDir is world-writable, so non-root container users can use it.
                    set_mode(&dir, 0o777).await?;
                }
                VolumePlan::EmptyDir {
                    name,
                    medium_memory: true,
                } => self.ensure_memory_volume(plan, name).await?,
                VolumePlan::HostPath { name, path, kind } => {
                    prepare_host_path(plan, name, Path::new(path), kind).await?
                }
                VolumePlan::Files { .. } => {}
            }
        }
        self.write_projected(plan).await?;
        // subPaths are created like kubelet does, inside their volume.
        for container in plan.init_containers.iter().chain(&plan.containers) {
            let sources = spec::mounts(plan, container, &self.data_dir)?;
            for (mount, source) in container.volume_mounts.iter().zip(sources) {
                let projected = plan
                    .volumes
                    .iter()
                    .any(|v| matches!(v, VolumePlan::Files { name, .. } if *name == mount.name));
                if projected {
                    continue;
                }
                if let (false, MountSource::Bind(bind)) = (mount.sub_path.is_empty(), source) {
                    if let Some(src) = bind.source {
                        create_dir_all(Path::new(&src)).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes the pod's projected (`Files`) volumes; see [`super::projected`].
    async fn write_projected(&self, plan: &PodPlan) -> Result<(), RuntimeError> {
        for volume in &plan.volumes {
            let VolumePlan::Files { name, files } = volume else {
                continue;
            };
            let dir = spec::empty_dir_path(&self.data_dir, &plan.uid, name);
            let files = files.clone();
            let target = dir.clone();
            tokio::task::spawn_blocking(move || super::projected::write(&target, &files))
                .await
                .map_err(|e| RuntimeError::Filesystem {
                    op: "write projected volume",
                    path: dir.clone(),
                    source: std::io::Error::other(e.to_string()),
                })?
                .map_err(|source| RuntimeError::Filesystem {
                    op: "write projected volume",
                    path: dir,
                    source,
                })?;
        }
        Ok(())
    }

    /// Digests of the projected volumes on disk of the pod `uid`.
    async fn observe_projected(&self, uid: &str) -> Vec<(String, String)> {
        if !spec::is_valid_uid(uid) {
            return Vec::new();
        }
        let volumes = spec::pod_dir(&self.data_dir, uid).join("volumes");
        tokio::task::spawn_blocking(move || {
            let Ok(entries) = std::fs::read_dir(&volumes) else {
                return Vec::new();
            };
            entries
                .filter_map(|e| {
                    let e = e.ok()?;
                    let digest = super::projected::observe(&e.path())?;
                    Some((e.file_name().into_string().ok()?, digest))
                })
                .collect()
        })
        .await
        .unwrap_or_default()
    }

    /// The pod's Podman ID, creating the pod if it does not exist.
    async fn ensure_pod(&self, plan: &PodPlan) -> Result<String, RuntimeError> {
        match self
            .find_pods(Some(&plan.uid))
            .await?
            .into_iter()
            .find_map(|p| p.id)
        {
            Some(id) => Ok(id),
            None => self.create_pod(plan).await,
        }
    }

    /// Our containers of pod `uid` by their name in the pod spec.
    async fn containers_by_name(
        &self,
        uid: &str,
    ) -> Result<BTreeMap<String, ListContainer>, RuntimeError> {
        Ok(self
            .find_containers(Some(uid))
            .await?
            .into_iter()
            .filter_map(|c| Some((c.labels.as_ref()?.get(LABEL_CONTAINER)?.clone(), c)))
            .collect())
    }

    async fn do_start_init(&self, plan: &PodPlan, name: &str) -> Result<(), RuntimeError> {
        spec::validate(plan)?;
        let container = plan
            .init_containers
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| RuntimeError::ContainerNotFound {
                uid: plan.uid.clone(),
                container: name.to_string(),
            })?;
        let existing = self.containers_by_name(&plan.uid).await?;
        let id = match existing.get(name) {
            Some(c)
                if !matches!(
                    c.state.as_deref(),
                    Some("configured" | "created" | "initialized")
                ) =>
            {
                // Ran already: nothing to start (restarts go through restart_container).
                return Ok(());
            }
            Some(c) => c.id.clone().unwrap_or_default(),
            None => {
                self.ensure_image(container).await?;
                self.prepare_volumes(plan).await?;
                let pod_id = self.ensure_pod(plan).await?;
                self.create_container(plan, &pod_id, container).await?
            }
        };
        self.start_container(&id, &format!("init container {name} of pod {}", plan.uid))
            .await
    }

    async fn do_stop_container(
        &self,
        uid: &str,
        name: &str,
        grace: Duration,
    ) -> Result<(), RuntimeError> {
        let Some(c) = self.containers_by_name(uid).await?.remove(name) else {
            return Ok(());
        };
        let running =
            |c: &ListContainer| matches!(c.state.as_deref(), Some("running" | "stopping"));
        if !running(&c) {
            return Ok(());
        }
        let Some(id) = c.id else { return Ok(()) };
        self.signal(&id, "SIGTERM", uid).await?;
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let still = self
                .containers_by_name(uid)
                .await?
                .remove(name)
                .is_some_and(|c| running(&c));
            if !still {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(STOP_POLL.min(deadline - tokio::time::Instant::now())).await;
        }
        self.signal(&id, "SIGKILL", uid).await
    }

    async fn do_probe_exec(
        &self,
        uid: &str,
        name: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<(i32, String), RuntimeError> {
        let id = self
            .containers_by_name(uid)
            .await?
            .remove(name)
            .and_then(|c| c.id)
            .ok_or_else(|| RuntimeError::ContainerNotFound {
                uid: uid.to_string(),
                container: name.to_string(),
            })?;
        let what = format!("exec probe in container {name} of pod {uid}");
        let run = async {
            let exec = self
                .podman
                .containers()
                .get(id.as_str())
                .create_exec(
                    &podman_api::opts::ExecCreateOpts::builder()
                        .command(command.to_vec())
                        .attach_stdout(true)
                        .attach_stderr(true)
                        .build(),
                )
                .await
                .map_err(Self::podman_err(what.clone()))?;
            let mut output = Vec::new();
            if let Some(mut stream) = exec
                .start(&Default::default())
                .await
                .map_err(Self::podman_err(what.clone()))?
            {
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| RuntimeError::Podman {
                        op: what.clone(),
                        source: podman_api::Error::StringError(e.to_string()),
                    })?;
                    // Design: probes keep only the start of their output (kubelet: 10 KiB).
                    if output.len() < PROBE_OUTPUT_LIMIT {
                        output.extend_from_slice(&chunk);
                        output.truncate(PROBE_OUTPUT_LIMIT);
                    }
                }
            }
            let info = exec
                .inspect()
                .await
                .map_err(Self::podman_err(what.clone()))?;
            let code = info["ExitCode"].as_i64().unwrap_or(-1);
            Ok((
                i32::try_from(code).unwrap_or(-1),
                String::from_utf8_lossy(&output).into_owned(),
            ))
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(r) => r,
            Err(_) => Err(RuntimeError::Podman {
                op: what,
                source: podman_api::Error::StringError(format!("timed out after {timeout:?}")),
            }),
        }
    }

    async fn ensure_memory_volume(&self, plan: &PodPlan, volume: &str) -> Result<(), RuntimeError> {
        let name = spec::memory_volume_name(&plan.uid, volume);
        let volumes = self.podman.volumes();
        if volumes
            .get(name.as_str())
            .exists()
            .await
            .map_err(Self::podman_err(format!("look up volume {name}")))?
        {
            return Ok(());
        }
        let opts = VolumeCreateOpts::builder()
            .name(name.as_str())
            .labels(spec::pod_labels(&self.node, plan))
            .options([
                ("type", "tmpfs"),
                ("device", "tmpfs"),
                ("o", "nodev,nosuid"),
            ])
            .build();
        volumes
            .create(&opts)
            .await
            .map_err(Self::podman_err(format!("create tmpfs volume {name}")))?;
        Ok(())
    }

    async fn create_pod(&self, plan: &PodPlan) -> Result<String, RuntimeError> {
        let name = spec::pod_name(plan);
        let mut opts = PodCreateOpts::builder()
            .name(name.as_str())
            .labels(spec::pod_labels(&self.node, plan));
        if plan.host_network {
            opts = opts.netns(podman_api::models::Namespace {
                nsmode: Some("host".into()),
                value: None,
            });
        } else {
            let hostname = if plan.hostname.is_empty() {
                &plan.name
            } else {
                &plan.hostname
            };
            opts = opts
                .hostname(hostname.as_str())
                .portmappings(spec::port_mappings(plan)?);
            // Cluster DNS (filled in by the agent for ClusterFirst pods).
            if !plan.dns_servers.is_empty() {
                opts = opts
                    .dns_server(plan.dns_servers.iter().map(String::as_str))
                    .dns_search(plan.dns_search.iter().map(String::as_str))
                    .dns_option(plan.dns_options.iter().map(String::as_str));
            }
        }
        if let Some(infra) = &self.infra {
            opts = opts
                .infra_image(infra.image.as_str())
                .infra_command(infra.command.clone());
        }
        debug!(pod = %name, uid = %plan.uid, "creating pod");
        match self.podman.pods().create(&opts.build()).await {
            Ok(pod) => Ok(pod.id().to_string()),
            Err(source) => {
                // Lost a race with ourselves (e.g. a retry after a timeout)? Then it exists now.
                match self
                    .find_pods(Some(&plan.uid))
                    .await?
                    .into_iter()
                    .find_map(|p| p.id)
                {
                    Some(id) => Ok(id),
                    None => Err(RuntimeError::Podman {
                        op: format!("create pod {name}"),
                        source,
                    }),
                }
            }
        }
    }

    async fn create_container(
        &self,
        plan: &PodPlan,
        pod_id: &str,
        container: &ContainerPlan,
    ) -> Result<String, RuntimeError> {
        let name = spec::container_name(plan, container);
        let mut opts = ContainerCreateOpts::builder()
            .name(name.as_str())
            .pod(pod_id)
            .image(container.image.as_str())
            .labels(spec::container_labels(&self.node, plan, container))
            .env(container.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stop_timeout(plan.termination_grace_period_seconds)
            .restart_policy(ContainerRestartPolicy::No);
        if !container.command.is_empty() {
            opts = opts.entrypoint(container.command.clone());
        }
        if !container.args.is_empty() {
            opts = opts.command(container.args.clone());
        }
        if !container.working_dir.is_empty() {
            opts = opts
                .work_dir(container.working_dir.as_str())
                .create_working_dir(true);
        }
        let (mut binds, mut volumes) = (Vec::new(), Vec::new());
        for source in spec::mounts(plan, container, &self.data_dir)? {
            match source {
                MountSource::Bind(m) => binds.push(m),
                MountSource::Volume(v) => volumes.push(v),
            }
        }
        if !binds.is_empty() {
            opts = opts.mounts(binds);
        }
        if !volumes.is_empty() {
            opts = opts.volumes(volumes);
        }
        if let Some(limits) = spec::resource_limits(container) {
            opts = opts.resource_limits(limits);
        }
        debug!(container = %name, uid = %plan.uid, "creating container");
        let created = self
            .podman
            .containers()
            .create(&opts.build())
            .await
            .map_err(Self::podman_err(format!("create container {name}")))?;
        Ok(created.id)
    }

    async fn start_container(&self, id: &str, what: &str) -> Result<(), RuntimeError> {
        self.podman
            .containers()
            .get(id)
            .start(None)
            .await
            .map_err(Self::podman_err(format!("start {what}")))
    }

    async fn do_start_pod(&self, plan: &PodPlan) -> Result<(), RuntimeError> {
        spec::validate(plan)?;
        let mut existing = self.containers_by_name(&plan.uid).await?;
        // Only application containers, and only those the hub could configure completely.
        let apps: Vec<&ContainerPlan> = plan
            .containers
            .iter()
            .filter(|c| c.config_error.is_empty())
            .collect();
        existing.retain(|name, _| apps.iter().any(|c| c.name == *name));
        let missing: Vec<&ContainerPlan> = apps
            .iter()
            .copied()
            .filter(|c| !existing.contains_key(&c.name))
            .collect();
        // Images and volumes first: a pod whose image cannot be had creates nothing.
        for container in &missing {
            self.ensure_image(container).await?;
        }
        self.prepare_volumes(plan).await?;
        let pod_id = self.ensure_pod(plan).await?;
        let mut to_start = Vec::new();
        for container in &missing {
            let id = self.create_container(plan, &pod_id, container).await?;
            to_start.push((id, container.name.clone()));
        }
        for (name, c) in &existing {
            let never_started = matches!(
                c.state.as_deref(),
                Some("configured" | "created" | "initialized")
            );
            if let (true, Some(id)) = (never_started, &c.id) {
                to_start.push((id.clone(), name.clone()));
            }
        }
        for (id, name) in to_start {
            // Starting a container in a pod starts the pod's infra container first.
            self.start_container(&id, &format!("container {name} of pod {}", plan.uid))
                .await?;
        }
        Ok(())
    }

    async fn do_restart_container(&self, uid: &str, container: &str) -> Result<(), RuntimeError> {
        let found = self
            .find_containers(Some(uid))
            .await?
            .into_iter()
            .find(|c| {
                c.labels
                    .as_ref()
                    .and_then(|l| l.get(LABEL_CONTAINER))
                    .is_some_and(|n| n == container)
            });
        let not_found = || RuntimeError::ContainerNotFound {
            uid: uid.to_string(),
            container: container.to_string(),
        };
        let found = found.ok_or_else(not_found)?;
        let id = found.id.ok_or_else(not_found)?;
        let what = format!("container {container} of pod {uid}");
        if found.state.as_deref() == Some("running") {
            // Uses the container's own stop timeout (its pod's grace period).
            self.podman
                .containers()
                .get(id.as_str())
                .restart()
                .await
                .map_err(Self::podman_err(format!("restart {what}")))
        } else {
            self.start_container(&id, &what).await
        }
    }

    async fn do_stop_pod(&self, uid: &str, grace: Duration) -> Result<(), RuntimeError> {
        // Design: the agent signals containers itself instead of using Podman's stop calls:
        // podman-api 0.11 drops the container stop timeout, and Podman 4.3 answers a pod stop
        // with 304 (stopping nothing) unless every container of the pod runs, which a pod with
        // one exited container never does. SIGTERM, wait out the grace, SIGKILL: as kubelet.
        let running = self.running_container_ids(uid).await?;
        for id in &running {
            self.signal(id, "SIGTERM", uid).await?;
        }
        let deadline = tokio::time::Instant::now() + grace;
        let mut left = running;
        while !left.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(STOP_POLL.min(deadline - tokio::time::Instant::now())).await;
            left = self.running_container_ids(uid).await?;
        }
        for id in &left {
            self.signal(id, "SIGKILL", uid).await?;
        }
        // Then the pod's infra container, which holds nothing but the namespaces.
        for pod in self.find_pods(Some(uid)).await? {
            let Some(infra) = pod.infra_id else { continue };
            let infra_runs = pod.containers.iter().flatten().any(|c| {
                c.id.as_deref() == Some(infra.as_str()) && c.status.as_deref() == Some("running")
            });
            if infra_runs {
                self.signal(&infra, "SIGKILL", uid).await?;
            }
        }
        // Wait (bounded) until Podman has seen the exits, so a list right after shows them.
        let settle = tokio::time::Instant::now() + STOP_SETTLE;
        while !self.running_container_ids(uid).await?.is_empty()
            && tokio::time::Instant::now() < settle
        {
            tokio::time::sleep(STOP_POLL).await;
        }
        Ok(())
    }

    /// IDs of the pod's application containers that still run.
    async fn running_container_ids(&self, uid: &str) -> Result<Vec<String>, RuntimeError> {
        Ok(self
            .find_containers(Some(uid))
            .await?
            .into_iter()
            .filter(|c| matches!(c.state.as_deref(), Some("running" | "stopping")))
            .filter_map(|c| c.id)
            .collect())
    }

    /// Sends `signal` to a container; one that is gone or no longer runs needs no signal.
    async fn signal(&self, id: &str, signal: &str, uid: &str) -> Result<(), RuntimeError> {
        let container = self.podman.containers().get(id);
        let Err(source) = container.send_signal(signal).await else {
            return Ok(());
        };
        // Podman reports "not running" as 409 or 500 depending on the path; look instead of
        // parsing messages.
        match container.inspect().await {
            Err(e) if is_not_found(&e) => Ok(()),
            Ok(data) if data.state.as_ref().and_then(|s| s.running) != Some(true) => Ok(()),
            _ => Err(RuntimeError::Podman {
                op: format!("send {signal} to container {id} of pod {uid}"),
                source,
            }),
        }
    }

    async fn do_remove_pod(&self, uid: &str) -> Result<(), RuntimeError> {
        for pod in self.find_pods(Some(uid)).await? {
            let Some(id) = pod.id else { continue };
            let report = self.podman.pods().get(id.as_str()).remove().await;
            match report {
                Ok(r) => {
                    if let Some(err) = r.err.filter(|e| !e.is_empty()) {
                        return Err(RuntimeError::Podman {
                            op: format!("remove pod {uid}"),
                            source: podman_api::Error::StringError(err),
                        });
                    }
                }
                Err(e) if is_not_found(&e) => {}
                Err(source) => {
                    return Err(RuntimeError::Podman {
                        op: format!("remove pod {uid}"),
                        source,
                    })
                }
            }
        }
        // Containers outside their pod should not exist, but a half-finished create could leave
        // one; they are ours all the same.
        for c in self.find_containers(Some(uid)).await? {
            let Some(id) = c.id else { continue };
            match self.podman.containers().get(id.as_str()).remove().await {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {}
                Err(source) => {
                    return Err(RuntimeError::Podman {
                        op: format!("remove container {id} of pod {uid}"),
                        source,
                    })
                }
            }
        }
        let filters = self
            .label_filters(Some(uid))
            .into_iter()
            .map(|(k, v)| VolumeListFilter::LabelKeyVal(k, v));
        let volumes = self
            .podman
            .volumes()
            .list(&VolumeListOpts::builder().filter(filters).build())
            .await
            .map_err(Self::podman_err(format!("list volumes of pod {uid}")))?;
        for v in volumes {
            if !spec::is_ours(&v.labels, &self.node, Some(uid)) {
                continue;
            }
            let name = v.name;
            match self.podman.volumes().get(name.as_str()).remove().await {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {}
                Err(source) => {
                    return Err(RuntimeError::Podman {
                        op: format!("remove volume {name}"),
                        source,
                    })
                }
            }
        }
        // Design: only a UID that passed validation can name a directory; anything else
        // was never created by us, so there is nothing to delete.
        if spec::is_valid_uid(uid) {
            let dir = spec::pod_dir(&self.data_dir, uid);
            match tokio::fs::remove_dir_all(&dir).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(RuntimeError::Filesystem {
                        op: "remove pod directory",
                        path: dir,
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    async fn do_list_pods(&self) -> Result<Vec<ObservedPod>, RuntimeError> {
        let mut pods: BTreeMap<String, ObservedPod> = BTreeMap::new();
        for report in self.find_pods(None).await? {
            let Some(labels) = &report.labels else {
                continue;
            };
            let Some(uid) = labels.get(LABEL_POD_UID) else {
                continue;
            };
            let pod_ip = match &report.infra_id {
                Some(infra) if report.status.as_deref() != Some("Exited") => {
                    self.inspect_pod_ip(infra).await?
                }
                _ => None,
            };
            pods.entry(uid.clone()).or_insert_with(|| ObservedPod {
                uid: uid.clone(),
                namespace: labels.get(LABEL_NAMESPACE).cloned().unwrap_or_default(),
                name: labels.get(LABEL_NAME).cloned().unwrap_or_default(),
                pod_ip,
                created_at_ms: report
                    .created
                    .and_then(|t| u64::try_from(t.timestamp_millis()).ok()),
                containers: Vec::new(),
                file_volumes: Vec::new(),
            });
        }
        for listed in self.find_containers(None).await? {
            let (Some(id), Some(labels)) = (&listed.id, &listed.labels) else {
                continue;
            };
            let Some(uid) = labels.get(LABEL_POD_UID) else {
                continue;
            };
            let data = match self.podman.containers().get(id.as_str()).inspect().await {
                Ok(data) => data,
                // Removed between list and inspect: it is gone, which is what we observe.
                Err(e) if is_not_found(&e) => continue,
                Err(source) => {
                    return Err(RuntimeError::Podman {
                        op: format!("inspect container {id}"),
                        source,
                    })
                }
            };
            let Some(container) = observe::observed_container(&data) else {
                continue;
            };
            let pod = pods.entry(uid.clone()).or_insert_with(|| ObservedPod {
                uid: uid.clone(),
                namespace: labels.get(LABEL_NAMESPACE).cloned().unwrap_or_default(),
                name: labels.get(LABEL_NAME).cloned().unwrap_or_default(),
                pod_ip: None,
                created_at_ms: None,
                containers: Vec::new(),
                file_volumes: Vec::new(),
            });
            pod.containers.push(container);
        }
        for pod in pods.values_mut() {
            pod.containers.sort_by(|a, b| a.name.cmp(&b.name));
            pod.file_volumes = self.observe_projected(&pod.uid).await;
        }
        Ok(pods.into_values().collect())
    }

    async fn do_container_usage(&self) -> Result<Vec<super::ContainerUsage>, RuntimeError> {
        let running: Vec<ListContainer> = self
            .find_containers(None)
            .await?
            .into_iter()
            .filter(|c| c.state.as_deref() == Some("running"))
            .collect();
        if running.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = running.iter().filter_map(|c| c.id.clone()).collect();
        let stats = self
            .podman
            .containers()
            .stats(
                &podman_api::opts::ContainerStatsOpts::builder()
                    .containers(ids)
                    .build(),
            )
            .await
            .map_err(Self::podman_err("read container stats"))?;
        Ok(observe::usage(&stats, &running))
    }

    async fn inspect_pod_ip(&self, infra_id: &str) -> Result<Option<String>, RuntimeError> {
        match self.podman.containers().get(infra_id).inspect().await {
            Ok(data) => Ok(observe::pod_ip(&data)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(source) => Err(RuntimeError::Podman {
                op: format!("inspect infra container {infra_id}"),
                source,
            }),
        }
    }
}

impl ContainerRuntime for PodmanRuntime {
    fn name(&self) -> &'static str {
        "podman"
    }

    fn version(&self) -> RuntimeFuture<'_, String> {
        async move {
            let v = self
                .podman
                .version()
                .await
                .map_err(Self::podman_err("read version"))?;
            Ok(v.version.unwrap_or_default())
        }
        .boxed()
    }

    fn start_pod<'a>(&'a self, plan: &'a PodPlan) -> RuntimeFuture<'a, ()> {
        self.do_start_pod(plan).boxed()
    }

    fn start_init_container<'a>(
        &'a self,
        plan: &'a PodPlan,
        container: &'a str,
    ) -> RuntimeFuture<'a, ()> {
        self.do_start_init(plan, container).boxed()
    }

    fn sync_volumes<'a>(&'a self, plan: &'a PodPlan) -> RuntimeFuture<'a, ()> {
        async move {
            spec::validate(plan)?;
            self.write_projected(plan).await
        }
        .boxed()
    }

    fn stop_container<'a>(
        &'a self,
        uid: &'a str,
        container: &'a str,
        grace: Duration,
    ) -> RuntimeFuture<'a, ()> {
        self.do_stop_container(uid, container, grace).boxed()
    }

    fn probe_exec<'a>(
        &'a self,
        uid: &'a str,
        container: &'a str,
        command: &'a [String],
        timeout: Duration,
    ) -> RuntimeFuture<'a, (i32, String)> {
        self.do_probe_exec(uid, container, command, timeout).boxed()
    }

    fn restart_container<'a>(&'a self, uid: &'a str, container: &'a str) -> RuntimeFuture<'a, ()> {
        self.do_restart_container(uid, container).boxed()
    }

    fn stop_pod<'a>(&'a self, uid: &'a str, grace: Duration) -> RuntimeFuture<'a, ()> {
        self.do_stop_pod(uid, grace).boxed()
    }

    fn remove_pod<'a>(&'a self, uid: &'a str) -> RuntimeFuture<'a, ()> {
        self.do_remove_pod(uid).boxed()
    }

    fn list_pods(&self) -> RuntimeFuture<'_, Vec<ObservedPod>> {
        self.do_list_pods().boxed()
    }

    fn container_usage(&self) -> RuntimeFuture<'_, Vec<super::ContainerUsage>> {
        self.do_container_usage().boxed()
    }

    fn logs<'a>(
        &'a self,
        uid: &'a str,
        container: &'a str,
        opts: super::LogOptions,
    ) -> RuntimeFuture<'a, super::LogStream> {
        self.do_logs(uid, container, opts).boxed()
    }

    fn exec<'a>(
        &'a self,
        uid: &'a str,
        container: &'a str,
        spec: super::ExecSpec,
    ) -> RuntimeFuture<'a, super::ExecSession> {
        self.do_exec(uid, container, spec).boxed()
    }
}

fn is_not_found(e: &podman_api::Error) -> bool {
    matches!(e, podman_api::Error::Fault { code, .. } if code.as_u16() == 404)
}

async fn create_dir_all(dir: &Path) -> Result<(), RuntimeError> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|source| RuntimeError::Filesystem {
            op: "create directory",
            path: dir.to_path_buf(),
            source,
        })
}

async fn set_mode(path: &Path, mode: u32) -> Result<(), RuntimeError> {
    use std::os::unix::fs::PermissionsExt;
    tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .await
        .map_err(|source| RuntimeError::Filesystem {
            op: "set permissions of",
            path: path.to_path_buf(),
            source,
        })
}

/// Applies a `hostPath` volume's `type` like kubelet: create what `...OrCreate` asks for, check
/// that the others exist.
async fn prepare_host_path(
    plan: &PodPlan,
    name: &str,
    path: &Path,
    kind: &str,
) -> Result<(), RuntimeError> {
    let meta = tokio::fs::metadata(path).await.ok();
    let ok = match kind {
        "" => true,
        "DirectoryOrCreate" => {
            if meta.is_none() {
                create_dir_all(path).await?;
            }
            true
        }
        "FileOrCreate" => {
            if meta.is_none() {
                tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .await
                    .map_err(|source| RuntimeError::Filesystem {
                        op: "create file",
                        path: path.to_path_buf(),
                        source,
                    })?;
            }
            true
        }
        "Directory" => meta.is_some_and(|m| m.is_dir()),
        "File" => meta.is_some_and(|m| m.is_file()),
        "Socket" | "CharDevice" | "BlockDevice" => meta.is_some(),
        other => {
            return Err(RuntimeError::InvalidPlan {
                uid: plan.uid.clone(),
                reason: format!("hostPath volume {name} has unknown type {other:?}"),
            })
        }
    };
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::InvalidPlan {
            uid: plan.uid.clone(),
            reason: format!(
                "hostPath volume {name}: {} is not a {kind} on this node",
                path.display()
            ),
        })
    }
}
