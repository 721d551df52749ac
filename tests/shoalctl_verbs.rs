//! `shoalctl`'s verbs against a real hub without nodes: describe, scale, label, annotate,
//! events, get -w, delete --cascade, config, completion, rollout failures (progress deadline,
//! --timeout) and the errors a person sees (forbidden namespace, invalid manifest with file,
//! document and field). Pods stay Pending here; what needs running pods is in
//! `shoalctl_fleet.rs` (real Podman).
//!
//! `shoalctl` runs with `HOME` pointed at the temp dir and `KUBECONFIG` removed, so the
//! machine's own kubeconfig is never read.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use shoal_e2e::*;

/// A shoalctl bound to one kubeconfig.
struct Ctl<'a> {
    hub: &'a Hub,
    home: &'a Path,
    kubeconfig: PathBuf,
}

impl Ctl<'_> {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin("shoalctl"));
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env_remove("KUBECONFIG")
            .env("HOME", self.home);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("shoalctl runs")
    }

    fn run_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("shoalctl runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("shoalctl output")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "shoalctl {args:?} failed ({}): {}\n--- hub log ---\n{}",
            out.status,
            text(&out.stderr),
            tail(&self.hub.proc.log_text(), 30)
        );
        text(&out.stdout)
    }

    /// Must fail with status 1 and exactly one line on stderr, which is returned.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        one_line_failure(&out, args)
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&all)).expect("json output")
    }
}

fn one_line_failure(out: &Output, what: &[&str]) -> String {
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "shoalctl {what:?} should fail; stdout: {} stderr: {err}",
        text(&out.stdout)
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{what:?}: one line: {err:?}"
    );
    assert!(!err.contains("panicked"), "{err}");
    err.trim_end().to_string()
}

fn deployment(name: &str, replicas: u32, extra_spec: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
{extra_spec}  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: main
        image: localhost/busybox:latest
        command: [sleep, '3600']
"
    )
}

