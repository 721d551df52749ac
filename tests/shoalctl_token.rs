//! `shoalctl token create|list|revoke` against a real hub, checked with stock kubectl: a
//! namespace token works in its namespace and is forbidden elsewhere, shows in `token list`,
//! stops working when revoked or expired, and every mistake is one line with a non-zero exit.
//!
//! `shoalctl` runs with `HOME` pointed at the temp dir and `KUBECONFIG` removed, so the
//! machine's own kubeconfig is never read.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};
use shoal_e2e::*;

/// Runs `shoalctl --kubeconfig KC args...`.
fn shoalctl(home: &Path, kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(bin("shoalctl"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env_remove("KUBECONFIG")
        .env("HOME", home)
        .stdin(Stdio::null())
        .output()
        .expect("shoalctl runs")
}

/// Must fail with status 1 and one line on stderr, which is returned.
fn one_line_failure(out: &Output, what: &str) -> String {
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what} must fail; stdout: {} stderr: {err}",
        text(&out.stdout)
    );
    assert_eq!(err.lines().count(), 1, "{what}: one line, got: {err}");
    err
}

fn secret_name_of(token: &str) -> String {
    let hex: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("shoal-token-{}", &hex[..20])
}

/// The `token list` row whose NAME is `name`, split into columns (ROLES and EXPIRES hold no
/// blanks).
fn list_row(list: &str, name: &str) -> Option<Vec<String>> {
    list.lines()
        .find(|l| l.split_whitespace().nth(3) == Some(name))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
}

fn pod(name: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: c\n    image: localhost/busybox:latest\n")
}

