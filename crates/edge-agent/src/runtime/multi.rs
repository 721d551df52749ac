//! [`MultiRuntime`]: one node, several runtimes. A pod runs on the runtime its
//! `runtimeClassName` names (`podman`, `process`), or on the node's default when it names
//! none; a class the node does not have is refused with a clear error. Calls that only carry a
//! pod UID go to every runtime (they are idempotent, and a runtime ignores pods it does not
//! have), except restarts, which go to the runtime that knows the container.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use shoal_transport::wire::PodPlan;

use super::{ContainerRuntime, ContainerUsage, ObservedPod, RuntimeError, RuntimeFuture};

pub struct MultiRuntime {
    /// The default runtime first.
    runtimes: Vec<Arc<dyn ContainerRuntime>>,
}

impl MultiRuntime {
    /// `default` runs pods without a runtime class; `others` serve their own class names.
    pub fn new(default: Arc<dyn ContainerRuntime>, others: Vec<Arc<dyn ContainerRuntime>>) -> Self {
        let mut runtimes = vec![default];
        runtimes.extend(others);
        MultiRuntime { runtimes }
    }

    fn pick(&self, plan: &PodPlan) -> Result<&Arc<dyn ContainerRuntime>, RuntimeError> {
        if plan.runtime_class.is_empty() {
            return Ok(&self.runtimes[0]);
        }
        self.runtimes
            .iter()
            .find(|r| r.name() == plan.runtime_class)
            .ok_or_else(|| RuntimeError::InvalidPlan {
                uid: plan.uid.clone(),
                reason: format!(
                    "runtimeClassName {:?} is not available on this node (it has: {})",
                    plan.runtime_class,
                    self.runtime_classes().join(", ")
                ),
            })
    }

    /// Runs `call` on each runtime until one has the container: the first answer other than
    /// "not mine" wins. A runtime that runs the pod but cannot do the call ("unsupported")
    /// is the answer if no other runtime has the container; otherwise "not found".
    async fn on_owner<'a, T>(
        &'a self,
        uid: &'a str,
        container: &'a str,
        call: impl Fn(&'a dyn ContainerRuntime) -> RuntimeFuture<'a, T>,
    ) -> Result<T, RuntimeError> {
        let mut unsupported = None;
        for r in &self.runtimes {
            match call(r.as_ref()).await {
                Err(e @ RuntimeError::Unsupported { .. }) => {
                    if has_pod(r.as_ref(), uid).await {
                        unsupported = Some(e);
                    }
                }
                Err(e) if not_here(&e) => {}
                other => return other,
            }
        }
        Err(unsupported.unwrap_or_else(|| not_found(uid, container)))
    }
}

/// Whether `e` means "not this runtime's container" (try the next runtime).
fn not_here(e: &RuntimeError) -> bool {
    matches!(
        e,
        RuntimeError::ContainerNotFound { .. } | RuntimeError::Unsupported { .. }
    )
}

/// Whether `runtime` runs the pod `uid` (so its "unsupported" is the answer for that pod).
async fn has_pod(runtime: &dyn ContainerRuntime, uid: &str) -> bool {
    runtime
        .list_pods()
        .await
        .is_ok_and(|pods| pods.iter().any(|p| p.uid == uid))
}

fn not_found(uid: &str, container: &str) -> RuntimeError {
    RuntimeError::ContainerNotFound {
        uid: uid.to_string(),
        container: container.to_string(),
    }
}

