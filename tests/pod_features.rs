//! Pod semantics on real Podman through the whole system (kubectl -> hub -> agent -> Podman ->
//! status back): init containers in order, ConfigMap and Secret environment and volumes (and a
//! ConfigMap update reaching a running container without a restart), a missing ConfigMap
//! reported as CreateContainerConfigError until it appears, readiness probes failing and
//! recovering, a liveness probe restarting its container, and a multi-container pod talking
//! over localhost through a shared emptyDir.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use shoal_e2e::*;

/// `podman exec` into the container `container` of pod `pod` on `node`.
fn exec(node: &str, pod: &str, container: &str, cmd: &[&str]) -> Result<String, String> {
    let id = Command::new("podman")
        .args(["ps", "-q", "--filter"])
        .arg(format!("label=io.shoal.node={node}"))
        .arg("--filter")
        .arg(format!("label=io.shoal.name={pod}"))
        .arg("--filter")
        .arg(format!("label=io.shoal.container={container}"))
        .output()
        .map_err(|e| e.to_string())?;
    let id = text(&id.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    if id.is_empty() {
        return Err(format!("no running container {container} of pod {pod}"));
    }
    let out = Command::new("podman")
        .arg("exec")
        .arg(&id)
        .args(cmd)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(text(&out.stdout))
    } else {
        Err(format!(
            "exit {:?}: {}",
            out.status.code(),
            text(&out.stderr)
        ))
    }
}

fn pod_json(hub: &Hub, name: &str) -> Option<Value> {
    let out = hub.kubectl(&["get", "pod", name, "-o", "json"]);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

fn condition(pod: &Value, t: &str) -> String {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == t)
        .and_then(|c| c["status"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn container_status<'a>(pod: &'a Value, name: &str) -> &'a Value {
    pod["status"]["containerStatuses"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == name))
        .unwrap_or(&Value::Null)
}

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: crashloop}
spec:
  nodeSelector: {kubernetes.io/hostname: NODE}
  terminationGracePeriodSeconds: 1
  restartPolicy: Always
  containers:
  - {name: main, image: localhost/busybox:latest, command: ["sh", "-c", "exit 1"]}
---
apiVersion: v1
kind: Pod
metadata: {name: fails-once}
spec:
  nodeSelector: {kubernetes.io/hostname: NODE}
  restartPolicy: Never
  containers:
  - {name: main, image: localhost/busybox:latest, command: ["sh", "-c", "exit 2"]}
---
apiVersion: v1
kind: Pod
metadata: {name: succeeds}
spec:
  nodeSelector: {kubernetes.io/hostname: NODE}
  restartPolicy: OnFailure
  containers:
  - {name: main, image: localhost/busybox:latest, command: ["sh", "-c", "exit 0"]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config}
data:
  GREETING: hello
  app.conf: "port=8080\n"
---
apiVersion: v1
kind: Secret
metadata: {name: app-secret}
stringData: {password: s3cret}
---
apiVersion: v1
kind: Pod
metadata: {name: configured}
spec:
  nodeSelector: {kubernetes.io/hostname: NODE}
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: first
    image: localhost/busybox:latest
    command: ["sh", "-c", "echo first >> /work/order"]
    volumeMounts: [{name: work, mountPath: /work}]
  - name: second
    image: localhost/busybox:latest
    command: ["sh", "-c", "echo second >> /work/order"]
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: main
    image: localhost/busybox:latest
    command: ["sh", "-c", "echo main >> /work/order; exec sleep 3600"]
    env:
    - name: GREETING
      valueFrom: {configMapKeyRef: {name: app-config, key: GREETING}}
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: app-secret, key: password}}
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    envFrom:
    - configMapRef: {name: app-config}
      prefix: CFG_
    volumeMounts:
    - {name: work, mountPath: /work}
    - {name: config, mountPath: /etc/app}
    - {name: secret, mountPath: /etc/secret}
  volumes:
  - {name: work, emptyDir: {}}
  - {name: config, configMap: {name: app-config}}
  - {name: secret, secret: {secretName: app-secret, defaultMode: 0400}}
---
apiVersion: v1
kind: Pod
metadata: {name: waits-for-config}
spec:
  nodeSelector: {kubernetes.io/hostname: NODE}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: localhost/busybox:latest
    command: ["sh", "-c", "echo $LATE; exec sleep 3600"]
    env:
    - name: LATE
      valueFrom: {configMapKeyRef: {name: late-config, key: value}}
