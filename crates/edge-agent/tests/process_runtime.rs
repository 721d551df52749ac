//! The process runtime with real processes: environment, working directory, a volume bound
//! at its mountPath in a private mount namespace (root), exit codes recorded by the wrapper,
//! graceful stop, restart, adoption by a new runtime instance (an agent restart), removal.

use std::path::Path;
use std::time::{Duration, Instant};

use shoal_edge_agent::runtime::{ContainerRuntime, ObservedPod, ObservedState, ProcessRuntime};
use shoal_transport::wire::{ContainerPlan, MountPlan, PodPlan, VolumePlan};

fn plan(uid: &str, mount: &Path) -> PodPlan {
    PodPlan {
        uid: uid.into(),
        namespace: "default".into(),
        name: "proc".into(),
        termination_grace_period_seconds: 5,
        runtime_class: "process".into(),
        containers: vec![
            ContainerPlan {
                name: "main".into(),
                image: "unused".into(),
                command: vec!["/bin/sh".into(), "-c".into()],
                args: vec![
                    "echo \"$GREETING from $(pwd)\" > $OUT/hello; echo started; exec sleep 60"
                        .into(),
                ],
                working_dir: "/tmp".into(),
                env: vec![
                    ("GREETING".into(), "hi".into()),
                    ("OUT".into(), mount.to_string_lossy().into_owned()),
                ],
                volume_mounts: vec![MountPlan {
                    name: "data".into(),
                    mount_path: mount.to_string_lossy().into_owned(),
                    read_only: false,
                    sub_path: String::new(),
                }],
                ..Default::default()
            },
            ContainerPlan {
                name: "quits".into(),
                image: "unused".into(),
                command: vec!["/bin/sh".into(), "-c".into(), "exit 3".into()],
                ..Default::default()
            },
        ],
        volumes: vec![VolumePlan::EmptyDir {
            name: "data".into(),
            medium_memory: false,
        }],
        ..Default::default()
    }
}

async fn wait_until(
    rt: &dyn ContainerRuntime,
    what: &str,
    mut f: impl FnMut(&[ObservedPod]) -> bool,
) -> Vec<ObservedPod> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pods = rt.list_pods().await.expect("list");
        if f(&pods) {
            return pods;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {pods:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn state(pods: &[ObservedPod], c: &str) -> Option<ObservedState> {
    pods.first()?.container(c).map(|c| c.state)
}

#[tokio::test]
async fn process_pods_run_stop_restart_and_are_adopted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mount = tmp.path().join("mnt");
    let rt = ProcessRuntime::new(&tmp.path().join("agent"), "127.0.0.9");
    let uid = "0e6f2a10-proc-test";
    let p = plan(uid, &mount);
    rt.start_pod(&p).await.expect("start");

    let pods = wait_until(&rt, "main running, quits exited", |pods| {
        state(pods, "main").is_some_and(|s| s.is_running())
            && matches!(state(pods, "quits"), Some(ObservedState::Exited { .. }))
    })
    .await;
    assert_eq!(pods[0].pod_ip.as_deref(), Some("127.0.0.9"));
    assert!(matches!(
        state(&pods, "quits"),
        Some(ObservedState::Exited { exit_code: 3, .. })
    ));

    // The volume was bound at its mountPath inside the process's mount namespace only: the
    // file landed in the pod's emptyDir, the host's mount point stayed empty.
    let volume_file = tmp
        .path()
        .join("agent/process")
        .join(uid)
        .join("volumes/data/hello");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !volume_file.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        std::fs::read_to_string(&volume_file).expect("hello"),
        "hi from /tmp\n"
    );
    assert!(
        !mount.join("hello").exists(),
        "the host does not see the bind mount"
    );
    let log = std::fs::read_to_string(
        tmp.path()
            .join("agent/process")
            .join(uid)
            .join("containers/main/log"),
    )
    .expect("log");
    assert!(log.contains("started"), "{log}");

    // A new runtime over the same directory (an agent restart) adopts the running process.
    let id = pods[0].container("main").expect("main").id.clone();
    let adopted = ProcessRuntime::new(&tmp.path().join("agent"), "127.0.0.9");
    let again = adopted.list_pods().await.expect("list");
    assert_eq!(
        again[0].container("main").map(|c| c.id.clone()),
        Some(id.clone())
    );
    assert!(state(&again, "main").is_some_and(|s| s.is_running()));

    // Graceful stop: SIGTERM ends `sleep`, the wrapper records 143.
    adopted
        .stop_pod(uid, Duration::from_secs(5))
        .await
        .expect("stop");
    let pods = adopted.list_pods().await.expect("list");
    assert!(
        matches!(
            state(&pods, "main"),
            Some(ObservedState::Exited { exit_code: 143, .. })
        ),
        "{pods:#?}"
    );

    // Restart runs the command again (a new process).
    adopted
        .restart_container(uid, "main")
        .await
        .expect("restart");
    let pods = wait_until(&adopted, "main running again", |pods| {
        state(pods, "main").is_some_and(|s| s.is_running())
    })
    .await;
    assert_ne!(pods[0].container("main").map(|c| c.id.clone()), Some(id));

    // A failed liveness probe kills one container; exec probes run commands.
    assert_eq!(
        adopted
            .probe_exec(uid, "main", &["true".into()], Duration::from_secs(2))
            .await
            .expect("probe")
            .0,
        0
    );
    assert_eq!(
        adopted
            .probe_exec(uid, "main", &["false".into()], Duration::from_secs(2))
            .await
            .expect("probe")
            .0,
        1
    );
    adopted
        .stop_container(uid, "main", Duration::from_secs(2))
        .await
        .expect("kill");
    let pods = adopted.list_pods().await.expect("list");
    assert!(matches!(
        state(&pods, "main"),
        Some(ObservedState::Exited { .. })
    ));

    // Removal stops everything and deletes the pod's directory.
    adopted
        .restart_container(uid, "main")
        .await
        .expect("restart");
    adopted.remove_pod(uid).await.expect("remove");
    assert!(adopted.list_pods().await.expect("list").is_empty());
    assert!(!tmp.path().join("agent/process").join(uid).exists());
}

#[tokio::test]
async fn a_container_without_a_command_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let rt = ProcessRuntime::new(tmp.path(), "127.0.0.9");
    let mut p = plan("1d2c-nocmd", &tmp.path().join("m"));
    p.containers.truncate(1);
    p.containers[0].command.clear();
    p.containers[0].volume_mounts.clear();
    let err = rt.start_pod(&p).await.expect_err("no command");
    assert!(
        err.to_string().contains("set command") || format!("{err:?}").contains("command"),
        "{err:?}"
    );
}