#[test]
fn verbs_without_nodes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hub = Hub::start(&tmp.path().join("hub"));
    let ctl = Ctl {
        hub: &hub,
        home: tmp.path(),
        kubeconfig: hub.kubeconfig(),
    };

    // Two pending replicas, then describe: the kind's sections and the scheduler's events.
    let out = ctl.run_stdin(&["apply", "-f", "-"], &deployment("web", 2, ""));
    assert_eq!(
        text(&out.stdout),
        "deployment.apps/web created\n",
        "{}",
        text(&out.stderr)
    );
    let pods = wait_for("two web pods", Duration::from_secs(30), || {
        let names: Vec<String> = ctl
            .ok(&["get", "pods", "-l", "app=web", "-o", "name"])
            .lines()
            .map(|l| l.trim_start_matches("pod/").to_string())
            .collect();
        (names.len() == 2).then_some(names)
    });
    let d = ctl.ok(&["describe", "deployment", "web"]);
    assert!(
        d.starts_with("Name:         web\nNamespace:    default\n"),
        "{d}"
    );
    assert!(d.contains("Replicas:     2 desired | "), "{d}");
    assert!(d.contains("StrategyType:  RollingUpdate"), "{d}");
    let page = wait_for(
        "a FailedScheduling event on the pod",
        Duration::from_secs(30),
        || {
            let p = ctl.ok(&["describe", "pod", &pods[0]]);
            p.contains("FailedScheduling").then_some(p)
        },
    );
    assert!(page.contains("Status:       Pending"), "{page}");
    assert!(page.contains("Controlled By:  ReplicaSet/web-"), "{page}");
    let events_header = page
        .lines()
        .skip_while(|l| *l != "Events:")
        .nth(1)
        .expect("events table");
    assert_eq!(
        events_header.split_whitespace().collect::<Vec<_>>(),
        ["Type", "Reason", "Age", "From", "Message"],
        "{page}"
    );
    assert!(ctl
        .ok(&["describe", "ns", "default"])
        .starts_with("Name:         default\n"));
    let err = ctl.fails(&["describe", "pod", "nope"]);
    assert_eq!(err, "Error from server (NotFound): pods \"nope\" not found");

    // events: the namespace's, about one object, of one type.
    let ev = ctl.ok(&["events"]);
    assert_eq!(
        ev.lines()
            .next()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]),
        "{ev}"
    );
    assert!(ev.contains(&format!("Pod/{}", pods[0])), "{ev}");
    let one = ctl.ok(&["events", "--for", &format!("pod/{}", pods[1])]);
    assert!(
        one.lines()
            .skip(1)
            .all(|l| l.contains(&format!("Pod/{}", pods[1]))),
        "{one}"
    );
    assert!(one.lines().count() >= 2, "{one}");
    let normal = ctl.run(&["events", "--types", "Normal"]);
    assert!(
        !text(&normal.stdout).contains("FailedScheduling"),
        "{}",
        text(&normal.stdout)
    );

    // scale: through /scale; a precondition that does not hold changes nothing.
    assert_eq!(
        ctl.ok(&["scale", "deployment", "web", "--replicas", "3"]),
        "deployment.apps/web scaled\n"
    );
    assert_eq!(ctl.json(&["get", "deploy", "web"])["spec"]["replicas"], 3);
    let err = ctl.fails(&[
        "scale",
        "deploy/web",
        "--replicas",
        "1",
        "--current-replicas",
        "2",
    ]);
    assert_eq!(err, "error: Expected replicas to be 2, was 3");
    assert_eq!(ctl.json(&["get", "deploy", "web"])["spec"]["replicas"], 3);
    let err = ctl.fails(&["scale", "deploy", "nope", "--replicas", "1"]);
    assert!(err.starts_with("Error from server (NotFound): "), "{err}");

    // label and annotate: set, unchanged, --overwrite, removal, by selector.
    let p = pods[0].as_str();
    assert_eq!(
        ctl.ok(&["label", "pod", p, "env=prod"]),
        format!("pod/{p} labeled\n")
    );
    assert_eq!(
        ctl.ok(&["label", "pod", p, "env=prod"]),
        format!("pod/{p} not labeled\n")
    );
    let err = ctl.fails(&["label", "pod", p, "env=dev"]);
    assert_eq!(
        err,
        "error: 'env' already has a value (prod), and --overwrite is false"
    );
    assert_eq!(
        ctl.ok(&["label", "pod", p, "env=dev", "--overwrite"]),
        format!("pod/{p} labeled\n")
    );
    assert_eq!(
        ctl.json(&["get", "pod", p])["metadata"]["labels"]["env"],
        "dev"
    );
    assert_eq!(
        ctl.ok(&["label", &format!("pod/{p}"), "env-"]),
        format!("pod/{p} labeled\n")
    );
    assert!(ctl.json(&["get", "pod", p])["metadata"]["labels"]
        .get("env")
        .is_none());
    let both = ctl.ok(&["label", "pods", "-l", "app=web", "tier=back"]);
    assert_eq!(both.lines().count(), 3, "{both}");
    assert_eq!(
        ctl.ok(&["get", "pods", "-l", "tier=back", "-o", "name"])
            .lines()
            .count(),
        3
    );
    // -L and --show-labels put labels into the table.
    let cols = ctl.ok(&["get", "pods", "-l", "app=web", "-L", "tier"]);
    let header = cols.lines().next().expect("header");
    assert!(header.ends_with("   TIER"), "{cols}");
    assert!(
        cols.lines().skip(1).all(|l| l.ends_with("   back")),
        "{cols}"
    );
    let shown = ctl.ok(&["get", "pods", "-l", "app=web", "--show-labels"]);
    assert!(
        shown.lines().next().expect("header").ends_with("   LABELS"),
        "{shown}"
    );
    assert!(
        shown
            .lines()
            .skip(1)
            .all(|l| l.contains("app=web") && l.contains("tier=back")),
        "{shown}"
    );
    assert_eq!(
        ctl.ok(&["annotate", "deploy", "web", "note=hello world"]),
        "deployment.apps/web annotated\n"
    );
    assert_eq!(
        ctl.json(&["get", "deploy", "web"])["metadata"]["annotations"]["note"],
        "hello world"
    );
    assert_eq!(
        ctl.ok(&["annotate", "deploy", "web", "note-"]),
        "deployment.apps/web annotated\n"
    );
    let err = ctl.fails(&["label", "pod", p]);
    assert!(err.contains("at least one change"), "{err}");

    // get -w: the table first, then a line for a pod created later.
    let mut watcher = ctl
        .cmd(&["get", "pods", "-w"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("shoalctl get -w");
    let stdout = watcher.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the header");
    assert!(first.starts_with("NAME "), "{first}");
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: late\nspec:\n  containers:\n  - name: c\n    image: localhost/busybox:latest\n";
    let out = ctl.run_stdin(&["create", "-f", "-"], pod);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut seen = Vec::new();
    let late = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no line for the new pod; saw {seen:?}"));
        if line.starts_with("late ") {
            break line;
        }
        seen.push(line);
    };
    assert!(late.contains("Pending"), "{late}");
    assert_eq!(
        late.find("Pending"),
        first.find("STATUS"),
        "watch rows line up with the header:\n{first}\n{late}"
    );
    let _ = Command::new("kill").arg(watcher.id().to_string()).status();
    let _ = watcher.wait();
    drop(rx);
    let _ = reader.join();

    // rollout status: a deadline that passes fails with the reason; --timeout fails too.
    let out = ctl.run_stdin(
        &["apply", "-f", "-"],
        &deployment("stuck", 1, "  progressDeadlineSeconds: 2\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = ctl.run(&["rollout", "status", "deployment/stuck", "--timeout", "60s"]);
    let err = one_line_failure(&out, &["rollout", "status", "deployment/stuck"]);
    assert_eq!(
        err,
        "error: deployment \"stuck\" exceeded its progress deadline"
    );
    assert!(
        text(&out.stdout).contains("Waiting for deployment \"stuck\" rollout to finish"),
        "{}",
        text(&out.stdout)
    );
    let out = ctl.run(&["rollout", "status", "deploy", "web", "--timeout", "2s"]);
    let err = one_line_failure(&out, &["rollout", "status", "deploy", "web"]);
    assert_eq!(
        err,
        "error: timed out waiting for the rollout of deployment.apps/web after 2s"
    );
    let once = ctl.ok(&["rollout", "status", "deploy/web", "--watch=false"]);
    assert!(once.starts_with("Waiting for deployment \"web\" rollout to finish: 0 of 3 updated replicas are available..."), "{once}");
    let err = ctl.fails(&["rollout", "status", "pod", p]);
    assert!(
        err.contains("rollout works on deployments and daemonsets"),
        "{err}"
    );
    assert_eq!(
        ctl.ok(&["rollout", "pause", "deploy/web"]),
        "deployment.apps/web paused\n"
    );
    let err = ctl.fails(&["rollout", "pause", "deploy/web"]);
    assert_eq!(err, "error: deployments.apps \"web\" is already paused");
    let err = ctl.fails(&["rollout", "restart", "deploy/web"]);
    assert!(err.contains("can't restart paused deployment"), "{err}");
    assert_eq!(
        ctl.ok(&["rollout", "resume", "deploy/web"]),
        "deployment.apps/web resumed\n"
    );
    let hist = ctl.ok(&["rollout", "history", "deploy/web"]);
    assert_eq!(
        hist,
        "deployment.apps/web\nREVISION   CHANGE-CAUSE\n1          <none>\n\n"
    );
    let err = ctl.fails(&["rollout", "undo", "deploy/web"]);
    assert!(err.contains("no revision to roll back to"), "{err}");

    // delete --cascade: the policy goes to the hub (foreground: dependents first); a value
    // that is not a policy is refused before anything is sent. (Whether an orphaned
    // ReplicaSet survives is the hub's business: its deployment controller can re-adopt it
    // between the orphaning and the delete, see the report.)
    assert_eq!(
        ctl.ok(&["delete", "deploy", "stuck", "--cascade=orphan"]),
        "deployment.apps \"stuck\" deleted\n"
    );
    let out = ctl.run(&["delete", "deploy", "web", "--cascade=sideways"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(
        text(&out.stderr).starts_with("error: invalid value 'sideways' for '--cascade"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        ctl.ok(&["delete", "deploy", "web", "--cascade=foreground"]),
        "deployment.apps \"web\" deleted\n"
    );
    wait_for(
        "web's ReplicaSet and pods to go",
        Duration::from_secs(30),
        || {
            (ctl.ok(&["get", "rs,pods", "-l", "app=web", "-o", "name"])
                .is_empty())
            .then_some(())
        },
    );

    // config: secrets hidden, contexts listed and switched in a copy of the kubeconfig.
    let view = ctl.ok(&["config", "view"]);
    assert!(
        view.contains("certificate-authority-data: DATA+OMITTED")
            && view.contains("token: REDACTED"),
        "{view}"
    );
    let raw = ctl.ok(&["config", "view", "--raw"]);
    let real = std::fs::read_to_string(hub.kubeconfig()).expect("kubeconfig");
    let token_line = real
        .lines()
        .find(|l| l.trim_start().starts_with("token:"))
        .expect("token");
    assert!(raw.contains(token_line.trim()), "--raw shows the token");
    let copy = tmp.path().join("copy.kubeconfig");
    let ctx = ctl.ok(&["config", "current-context"]).trim().to_string();
    let with_second = real.replacen(
        "contexts:\n",
        &format!("contexts:\n- name: other\n  context:\n    cluster: {ctx}\n    user: nobody\n"),
        1,
    );
    std::fs::write(&copy, &with_second).expect("write");
    let c2 = Ctl {
        hub: &hub,
        home: tmp.path(),
        kubeconfig: copy.clone(),
    };
    let contexts = c2.ok(&["config", "get-contexts"]);
    assert!(
        contexts
            .lines()
            .any(|l| l.starts_with("*") && l.contains(&ctx)),
        "{contexts}"
    );
    assert_eq!(
        c2.ok(&["config", "use-context", "other"]),
        "Switched to context \"other\".\n"
    );
    assert_eq!(c2.ok(&["config", "current-context"]), "other\n");
    let err = c2.fails(&["config", "use-context", "nope"]);
    assert_eq!(err, "error: no context exists with the name: \"nope\"");
    assert_eq!(
        c2.ok(&["config", "use-context", &ctx]),
        format!("Switched to context \"{ctx}\".\n")
    );
    assert!(
        c2.ok(&["get", "ns", "default", "-o", "name"])
            .contains("namespace/default"),
        "the edited kubeconfig still works"
    );

    // completion scripts for both shells know the verbs.
    let bash = ctl.ok(&["completion", "bash"]);
    assert!(
        bash.contains("complete -F") && bash.contains("rollout") && bash.contains("drain"),
        "bash"
    );
    let zsh = ctl.ok(&["completion", "zsh"]);
    assert!(zsh.starts_with("#compdef shoalctl"), "zsh");
    let out = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .output();
    if let Ok(o) = out {
        assert!(o.status.success());
    }

    // join tokens with a TTL: the agent's format, pinning the same CA as the hub's own.
    let out = ctl.run(&["token", "create", "--join", "--ttl", "2h"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let join = text(&out.stdout).trim().to_string();
    let parts: Vec<&str> = join.split('.').collect();
    let hubs = std::fs::read_to_string(hub.join_token_file()).expect("join-token");
    let hub_parts: Vec<&str> = hubs.trim().split('.').collect();
    assert_eq!(parts.len(), 3, "{join}");
    assert_eq!(
        (parts[0], parts[1]),
        (hub_parts[0], hub_parts[1]),
        "same format and CA hash"
    );
    assert_ne!(parts[2], hub_parts[2], "a secret of its own");
    assert!(parts[2].len() == 32 && parts[2].chars().all(|c| c.is_ascii_alphanumeric()));
    let list = ctl.ok(&["token", "list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("node-join ") && l.contains("join nodes")),
        "{list}"
    );
    let revoked = ctl.ok(&["token", "revoke", "--user", "node-join"]);
    assert!(
        revoked.starts_with("token \"shoal-join-") && revoked.ends_with(" revoked\n"),
        "{revoked}"
    );

    // top without usage reported: the nodes' table is empty; pods show <unknown>.
    let top = ctl.ok(&["top", "pods"]);
    assert!(
        top.starts_with("NAME") && top.contains("<unknown>"),
        "{top}"
    );
}

#[test]
fn errors_name_the_namespace_the_file_the_document_and_the_field() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hub = Hub::start(&tmp.path().join("hub"));
    let ctl = Ctl {
        hub: &hub,
        home: tmp.path(),
        kubeconfig: hub.kubeconfig(),
    };
    for ns in ["team-a", "team-b"] {
        let out = ctl.run_stdin(
            &["apply", "-f", "-"],
            &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"),
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
    }

    // A user of team-a: forbidden in team-b, one line, exit 1.
    let alice = tmp.path().join("alice.kubeconfig");
    let out = ctl.run(&[
        "token",
        "create",
        "--user",
        "alice",
        "--role",
        "view",
        "--namespace",
        "team-a",
        "--ttl",
        "1h",
        "--kubeconfig-out",
        alice.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let a = Ctl {
        hub: &hub,
        home: tmp.path(),
        kubeconfig: alice,
    };
    assert!(a.run(&["get", "pods", "-n", "team-a"]).status.success());
    let err = a.fails(&["get", "pods", "-n", "team-b"]);
    assert!(err.starts_with("Error from server (Forbidden): "), "{err}");
    assert!(err.contains("team-b"), "{err}");
    let err = a.fails(&["scale", "deploy", "x", "-n", "team-b", "--replicas", "1"]);
    assert!(err.starts_with("Error from server (Forbidden): "), "{err}");

    // An invalid object in the second document of a file: file, document, field.
    let file = tmp.path().join("two.yaml");
    let bad = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: noimage\nspec:\n  containers:\n  - name: c\n";
    std::fs::write(
        &file,
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n---\n{bad}"),
    )
    .expect("write");
    let f = file.to_str().expect("utf-8");
    let out = ctl.run(&["apply", "-f", f]);
    assert_eq!(text(&out.stdout), "configmap/fine created\n");
    let err = one_line_failure(&out, &["apply", "-f", f]);
    assert!(
        err.starts_with(&format!(
            "Error from server (Invalid): error when creating \"{f}\" (document 2): "
        )),
        "{err}"
    );
    assert!(
        err.contains("spec.containers[0].image"),
        "the field is named: {err}"
    );

    // An expired token: the hub's 401 says what may be wrong and where the token is.
    let bob = tmp.path().join("bob.kubeconfig");
    let out = ctl.run(&[
        "token",
        "create",
        "--user",
        "bob",
        "--role",
        "view",
        "--namespace",
        "team-a",
        "--ttl",
        "1s",
        "--kubeconfig-out",
        bob.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let b = Ctl {
        hub: &hub,
        home: tmp.path(),
        kubeconfig: bob.clone(),
    };
    let err = wait_for("bob's token to expire", Duration::from_secs(30), || {
        let out = b.run(&["get", "pods", "-n", "team-a"]);
        (!out.status.success()).then(|| one_line_failure(&out, &["get", "pods"]))
    });
    assert_eq!(
        err,
        format!("error: the hub refused your credentials (Unauthorized): the token is wrong, expired or revoked; check the token in {}", bob.display())
    );
}