impl ContainerRuntime for MultiRuntime {
    fn name(&self) -> &'static str {
        self.runtimes[0].name()
    }

    fn runtime_classes(&self) -> Vec<String> {
        self.runtimes.iter().map(|r| r.name().to_string()).collect()
    }

    fn version(&self) -> RuntimeFuture<'_, String> {
        self.runtimes[0].version()
    }

    fn start_pod<'a>(&'a self, plan: &'a PodPlan) -> RuntimeFuture<'a, ()> {
        async move { self.pick(plan)?.start_pod(plan).await }.boxed()
    }

    fn start_init_container<'a>(
        &'a self,
        plan: &'a PodPlan,
        container: &'a str,
    ) -> RuntimeFuture<'a, ()> {
        async move { self.pick(plan)?.start_init_container(plan, container).await }.boxed()
    }

    fn sync_volumes<'a>(&'a self, plan: &'a PodPlan) -> RuntimeFuture<'a, ()> {
        async move { self.pick(plan)?.sync_volumes(plan).await }.boxed()
    }

    fn stop_container<'a>(
        &'a self,
        uid: &'a str,
        container: &'a str,
        grace: Duration,
    ) -> RuntimeFuture<'a, ()> {
        async move {
            for r in &self.runtimes {
                r.stop_container(uid, container, grace).await?;
            }
            Ok(())
        }
        .boxed()
    }

    fn probe_exec<'a>(
        &'a self,
        uid: &'a str,
        container: &'a str,
        command: &'a [String],
        timeout: Duration,
    ) -> RuntimeFuture<'a, (i32, String)> {
        async move {
            self.on_owner(uid, container, |r| {
                r.probe_exec(uid, container, command, timeout)
            })
            .await
        }
        .boxed()
    }

    fn restart_container<'a>(&'a self, uid: &'a str, container: &'a str) -> RuntimeFuture<'a, ()> {
        async move {
            self.on_owner(uid, container, |r| r.restart_container(uid, container))
                .await
        }
        .boxed()
    }

    fn logs<'a>(
        &'a self,
        uid: &'a str,
        container: &'a str,
        opts: super::LogOptions,
    ) -> RuntimeFuture<'a, super::LogStream> {
        async move {
            self.on_owner(uid, container, |r| r.logs(uid, container, opts.clone()))
                .await
        }
        .boxed()
    }

    fn exec<'a>(
        &'a self,
        uid: &'a str,
        container: &'a str,
        spec: super::ExecSpec,
    ) -> RuntimeFuture<'a, super::ExecSession> {
        async move {
            self.on_owner(uid, container, |r| r.exec(uid, container, spec.clone()))
                .await
        }
        .boxed()
    }

    fn stop_pod<'a>(&'a self, uid: &'a str, grace: Duration) -> RuntimeFuture<'a, ()> {
        async move {
            for r in &self.runtimes {
                r.stop_pod(uid, grace).await?;
            }
            Ok(())
        }
        .boxed()
    }

    fn remove_pod<'a>(&'a self, uid: &'a str) -> RuntimeFuture<'a, ()> {
        async move {
            for r in &self.runtimes {
                r.remove_pod(uid).await?;
            }
            Ok(())
        }
        .boxed()
    }

    fn container_usage(&self) -> RuntimeFuture<'_, Vec<ContainerUsage>> {
        async move {
            let mut out = Vec::new();
            for r in &self.runtimes {
                out.extend(r.container_usage().await?);
            }
            Ok(out)
        }
        .boxed()
    }

    fn list_pods(&self) -> RuntimeFuture<'_, Vec<ObservedPod>> {
        async move {
            let mut out = Vec::new();
            for r in &self.runtimes {
                out.extend(r.list_pods().await?);
            }
            Ok(out)
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fake::FakeCall;
    use crate::runtime::{FakeRuntime, ProcessRuntime};
    use shoal_transport::wire::ContainerPlan;

    fn plan(class: &str) -> PodPlan {
        PodPlan {
            uid: "0a1b-multi".into(),
            namespace: "default".into(),
            name: "p".into(),
            runtime_class: class.into(),
            containers: vec![ContainerPlan {
                name: "c".into(),
                image: "i".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn pods_go_to_their_runtime_class() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let fake = Arc::new(FakeRuntime::new());
        let multi = MultiRuntime::new(
            fake.clone(),
            vec![Arc::new(ProcessRuntime::new(tmp.path(), "127.0.0.1"))],
        );
        assert_eq!(multi.runtime_classes(), vec!["fake", "process"]);
        // No class: the default runtime.
        multi.start_pod(&plan("")).await.expect("start");
        assert_eq!(
            fake.calls(),
            vec![FakeCall::StartPod {
                uid: "0a1b-multi".into()
            }]
        );
        // A class the node lacks: a clear error, nothing started.
        let err = multi
            .start_pod(&plan("gvisor"))
            .await
            .expect_err("unknown class");
        assert!(
            format!("{err}").contains("gvisor") || format!("{err:?}").contains("gvisor"),
            "{err:?}"
        );
        assert_eq!(fake.calls().len(), 1);
        // Listing covers every runtime; logs of a container no runtime has: not found.
        assert_eq!(multi.list_pods().await.expect("list").len(), 1);
        let missing = multi
            .logs("nope", "c", crate::runtime::LogOptions::default())
            .await;
        assert!(matches!(
            missing,
            Err(RuntimeError::ContainerNotFound { .. })
        ));
    }
}
