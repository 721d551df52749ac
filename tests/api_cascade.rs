//! DELETE propagation policies with kubectl's `--cascade`: orphan keeps dependents (without
//! the ownerReference), foreground deletes them before the owner.

use std::time::Duration;

use shoal_e2e::*;

fn owned_pair(hub: &Hub, owner: &str, child: &str) {
    let out = hub.kubectl_stdin(
        &["apply", "-f", "-"],
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {owner}\ndata: {{a: b}}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let uid = hub.kubectl_ok(&["get", "cm", owner, "-o", "jsonpath={.metadata.uid}"]);
    let child_yaml = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {child}\n  ownerReferences:\n  - apiVersion: v1\n    kind: ConfigMap\n    name: {owner}\n    uid: {uid}\n    controller: true\n    blockOwnerDeletion: true\ndata: {{c: d}}\n"
    );
    let out = hub.kubectl_stdin(&["apply", "-f", "-"], &child_yaml);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn orphan_and_foreground_propagation() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hub = Hub::start(&tmp.path().join("hub"));

    owned_pair(&hub, "owner-a", "child-a");
    hub.kubectl_ok(&["delete", "cm", "owner-a", "--cascade=orphan"]);
    let refs = hub.kubectl_ok(&[
        "get",
        "cm",
        "child-a",
        "-o",
        "jsonpath={.metadata.ownerReferences}",
    ]);
    assert!(
        refs.trim().is_empty(),
        "the orphan lost its ownerReference: {refs}"
    );

    owned_pair(&hub, "owner-b", "child-b");
    hub.kubectl_ok(&["delete", "cm", "owner-b", "--cascade=foreground"]);
    let out = hub.kubectl(&["get", "cm", "child-b"]);
    assert!(!out.status.success(), "the dependent went with its owner");
    assert!(text(&out.stderr).contains("NotFound"));

    // Foreground deletion is observable as Kubernetes does it: the owner is first marked
    // (deletionTimestamp + the foregroundDeletion finalizer), its dependent goes, then the
    // owner. A watch started before the delete sees the marked owner, then its deletion.
    owned_pair(&hub, "owner-c", "child-c");
    let mut watch = Proc::spawn(
        "kubectl watch",
        std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(hub.kubeconfig())
            .env_remove("KUBECONFIG")
            .args([
                "get",
                "cm",
                "owner-c",
                "--watch",
                "--output-watch-events",
                "-o",
                r#"jsonpath={.type} {.object.metadata.finalizers} {.object.metadata.deletionTimestamp}{"\n"}"#,
            ]),
        tmp.path().join("watch.log"),
    );
    wait_for(
        "the watch to list the owner",
        Duration::from_secs(20),
        || watch.log_text().contains("ADDED").then_some(()),
    );
    hub.kubectl_ok(&[
        "delete",
        "cm",
        "owner-c",
        "--cascade=foreground",
        "--wait=false",
    ]);
    let events = wait_for("the owner's deletion", Duration::from_secs(20), || {
        let log = watch.log_text();
        log.contains("DELETED").then_some(log)
    });
    watch.kill9();
    let marked = events
        .lines()
        .find(|l| l.starts_with("MODIFIED") && l.contains("foregroundDeletion"))
        .unwrap_or_else(|| panic!("no marked owner among the watch events:\n{events}"));
    assert!(
        marked.split_whitespace().count() == 3,
        "the marked owner carries a deletionTimestamp: {marked}"
    );
    let out = hub.kubectl(&["get", "cm", "child-c"]);
    assert!(!out.status.success(), "the dependent went before its owner");

    let out = hub.kubectl(&["delete", "cm", "child-a", "--cascade=sideways"]);
    assert!(
        !out.status.success(),
        "kubectl itself refuses unknown cascade values"
    );
}