---
apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  nodeSelector: {kubernetes.io/hostname: NODE}
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: localhost/busybox:latest
    command: ["sh", "-c", "mkdir -p /www && echo up > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe:
      httpGet: {path: /ready, port: http}
      periodSeconds: 1
      failureThreshold: 1
    livenessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 2
  - name: sidecar
    image: localhost/busybox:latest
    command: ["sh", "-c", "while true; do wget -q -O /shared/fetched http://127.0.0.1:8080/ 2>/dev/null; sleep 1; done"]
    volumeMounts: [{name: shared, mountPath: /shared}]
  volumes:
  - {name: shared, emptyDir: {}}
---
apiVersion: v1
kind: Pod
metadata: {name: unhealthy}
spec:
  nodeSelector: {kubernetes.io/hostname: NODE}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: localhost/busybox:latest
    command: ["sleep", "3600"]
    livenessProbe:
      exec: {command: ["cat", "/tmp/healthy"]}
      periodSeconds: 1
      failureThreshold: 2
"#;

#[test]
fn init_containers_config_probes_and_sidecars_on_podman() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut podman = PodmanService::start(tmp.path());
    let node = format!("e2e-feat-{}", rand_u64() % 100_000);
    podman.own_node(&node);
    let hub = Hub::start(&tmp.path().join("hub"));
    let _agent = Agent::start(&hub, &node, &tmp.path().join("agent"), &podman, &[]);
    wait_for("the node to be Ready", Duration::from_secs(60), || {
        let out = hub.kubectl(&["get", "node", &node, "--no-headers"]);
        text(&out.stdout).contains(" Ready").then_some(())
    });
    let applied = hub.kubectl_stdin(&["apply", "-f", "-"], &MANIFESTS.replace("NODE", &node));
    assert!(applied.status.success(), "apply: {}", text(&applied.stderr));

    // Init containers ran in order, before the main container; the pod is Initialized.
    let pod = wait_for("pod configured to run", Duration::from_secs(120), || {
        pod_json(&hub, "configured").filter(|p| p["status"]["phase"] == "Running")
    });
    assert_eq!(condition(&pod, "Initialized"), "True");
    let inits = pod["status"]["initContainerStatuses"]
        .as_array()
        .expect("init statuses");
    assert_eq!(inits.len(), 2);
    for s in inits {
        assert_eq!(s["state"]["terminated"]["reason"], "Completed", "{s}");
    }
    let order = wait_for(
        "main to write its line",
        Duration::from_secs(30),
        || match exec(&node, "configured", "main", &["cat", "/work/order"]) {
            Ok(o) if o.contains("main") => Some(o),
            other => {
                eprintln!("order so far: {other:?}");
                None
            }
        },
    );
    assert_eq!(order, "first\nsecond\nmain\n");

    // Environment from the ConfigMap, the Secret, envFrom and the downward API.
    let env = exec(&node, "configured", "main", &["env"]).expect("env");
    for want in [
        "GREETING=hello",
        "PASSWORD=s3cret",
        "POD_NAME=configured",
        "CFG_GREETING=hello",
    ] {
        assert!(env.lines().any(|l| l == want), "{want} missing in:\n{env}");
    }
    // ConfigMap and Secret volumes.
    assert_eq!(
        exec(&node, "configured", "main", &["cat", "/etc/app/app.conf"]).expect("cat"),
        "port=8080\n"
    );
    assert_eq!(
        exec(
            &node,
            "configured",
            "main",
            &["cat", "/etc/secret/password"]
        )
        .expect("cat"),
        "s3cret"
    );
    let mode = exec(
        &node,
        "configured",
        "main",
        &["ls", "-lL", "/etc/secret/password"],
    )
    .expect("ls");
    assert!(mode.starts_with("-r--------"), "{mode}");
    assert!(
        exec(
            &node,
            "configured",
            "main",
            &["sh", "-c", "echo x > /etc/app/new"]
        )
        .is_err(),
        "ConfigMap volumes are read-only"
    );

    // A ConfigMap update reaches the running container's files, without a restart.
    let started_before = container_status(&pod, "main")["state"]["running"]["startedAt"].clone();
    hub.kubectl_ok(&[
        "patch",
        "configmap",
        "app-config",
        "--type=merge",
        "-p",
        r#"{"data":{"app.conf":"port=9090\n"}}"#,
    ]);
    wait_for(
        "the updated file in the container",
        Duration::from_secs(60),
        || {
            exec(&node, "configured", "main", &["cat", "/etc/app/app.conf"])
                .ok()
                .filter(|c| c == "port=9090\n")
        },
    );
    let pod = pod_json(&hub, "configured").expect("pod");
    assert_eq!(container_status(&pod, "main")["restartCount"], 0);
    assert_eq!(
        container_status(&pod, "main")["state"]["running"]["startedAt"],
        started_before
    );

    // A missing ConfigMap: CreateContainerConfigError, then Running once it exists.
    let pod = wait_for(
        "CreateContainerConfigError",
        Duration::from_secs(60),
        || {
            pod_json(&hub, "waits-for-config").filter(|p| {
                container_status(p, "main")["state"]["waiting"]["reason"]
                    == "CreateContainerConfigError"
            })
        },
    );
    let message = container_status(&pod, "main")["state"]["waiting"]["message"].clone();
    assert!(
        message.as_str().is_some_and(|m| m.contains("late-config")),
        "{message}"
    );
    hub.kubectl_ok(&[
        "create",
        "configmap",
        "late-config",
        "--from-literal=value=arrived",
    ]);
    wait_for("waits-for-config to run", Duration::from_secs(60), || {
        pod_json(&hub, "waits-for-config").filter(|p| p["status"]["phase"] == "Running")
    });

    // Readiness: /ready is missing (404), so the pod runs but is not Ready; the sidecar
    // reaches the web container over localhost all the same.
    wait_for("probed to run", Duration::from_secs(60), || {
        pod_json(&hub, "probed").filter(|p| p["status"]["phase"] == "Running")
    });
    wait_for(
        "the sidecar to fetch over localhost",
        Duration::from_secs(30),
        || {
            exec(&node, "probed", "sidecar", &["cat", "/shared/fetched"])
                .ok()
                .filter(|o| o == "up\n")
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    let pod = pod_json(&hub, "probed").expect("pod");
    assert_eq!(condition(&pod, "Ready"), "False", "{}", pod["status"]);
    assert_eq!(container_status(&pod, "web")["ready"], false);
    assert_eq!(container_status(&pod, "sidecar")["ready"], true);
    // The probe starts passing: Ready.
    exec(
        &node,
        "probed",
        "web",
        &["sh", "-c", "echo ok > /www/ready"],
    )
    .expect("make ready");
    wait_for("probed to be Ready", Duration::from_secs(30), || {
        pod_json(&hub, "probed").filter(|p| condition(p, "Ready") == "True")
    });
    // ... and failing again: not Ready, and the liveness probe (tcp) keeps it alive.
    exec(&node, "probed", "web", &["rm", "/www/ready"]).expect("make unready");
    let pod = wait_for("probed to be unready", Duration::from_secs(30), || {
        pod_json(&hub, "probed").filter(|p| condition(p, "Ready") == "False")
    });
    assert_eq!(container_status(&pod, "web")["restartCount"], 0);

    // Liveness: /tmp/healthy never exists, so the container is killed and restarted.
    let pod = wait_for("unhealthy to be restarted", Duration::from_secs(90), || {
        pod_json(&hub, "unhealthy").filter(|p| {
            container_status(p, "main")["restartCount"]
                .as_u64()
                .unwrap_or(0)
                >= 1
        })
    });
    assert_eq!(pod["status"]["phase"], "Running");

    // Restart policies on real containers: Always crash-loops with back-off, Never fails the
    // pod with the exit code, OnFailure with exit 0 succeeds.
    let pod = wait_for(
        "crashloop in CrashLoopBackOff",
        Duration::from_secs(90),
        || {
            pod_json(&hub, "crashloop").filter(|p| {
                let c = container_status(p, "main");
                c["state"]["waiting"]["reason"] == "CrashLoopBackOff"
                    && c["restartCount"].as_u64().unwrap_or(0) >= 1
            })
        },
    );
    assert_eq!(
        container_status(&pod, "main")["lastState"]["terminated"]["exitCode"],
        1
    );
    let row = hub.kubectl_ok(&["get", "pod", "crashloop", "--no-headers"]);
    assert!(row.contains("CrashLoopBackOff"), "{row}");
    let pod = wait_for("fails-once Failed", Duration::from_secs(60), || {
        pod_json(&hub, "fails-once").filter(|p| p["status"]["phase"] == "Failed")
    });
    let t = &container_status(&pod, "main")["state"]["terminated"];
    assert_eq!(
        (t["exitCode"].as_i64(), t["reason"].as_str()),
        (Some(2), Some("Error"))
    );
    assert_eq!(container_status(&pod, "main")["restartCount"], 0);
    wait_for("succeeds Succeeded", Duration::from_secs(60), || {
        pod_json(&hub, "succeeds").filter(|p| p["status"]["phase"] == "Succeeded")
    });

    // Resource usage reaches `kubectl top` (metrics.k8s.io served by the hub from the
    // agent's usage reports over MQTT).
    let top = wait_for("kubectl top pod", Duration::from_secs(60), || {
        let out = hub.kubectl(&["top", "pod", "probed", "--containers", "--no-headers"]);
        let t = text(&out.stdout);
        (out.status.success() && t.contains("web") && t.contains("sidecar")).then_some(t)
    });
    assert!(
        top.contains("Mi") || top.contains("Ki"),
        "memory column: {top}"
    );
    let top = wait_for("kubectl top node", Duration::from_secs(60), || {
        let out = hub.kubectl(&["top", "node", &node, "--no-headers"]);
        out.status.success().then(|| text(&out.stdout))
    });
    let cols: Vec<&str> = top.split_whitespace().collect();
    assert_eq!(cols.first(), Some(&node.as_str()), "{top}");
    assert!(
        cols.get(1).is_some_and(|c| c.ends_with('m')),
        "CPU in millicores: {top}"
    );
    let raw = hub.kubectl_ok(&[
        "get",
        "--raw",
        "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/probed",
    ]);
    let pm: Value = serde_json::from_str(&raw).expect("PodMetrics JSON");
    assert_eq!(pm["kind"], "PodMetrics");
    assert_eq!(pm["containers"].as_array().map(Vec::len), Some(2), "{pm}");

    hub.kubectl_ok(&["delete", "pod", "--all", "--wait=false"]);
}
