//! kubectl's imperative commands against a real hub. kubectl 1.33 sends the bodies of
//! `kubectl create namespace|configmap|secret|deployment|service ...` as Kubernetes protobuf
//! (`application/vnd.kubernetes.protobuf`) and does not retry with JSON; the hub decodes
//! them into the same objects a JSON body gives. `kubectl run` (JSON in every version) and
//! kubectl 1.27 (JSON) work alongside.

use serde_json::Value;
use shoal_e2e::*;

const KUBECTL_133: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";
const KUBECTL_127: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27";
const PROTOBUF: &str = "Content-Type: application/vnd.kubernetes.protobuf";

/// Runs `kubectl` (`-v=9`, which logs request headers) and asserts success; returns
/// (stdout, stderr).
fn kubectl(hub: &Hub, kubectl: &str, args: &[&str]) -> (String, String) {
    assert!(
        std::path::Path::new(kubectl).exists(),
        "{kubectl} is not installed"
    );
    let mut all = vec!["-v=9"];
    all.extend_from_slice(args);
    let out = kubectl_with(kubectl, &hub.kubeconfig(), &all, None);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "{kubectl} {args:?} failed:\n{}\n--- hub log ---\n{}",
        tail(&stderr, 30),
        tail(&hub.proc.log_text(), 40)
    );
    (stdout, stderr)
}

/// Runs a `kubectl create ...` that must go out as protobuf.
fn create_protobuf(hub: &Hub, args: &[&str], created: &str) {
    let (stdout, stderr) = kubectl(hub, KUBECTL_133, args);
    assert!(stdout.contains(created), "{args:?}: {stdout}");
    assert!(
        stderr.contains(PROTOBUF),
        "kubectl 1.33 {args:?} no longer sends protobuf; this test would not test the decoder"
    );
}

fn get(hub: &Hub, args: &[&str]) -> Value {
    let mut all = vec!["get", "-o", "json"];
    all.extend_from_slice(args);
    serde_json::from_str(&hub.kubectl_ok(&all)).expect("kubectl get -o json prints JSON")
}

#[test]
fn kubectl_create_bodies_in_protobuf_are_decoded() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hub = Hub::start(&tmp.path().join("hub"));

    // Namespace (cluster-scoped): name and the server's defaults.
    create_protobuf(&hub, &["create", "namespace", "t1"], "namespace/t1 created");
    let ns = get(&hub, &["namespace", "t1"]);
    assert_eq!(ns["metadata"]["name"], "t1");
    assert_eq!(
        ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "t1"
    );
    assert_eq!(ns["status"]["phase"], "Active");

    // ConfigMap and Secret: map fields, and Secret data as bytes (base64 in JSON).
    create_protobuf(
        &hub,
        &[
            "create",
            "configmap",
            "c1",
            "-n",
            "t1",
            "--from-literal=a=b",
            "--from-literal=empty=",
        ],
        "configmap/c1 created",
    );
    let cm = get(&hub, &["configmap", "c1", "-n", "t1"]);
    assert_eq!(cm["data"], serde_json::json!({"a": "b", "empty": ""}));
    create_protobuf(
        &hub,
        &[
            "create",
            "secret",
            "generic",
            "s1",
            "-n",
            "t1",
            "--from-literal=a=b",
        ],
        "secret/s1 created",
    );
    let secret = get(&hub, &["secret", "s1", "-n", "t1"]);
    assert_eq!(secret["data"]["a"], "Yg==");
    assert_eq!(secret["type"], "Opaque");

    // Deployment: a zero in a pointer field (replicas) is kept; the pod template nests
    // ObjectMeta, PodSpec, containers and ports.
    create_protobuf(
        &hub,
        &[
            "create",
            "deployment",
            "d1",
            "-n",
            "t1",
            "--image=localhost/busybox:latest",
            "--replicas=0",
            "--port=8080",
            "--",
            "sleep",
            "1000",
        ],
        "deployment.apps/d1 created",
    );
    let d = get(&hub, &["deployment", "d1", "-n", "t1"]);
    assert_eq!(d["spec"]["replicas"], 0);
    assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "d1");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "localhost/busybox:latest");
    assert_eq!(c["command"], serde_json::json!(["sleep", "1000"]));
    assert_eq!(c["ports"][0]["containerPort"], 8080);

    // Service: IntOrString target ports, as a number and as a name.
    create_protobuf(
        &hub,
        &[
            "create",
            "service",
            "clusterip",
            "web",
            "-n",
            "t1",
            "--tcp=80:8080",
            "--tcp=443:https",
        ],
        "service/web created",
    );
    let svc = get(&hub, &["service", "web", "-n", "t1"]);
    let ports = &svc["spec"]["ports"];
    assert_eq!(
        (ports[0]["port"].clone(), ports[0]["targetPort"].clone()),
        (80.into(), 8080.into()),
        "{ports}"
    );
    assert_eq!(
        (ports[1]["port"].clone(), ports[1]["targetPort"].clone()),
        (443.into(), "https".into()),
        "{ports}"
    );

    // kubectl run: a Pod with the image, args and run label.
    let (stdout, _) = kubectl(
        &hub,
        KUBECTL_133,
        &[
            "run",
            "p1",
            "-n",
            "t1",
            "--image=localhost/busybox:latest",
            "--",
            "sleep",
            "1000",
        ],
    );
    assert!(stdout.contains("pod/p1 created"), "{stdout}");
    let pod = get(&hub, &["pod", "p1", "-n", "t1"]);
    assert_eq!(pod["metadata"]["labels"]["run"], "p1");
    assert_eq!(pod["spec"]["containers"][0]["name"], "p1");
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        "localhost/busybox:latest"
    );
    assert_eq!(
        pod["spec"]["containers"][0]["args"],
        serde_json::json!(["sleep", "1000"])
    );
    assert_eq!(pod["spec"]["restartPolicy"], "Always");

    // kubectl 1.27 (JSON bodies) still works next to it.
    let (stdout, _) = kubectl(&hub, KUBECTL_127, &["create", "namespace", "t2"]);
    assert!(stdout.contains("namespace/t2 created"), "{stdout}");
    let (stdout, _) = kubectl(
        &hub,
        KUBECTL_127,
        &[
            "run",
            "p2",
            "-n",
            "t2",
            "--image=localhost/busybox:latest",
            "--",
            "sleep",
            "1000",
        ],
    );
    assert!(stdout.contains("pod/p2 created"), "{stdout}");
    assert_eq!(
        get(&hub, &["pod", "p2", "-n", "t2"])["spec"]["containers"][0]["args"],
        serde_json::json!(["sleep", "1000"])
    );
}
