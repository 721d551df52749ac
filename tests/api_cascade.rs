//! DELETE propagation policies with kubectl's `--cascade`: orphan keeps dependents (without
//! the ownerReference), foreground deletes them before the owner.

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

    let out = hub.kubectl(&["delete", "cm", "child-a", "--cascade=sideways"]);
    assert!(
        !out.status.success(),
        "kubectl itself refuses unknown cascade values"
    );
}
