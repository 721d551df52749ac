//! Authorization by namespace, end to end with stock kubectl: a user token limited to one
//! namespace is forbidden elsewhere, never sees other namespaces' objects, and stops
//! working when it expires or is revoked.

use base64::Engine;
use sha2::{Digest, Sha256};
use shoal_e2e::*;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Issues a token the way `shoalctl token create` does: a Secret holding only its digest.
fn issue_token(hub: &Hub, token: &str, user: &str, groups: &str, expires_at_ms: u64) {
    let hex: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let name = format!("shoal-token-{}", &hex[..20]);
    let manifest = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: kube-system\ntype: shoal.io/user-token\ndata:\n  token-sha256: {}\n  user: {}\n  groups: {}\n  expires-at: {}\n",
        b64(&hex),
        b64(user),
        b64(groups),
        b64(&expires_at_ms.to_string())
    );
    let out = hub.kubectl_stdin(&["apply", "-f", "-"], &manifest);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

fn pod(ns: &str, name: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  containers:\n  - name: c\n    image: localhost/busybox:latest\n")
}

#[test]
fn a_namespace_user_is_confined_to_their_namespace() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hub = Hub::start(&tmp.path().join("hub"));
    for ns in ["team-a", "team-b"] {
        let out = hub.kubectl_stdin(
            &["apply", "-f", "-"],
            &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"),
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    assert!(hub
        .kubectl_stdin(&["apply", "-f", "-"], &pod("team-b", "secret-b"))
        .status
        .success());

    let token = "alice-token-0123456789abcdefghij";
    issue_token(&hub, token, "alice", "shoal:ns:team-a:edit", 0);
    let as_alice = |args: &[&str]| {
        let mut all = vec!["--token", token];
        all.extend_from_slice(args);
        hub.kubectl(&all)
    };
    let as_alice_stdin = |args: &[&str], input: &str| {
        let mut all = vec!["--token", token];
        all.extend_from_slice(args);
        hub.kubectl_stdin(&all, input)
    };

    // Allowed: her own namespace.
    let out = as_alice_stdin(&["apply", "-f", "-"], &pod("team-a", "mine"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = as_alice(&["get", "pods", "-n", "team-a", "-o", "name"]);
    assert_eq!(
        text(&out.stdout).trim(),
        "pod/mine",
        "{}",
        text(&out.stderr)
    );

    // Forbidden: the other namespace, reads and writes.
    for args in [
        vec!["get", "pods", "-n", "team-b"],
        vec!["get", "pod", "secret-b", "-n", "team-b"],
        vec!["delete", "pod", "secret-b", "-n", "team-b"],
    ] {
        let out = as_alice(&args);
        assert!(!out.status.success(), "{args:?} must be refused");
        let err = text(&out.stderr);
        assert!(
            err.contains("Forbidden") && err.contains("User \"alice\"") && err.contains("team-b"),
            "{args:?}: {err}"
        );
    }
    let out = as_alice_stdin(&["apply", "-f", "-"], &pod("team-b", "sneaky"));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Forbidden"),
        "{}",
        text(&out.stderr)
    );

    // Cluster-scoped writes are forbidden; all-namespace lists show only team-a.
    let out = as_alice_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-c\n",
    );
    assert!(
        !out.status.success() && text(&out.stderr).contains("Forbidden"),
        "{}",
        text(&out.stderr)
    );
    let out = as_alice(&["get", "pods", "-A", "-o", "name"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "pod/mine");
    let out = as_alice(&["get", "namespaces", "-o", "name"]);
    assert_eq!(text(&out.stdout).trim(), "namespace/team-a");
    // The token Secrets themselves are out of reach.
    let out = as_alice(&["get", "secrets", "-n", "kube-system"]);
    assert!(!out.status.success());

    // A watch across namespaces never carries team-b's objects.
    let watch = std::process::Command::new("kubectl")
        .args(["--kubeconfig"])
        .arg(hub.kubeconfig())
        .args([
            "--token",
            token,
            "get",
            "pods",
            "-A",
            "-w",
            "-o",
            "name",
            "--request-timeout",
            "4s",
        ])
        .env_remove("KUBECONFIG")
        .output()
        .expect("kubectl runs");
    let seen = text(&watch.stdout);
    assert!(
        seen.contains("pod/mine") && !seen.contains("secret-b"),
        "{seen}"
    );

    // Revoked (Secret deleted): Unauthorized.
    let hex: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    hub.kubectl_ok(&[
        "delete",
        "secret",
        "-n",
        "kube-system",
        &format!("shoal-token-{}", &hex[..20]),
    ]);
    let out = as_alice(&["get", "pods", "-n", "team-a"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("Unauthorized"),
        "{}",
        text(&out.stderr)
    );

    // Expired: Unauthorized too.
    let old = "bob-token-0123456789abcdefghijkl";
    issue_token(&hub, old, "bob", "shoal:ns:team-a:view", 1_000);
    let out = hub.kubectl(&["--token", old, "get", "pods", "-n", "team-a"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("Unauthorized"),
        "{}",
        text(&out.stderr)
    );
}
