//! Stock kubectl, oldest and newest supported (1.27 and 1.33), through the verbs operators
//! use every day, asserting on outputs and exit codes.

use std::path::PathBuf;
use std::time::Duration;

use shoal_e2e::*;

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  mode: fast
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: httpd
        image: localhost/busybox:latest
        command: ["httpd", "-f", "-p", "8080"]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
"#;

struct Kubectl {
    bin: String,
    kubeconfig: PathBuf,
}

impl Kubectl {
    fn run(&self, args: &[&str]) -> std::process::Output {
        kubectl_with(&self.bin, &self.kubeconfig, args, None)
    }
    fn stdin(&self, args: &[&str], input: &str) -> std::process::Output {
        kubectl_with(&self.bin, &self.kubeconfig, args, Some(input))
    }
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{} {args:?} failed: {}",
            self.bin,
            text(&out.stderr)
        );
        text(&out.stdout)
    }
}

fn scenario(version: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hub = Hub::start(&tmp.path().join("hub"));
    let k = Kubectl {
        bin: format!("/usr/lib/google-cloud-sdk/bin/kubectl.{version}"),
        kubeconfig: hub.kubeconfig(),
    };

    // apply: create, then change and apply again.
    let out = k.stdin(&["apply", "-f", "-"], MANIFESTS);
    assert!(out.status.success(), "{version}: {}", text(&out.stderr));
    let s = text(&out.stdout);
    for line in [
        "namespace/shop created",
        "configmap/settings created",
        "deployment.apps/web created",
        "service/web created",
    ] {
        assert!(s.contains(line), "{version}: {s}");
    }
    let changed = MANIFESTS.replace("mode: fast", "mode: careful");
    let s = text(&k.stdin(&["apply", "-f", "-"], &changed).stdout);
    assert!(
        s.contains("configmap/settings configured") && s.contains("deployment.apps/web unchanged"),
        "{version}: {s}"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "configmap",
            "settings",
            "-n",
            "shop",
            "-o",
            "jsonpath={.data.mode}"
        ]),
        "careful"
    );

    // diff: a pending change exits 1 and shows it.
    let out = k.stdin(
        &["diff", "-f", "-"],
        &changed.replace("replicas: 2", "replicas: 3"),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{version}: diff {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("+  replicas: 3"),
        "{version}: {}",
        text(&out.stdout)
    );

    // get in every shape.
    let s = k.ok(&["get", "deployments", "-n", "shop"]);
    assert!(
        s.starts_with("NAME")
            && s.contains("READY")
            && s.contains("UP-TO-DATE")
            && s.contains("web"),
        "{version}: {s}"
    );
    let s = k.ok(&["get", "deployments", "-n", "shop", "-o", "wide"]);
    assert!(
        s.contains("CONTAINERS") && s.contains("app=web"),
        "{version}: {s}"
    );
    let s = k.ok(&["get", "svc", "web", "-n", "shop", "-o", "yaml"]);
    assert!(
        s.contains("kind: Service") && s.contains("targetPort: 8080"),
        "{version}: {s}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "cm", "-n", "shop", "-o", "json"])).expect("json");
    assert_eq!(v["kind"], "List");
    let s = k.ok(&["get", "deploy", "-A", "-l", "app=web", "--no-headers"]);
    assert!(
        s.starts_with("shop"),
        "{version}: -A adds the namespace column: {s}"
    );
    assert!(k
        .ok(&["get", "deploy", "-A", "-l", "app=nothing", "-o", "name"])
        .trim()
        .is_empty());
    let s = k.ok(&[
        "get",
        "namespaces",
        "--field-selector",
        "metadata.name=shop",
        "-o",
        "name",
    ]);
    assert_eq!(s.trim(), "namespace/shop");

    // label, annotate, edit-style patch, scale.
    assert!(k
        .ok(&["label", "deploy", "web", "-n", "shop", "tier=front"])
        .contains("labeled"));
    assert!(k
        .ok(&["annotate", "deploy", "web", "-n", "shop", "owner=ops"])
        .contains("deployment.apps/web annotate"));
    assert!(k
        .ok(&[
            "patch",
            "deploy",
            "web",
            "-n",
            "shop",
            "--type=merge",
            "-p",
            r#"{"spec":{"minReadySeconds":5}}"#
        ])
        .contains("patched"));
    assert!(k
        .ok(&["scale", "deploy", "web", "-n", "shop", "--replicas=4"])
        .contains("scaled"));
    let got = k.ok(&["get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.metadata.labels.tier} {.metadata.annotations.owner} {.spec.minReadySeconds} {.spec.replicas}"]);
    assert_eq!(got, "front ops 5 4", "{version}");

    // describe.
    let s = k.ok(&["describe", "deploy", "web", "-n", "shop"]);
    assert!(
        s.contains("Name:") && s.contains("web") && s.contains("Replicas:"),
        "{version}: {s}"
    );

    // get -w sees a change.
    let watch = std::process::Command::new(&k.bin)
        .arg("--kubeconfig")
        .arg(&k.kubeconfig)
        .args([
            "get",
            "configmaps",
            "-n",
            "shop",
            "-w",
            "--request-timeout",
            "5s",
            "--output-watch-events",
        ])
        .env_remove("KUBECONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl -w");
    std::thread::sleep(Duration::from_millis(1500));
    k.ok(&["label", "cm", "settings", "-n", "shop", "seen=yes"]);
    let out = watch.wait_with_output().expect("watch output");
    let s = text(&out.stdout);
    assert!(
        s.contains("ADDED") && s.contains("MODIFIED"),
        "{version}: watch printed {s:?} {}",
        text(&out.stderr)
    );

    // Errors: exit codes and messages.
    let out = k.run(&["get", "pod", "nope", "-n", "shop"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("NotFound"),
        "{version}: {}",
        text(&out.stderr)
    );
    let out = k.stdin(&["apply", "-f", "-"], "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: shop\nspec:\n  containers:\n  - name: c\n    image: x\n    bogusField: 1\n");
    assert!(
        !out.status.success(),
        "{version}: unknown fields are refused (kubectl validates on the server)"
    );
    assert!(
        text(&out.stderr).contains("bogusField"),
        "{version}: {}",
        text(&out.stderr)
    );
    let out = k.run(&["--token", "nope-nope-nope-nope", "get", "pods"]);
    assert!(!out.status.success() && text(&out.stderr).contains("Unauthorized"));

    // delete --wait, by file and by name.
    assert!(k
        .ok(&["delete", "svc", "web", "-n", "shop", "--wait"])
        .contains("service \"web\" deleted"));
    let s = k.ok(&["delete", "namespace", "shop", "--wait", "--timeout=30s"]);
    assert!(s.contains("namespace \"shop\" deleted"), "{version}: {s}");
    assert!(!k.run(&["get", "namespace", "shop"]).status.success());
    assert!(
        k.ok(&["get", "cm", "-A", "-o", "name"]).trim().is_empty(),
        "{version}: the namespace's objects are gone"
    );
}

#[test]
fn kubectl_1_27() {
    scenario("1.27");
}

#[test]
fn kubectl_1_33() {
    scenario("1.33");
}
