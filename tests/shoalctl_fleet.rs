//! `shoalctl` on a real node (agent + real Podman): rollout status|history|undo|restart for a
//! Deployment and a DaemonSet, `fleet`, `describe node`, `cordon`/`drain`/`uncordon`
//! respecting DaemonSets, and `logs` against the hub's log endpoint.
//!
//! Each test starts its own hub, Podman API service and agent; the guards stop them and the
//! node's containers are removed by label. `shoalctl` runs with `HOME` pointed at the temp
//! dir and `KUBECONFIG` removed.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use shoal_e2e::*;

struct Ctl<'a> {
    hub: &'a Hub,
    home: &'a Path,
}

impl Ctl<'_> {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(bin("shoalctl"))
            .arg("--kubeconfig")
            .arg(self.hub.kubeconfig())
            .args(args)
            .env_remove("KUBECONFIG")
            .env("HOME", self.home)
            .stdin(Stdio::null())
            .output()
            .expect("shoalctl runs")
    }

    fn apply(&self, manifest: &str) -> String {
        use std::io::Write;
        let mut child = Command::new(bin("shoalctl"))
            .arg("--kubeconfig")
            .arg(self.hub.kubeconfig())
            .args(["apply", "-f", "-"])
            .env_remove("KUBECONFIG")
            .env("HOME", self.home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("shoalctl runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(manifest.as_bytes())
            .expect("stdin");
        let out = child.wait_with_output().expect("output");
        assert!(out.status.success(), "apply: {}", text(&out.stderr));
        text(&out.stdout)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "shoalctl {args:?} failed ({}): {}\nstdout: {}\n--- hub log ---\n{}",
            out.status,
            text(&out.stderr),
            text(&out.stdout),
            tail(&self.hub.proc.log_text(), 30)
        );
        text(&out.stdout)
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let err = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "shoalctl {args:?} should fail: {err} {}",
            text(&out.stdout)
        );
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
        err.trim_end().to_string()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&all)).expect("json")
    }

    /// `(name, phase)` of the pods matching a selector.
    fn pods(&self, selector: &str) -> Vec<(String, String)> {
        let v = self.json(&["get", "pods", "-l", selector]);
        v["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| {
                        (
                            p["metadata"]["name"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                            p["status"]["phase"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn deployment(version: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: localhost/busybox:latest
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'echo version {version}; exec sleep 3600']
        env:
        - name: VERSION
          value: '{version}'
"
    )
}

fn daemonset(version: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: col
spec:
  selector:
    matchLabels:
      app: col
  template:
    metadata:
      labels:
        app: col
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: col
        image: localhost/busybox:latest
        imagePullPolicy: IfNotPresent
        command: [sleep, '3600']
        env:
        - name: VERSION
          value: '{version}'
"
    )
}

fn version_of(v: &serde_json::Value) -> String {
    v["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn rollouts_fleet_and_drain_on_a_real_node() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hub = Hub::start(&tmp.path().join("hub"));
    let mut podman = PodmanService::start(tmp.path());
    let node = format!("ctl-fleet-{}", rand_u64() % 1_000_000);
    podman.own_node(&node);
    let _agent = Agent::start(
        &hub,
        &node,
        &tmp.path().join("agent"),
        &podman,
        &["--labels", "room=kitchen"],
    );
    let ctl = Ctl {
        hub: &hub,
        home: tmp.path(),
    };
    wait_for("the node to be Ready", Duration::from_secs(60), || {
        ctl.ok(&["get", "nodes"])
            .lines()
            .any(|l| l.starts_with(&node) && l.contains(" Ready"))
            .then_some(())
    });

    // First rollouts complete; the non-terminal display prints kubectl's messages.
    ctl.apply(&deployment("1"));
    ctl.apply(&daemonset("1"));
    let out = ctl.ok(&["rollout", "status", "deployment/web", "--timeout", "180s"]);
    assert!(
        out.ends_with("deployment \"web\" successfully rolled out\n"),
        "{out}"
    );
    // Design: a node that just turned Ready may still carry the not-ready NoSchedule taint
    // for one node-lifecycle pass (5 s); the DaemonSet counts it once the taint is gone.
    wait_for(
        "the DaemonSet to count the node",
        Duration::from_secs(60),
        || {
            let out = ctl.ok(&["get", "ds", "col", "-o", "json"]);
            let ds: serde_json::Value = serde_json::from_str(&out).ok()?;
            (ds["status"]["desiredNumberScheduled"] == 1).then_some(())
        },
    );
    let out = ctl.ok(&["rollout", "status", "ds", "col", "--timeout", "180s"]);
    assert!(
        out.ends_with("daemon set \"col\" successfully rolled out\n"),
        "{out}"
    );

    // fleet: the kitchen has one online node; the DaemonSet is rolled out.
    let fleet = ctl.ok(&["fleet", "--by", "room"]);
    let row: Vec<&str> = fleet
        .lines()
        .find(|l| l.starts_with("kitchen "))
        .unwrap_or_else(|| panic!("{fleet}"))
        .split_whitespace()
        .collect();
    assert_eq!(&row[..6], ["kitchen", "1", "1", "0", "0", "0"], "{fleet}");
    assert!(row[7].contains("podman"), "runtimes: {fleet}");
    let ds_row = fleet
        .lines()
        .find(|l| l.starts_with("default ") && l.contains(" col "))
        .unwrap_or_else(|| panic!("{fleet}"));
    assert_eq!(
        ds_row.split_whitespace().collect::<Vec<_>>(),
        [
            "default",
            "col",
            "1",
            "1",
            "1",
            "0",
            "RollingUpdate",
            "rolled",
            "out"
        ],
        "{fleet}"
    );
    let d = ctl.ok(&["describe", "node", &node]);
    assert!(
        d.contains("Kubelet Version:") && d.contains("Pods:         (3 in total)"),
        "{d}"
    );

    // A second revision of each, then back to the first with undo.
    ctl.apply(&deployment("2"));
    ctl.ok(&["rollout", "status", "deployment/web", "--timeout", "180s"]);
    let hist = ctl.ok(&["rollout", "history", "deployment/web"]);
    assert_eq!(
        hist,
        "deployment.apps/web\nREVISION   CHANGE-CAUSE\n1          <none>\n2          <none>\n\n"
    );
    let one = ctl.ok(&["rollout", "history", "deployment/web", "--revision", "1"]);
    assert!(
        one.starts_with("deployment.apps/web with revision #1\nPod Template:\n")
            && one.contains("value: '1'"),
        "{one}"
    );
    assert_eq!(
        ctl.ok(&["rollout", "undo", "deployment/web"]),
        "deployment.apps/web rolled back\n"
    );
    assert_eq!(version_of(&ctl.json(&["get", "deploy", "web"])), "1");
    ctl.ok(&["rollout", "status", "deployment/web", "--timeout", "180s"]);
    let hist = ctl.ok(&["rollout", "history", "deployment/web"]);
    assert_eq!(
        hist,
        "deployment.apps/web\nREVISION   CHANGE-CAUSE\n2          <none>\n3          <none>\n\n",
        "the old ReplicaSet got the next revision"
    );
    assert_eq!(
        ctl.ok(&["rollout", "undo", "deployment/web", "--to-revision", "3"]),
        "deployment.apps/web skipped rollback (current template already matches revision 3)\n"
    );

    // On a terminal the progress is one line redrawn with the updated/available counts
    // (`script` gives the command a pseudo-terminal).
    ctl.apply(&daemonset("2"));
    let shoalctl = bin("shoalctl");
    let cmdline = format!(
        "{} --kubeconfig {} rollout status daemonset/col --timeout 180s",
        shoalctl.display(),
        hub.kubeconfig().display()
    );
    let out = Command::new("script")
        .args(["-qec", &cmdline, "/dev/null"])
        .env_remove("KUBECONFIG")
        .env("HOME", tmp.path())
        .stdin(Stdio::null())
        .output()
        .expect("script runs");
    let tty = text(&out.stdout);
    assert!(out.status.success(), "{tty}");
    assert!(
        tty.contains("daemon set \"col\" successfully rolled out"),
        "{tty:?}"
    );
    if tty.contains("Waiting") {
        assert!(
            tty.contains("\r\x1b[2K[") && tty.contains("] updated "),
            "a redrawn bar: {tty:?}"
        );
    }
    let hist = ctl.ok(&["rollout", "history", "daemonset/col"]);
    assert_eq!(
        hist,
        "daemonset.apps/col\nREVISION   CHANGE-CAUSE\n1          <none>\n2          <none>\n\n"
    );
    assert_eq!(
        ctl.ok(&["rollout", "undo", "daemonset/col", "--to-revision", "1"]),
        "daemonset.apps/col rolled back\n"
    );
    assert_eq!(version_of(&ctl.json(&["get", "ds", "col"])), "1");
    let out = ctl.ok(&["rollout", "status", "daemonset/col", "--timeout", "180s"]);
    assert!(
        out.ends_with("daemon set \"col\" successfully rolled out\n"),
        "{out}"
    );

    // restart: a new rollout of the same template.
    let before: Vec<String> = ctl.pods("app=web").into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        ctl.ok(&["rollout", "restart", "deployment/web"]),
        "deployment.apps/web restarted\n"
    );
    let stamped = ctl.json(&["get", "deploy", "web"]);
    assert!(stamped["spec"]["template"]["metadata"]["annotations"]
        ["kubectl.kubernetes.io/restartedAt"]
        .is_string());
    ctl.ok(&["rollout", "status", "deployment/web", "--timeout", "180s"]);
    let after: Vec<String> = wait_for("the old pods to go", Duration::from_secs(60), || {
        let now: Vec<(String, String)> = ctl.pods("app=web");
        (now.len() == 2 && now.iter().all(|(n, _)| !before.contains(n)))
            .then(|| now.into_iter().map(|(n, _)| n).collect())
    });

    // logs: the hub's log endpoint answers with the container's output, or (while that
    // endpoint is not served) one line saying what the hub answered.
    let out = ctl.run(&["logs", &after[0], "--tail", "5"]);
    if out.status.success() {
        assert!(
            text(&out.stdout).contains("version 1"),
            "{}",
            text(&out.stdout)
        );
    } else {
        let err = text(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(
            err.starts_with("Error from server") || err.starts_with("error: the hub answered"),
            "{err}"
        );
    }

    // exec over the hub's WebSocket exec endpoint: output, stdin and the exit code pass
    // through; while the hub does not serve exec, one line says so.
    let out = ctl.run(&[
        "--request-timeout",
        "10s",
        "exec",
        &after[0],
        "--",
        "sh",
        "-c",
        "echo hi; echo oops >&2; exit 3",
    ]);
    if out.status.code() == Some(3) {
        assert_eq!(text(&out.stdout), "hi\n");
        assert_eq!(
            text(&out.stderr),
            "oops\ncommand terminated with exit code 3\n"
        );
        let mut child = Command::new(bin("shoalctl"))
            .arg("--kubeconfig")
            .arg(hub.kubeconfig())
            .args(["exec", "-i", "deploy/web", "--", "cat"])
            .env_remove("KUBECONFIG")
            .env("HOME", tmp.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("shoalctl exec -i");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(b"from stdin\n").expect("write");
        }
        let out = child.wait_with_output().expect("exec -i");
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "from stdin\n");
    } else {
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }

    // drain: refused while a DaemonSet pod is there, unless --ignore-daemonsets; the node
    // stays cordoned, the web pods come back Pending, the collector stays.
    let err = ctl.fails(&["drain", &node]);
    assert!(err.contains("cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): default/col-"), "{err}");
    assert!(
        ctl.ok(&["get", "node", &node])
            .contains("SchedulingDisabled"),
        "cordoned"
    );
    let out = ctl.run(&["drain", &node, "--ignore-daemonsets", "--timeout", "120s"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.starts_with(&format!("node/{node} already cordoned\n")),
        "{said}"
    );
    for p in &after {
        assert!(
            said.contains(&format!("evicting pod default/{p}\n"))
                && said.contains(&format!("pod/{p} evicted\n")),
            "{said}"
        );
    }
    assert!(said.ends_with(&format!("node/{node} drained\n")), "{said}");
    assert!(
        text(&out.stderr).contains("Warning: ignoring DaemonSet-managed Pods: default/col-"),
        "{}",
        text(&out.stderr)
    );
    let web = ctl.pods("app=web");
    assert!(
        web.iter()
            .all(|(n, ph)| !after.contains(n) && ph == "Pending"),
        "{web:?}"
    );
    assert_eq!(ctl.pods("app=col").len(), 1, "the DaemonSet pod stays");
    assert_eq!(
        ctl.ok(&["uncordon", &node]),
        format!("node/{node} uncordoned\n")
    );
    assert_eq!(
        ctl.ok(&["uncordon", &node]),
        format!("node/{node} already uncordoned\n")
    );
    wait_for("web pods running again", Duration::from_secs(120), || {
        let web = ctl.pods("app=web");
        (web.len() == 2 && web.iter().all(|(_, ph)| ph == "Running")).then_some(())
    });
}