#[test]
fn tokens_are_issued_listed_used_revoked_and_expire() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = tmp.path();
    let hub = Hub::start(&home.join("hub"));
    let admin = hub.kubeconfig();
    for ns in ["team-a", "team-b"] {
        let out = hub.kubectl_stdin(
            &["apply", "-f", "-"],
            &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"),
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let ctl = |args: &[&str]| shoalctl(home, &admin, args);
    let ctl_ok = |args: &[&str]| {
        let out = ctl(args);
        assert!(
            out.status.success(),
            "shoalctl {args:?} failed: {}\n--- hub log ---\n{}",
            text(&out.stderr),
            tail(&hub.proc.log_text(), 30)
        );
        out
    };

    // create: the token alone on stdout, a summary on stderr, a private kubeconfig.
    let alice_kc = home.join("alice.kubeconfig");
    let out = ctl_ok(&[
        "token",
        "create",
        "--user",
        "alice",
        "--role",
        "edit",
        "--namespace",
        "team-a",
        "--ttl",
        "24h",
        "--kubeconfig-out",
        alice_kc.to_str().expect("utf-8"),
    ]);
    let token = text(&out.stdout).trim().to_string();
    assert_eq!(text(&out.stdout), format!("{token}\n"), "only the token");
    assert_eq!(token.len(), 48, "{token}");
    assert!(token.chars().all(|c| c.is_ascii_alphanumeric()), "{token}");
    let name = secret_name_of(&token);
    let summary = text(&out.stderr);
    assert!(
        summary.contains(&format!("token \"{name}\" created for user \"alice\""))
            && summary.contains("team-a:edit")
            && summary.contains(alice_kc.to_str().expect("utf-8")),
        "{summary}"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&alice_kc)
            .expect("kubeconfig written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "kubeconfig mode {mode:o}");
    }
    let kc: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&alice_kc).expect("read")).expect("yaml");
    assert_eq!(kc["users"][0]["user"]["token"], token.as_str());
    assert_eq!(kc["contexts"][0]["context"]["namespace"], "team-a");
    // The token itself is stored nowhere on the hub.
    let secret = hub.kubectl_ok(&["get", "secret", "-n", "kube-system", &name, "-o", "json"]);
    assert!(!secret.contains(&token), "{secret}");
    assert!(secret.contains("shoal.io/user-token"), "{secret}");

    // Stock kubectl with the written kubeconfig: its namespace works, `default` is forbidden.
    let as_alice =
        |args: &[&str], stdin: Option<&str>| kubectl_with("kubectl", &alice_kc, args, stdin);
    let out = as_alice(&["apply", "-f", "-"], Some(&pod("mine")));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        hub.kubectl_ok(&["get", "pods", "-n", "team-a", "-o", "name"])
            .trim(),
        "pod/mine",
        "created in the kubeconfig's namespace"
    );
    let out = as_alice(&["get", "pods", "-n", "default"], None);
    assert!(!out.status.success(), "default must be forbidden");
    let err = text(&out.stderr);
    assert!(
        err.contains("Forbidden") && err.contains("User \"alice\""),
        "{err}"
    );

    // list: USER, ROLES, EXPIRES, NAME, AGE.
    let list = text(&ctl_ok(&["token", "list"]).stdout);
    let header: Vec<&str> = list
        .lines()
        .next()
        .expect("header")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["USER", "ROLES", "EXPIRES", "NAME", "AGE"],
        "{list}"
    );
    let row = list_row(&list, &name).unwrap_or_else(|| panic!("{name} not in:\n{list}"));
    assert_eq!(row[0], "alice", "{list}");
    assert_eq!(row[1], "team-a:edit", "{list}");
    assert!(
        row[2].len() == 20 && row[2].ends_with('Z') && row[2].contains('T'),
        "RFC 3339 expiry: {list}"
    );

    // Managing tokens takes a cluster admin: alice gets a plain 403.
    let out = shoalctl(home, &alice_kc, &["token", "list"]);
    let err = one_line_failure(&out, "token list as alice");
    assert!(
        err.contains("Forbidden") && err.contains("cluster admin"),
        "{err}"
    );
    let out = shoalctl(
        home,
        &alice_kc,
        &[
            "token",
            "create",
            "--user",
            "mallory",
            "--role",
            "cluster-admin",
        ],
    );
    let err = one_line_failure(&out, "token create as alice");
    assert!(err.starts_with("Error from server (Forbidden)"), "{err}");

    // Mistakes: one line each, non-zero exit, nothing created.
    let bob_kc = home.join("bob.kubeconfig");
    let bob_kc_s = bob_kc.to_str().expect("utf-8");
    for (args, want) in [
        (
            vec![
                "--user",
                "bob",
                "--role",
                "view",
                "--namespace",
                "team-a",
                "--ttl",
                "soon",
            ],
            "invalid --ttl \"soon\"",
        ),
        (vec!["--user", "bob", "--role", "edit"], "needs --namespace"),
        (
            vec!["--user", "bob", "--role", "owner", "--namespace", "team-a"],
            "unknown role \"owner\"",
        ),
        (
            vec![
                "--user",
                "bob",
                "--role",
                "view",
                "--namespace",
                "team-a",
                "--kubeconfig-out",
                alice_kc.to_str().expect("utf-8"),
            ],
            "already exists",
        ),
    ] {
        let mut all = vec!["token", "create"];
        all.extend_from_slice(&args);
        let err = one_line_failure(&ctl(&all), &format!("{args:?}"));
        assert!(
            err.starts_with("error: ") && err.contains(want),
            "{args:?}: {err}"
        );
    }
    let out = ctl(&["token", "revoke", "shoal-token-00000000000000000000"]);
    let err = one_line_failure(&out, "revoke of a missing token");
    assert!(err.contains("not found"), "{err}");
    let out = ctl(&["token", "revoke", "--user", "nobody"]);
    let err = one_line_failure(&out, "revoke of a user without tokens");
    assert!(err.contains("no tokens for user \"nobody\""), "{err}");
    let list = text(&ctl_ok(&["token", "list"]).stdout);
    assert_eq!(list.lines().count(), 2, "only alice's token:\n{list}");

    // revoke NAME: kubectl is refused at once.
    let out = ctl_ok(&["token", "revoke", &name]);
    assert_eq!(text(&out.stdout), format!("token \"{name}\" revoked\n"));
    let out = as_alice(&["get", "pods"], None);
    assert!(
        !out.status.success() && text(&out.stderr).contains("Unauthorized"),
        "{}",
        text(&out.stderr)
    );
    let out = ctl(&["token", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(list_row(&text(&out.stdout), &name).is_none());

    // --ttl 1s: refused two seconds later, and listed as expired until revoked by user.
    let out = ctl_ok(&[
        "token",
        "create",
        "--user",
        "bob",
        "--role",
        "view",
        "--namespace",
        "team-a",
        "--namespace",
        "team-b",
        "--ttl",
        "1s",
        "--kubeconfig-out",
        bob_kc_s,
    ]);
    let bob = secret_name_of(text(&out.stdout).trim());
    std::thread::sleep(Duration::from_secs(2));
    let out = kubectl_with("kubectl", &bob_kc, &["get", "pods"], None);
    assert!(
        !out.status.success() && text(&out.stderr).contains("Unauthorized"),
        "expired token: {}",
        text(&out.stderr)
    );
    let list = text(&ctl_ok(&["token", "list"]).stdout);
    let row = list_row(&list, &bob).unwrap_or_else(|| panic!("{bob} not in:\n{list}"));
    assert_eq!(
        row[..3],
        ["bob", "team-a:view,team-b:view", "expired"],
        "{list}"
    );
    let out = ctl_ok(&["token", "revoke", "--user", "bob"]);
    assert_eq!(text(&out.stdout), format!("token \"{bob}\" revoked\n"));

    // A cluster-admin token can manage tokens itself; with no TTL it never expires.
    let out = ctl_ok(&[
        "token",
        "create",
        "--user",
        "carol",
        "--role",
        "cluster-admin",
    ]);
    let carol = text(&out.stdout).trim().to_string();
    let out = Command::new(bin("shoalctl"))
        .args(["--kubeconfig"])
        .arg(&admin)
        .args(["--token", &carol, "token", "list"])
        .env_remove("KUBECONFIG")
        .env("HOME", home)
        .output()
        .expect("shoalctl runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list = text(&out.stdout);
    let row = list_row(&list, &secret_name_of(&carol)).unwrap_or_else(|| panic!("{list}"));
    assert_eq!(row[..3], ["carol", "cluster-admin", "never"], "{list}");
}
