//! `shoalctl` against a real hub: its verbs, kubectl's output conventions, and the errors a
//! person sees when the kubeconfig, the token, the hub or a manifest is wrong.
//!
//! Each test starts its own hub in a temp dir (stopped by the helpers' guard). `shoalctl`
//! runs with `HOME` pointed at the temp dir and `KUBECONFIG` removed, so the machine's own
//! kubeconfig is never read.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use shoal_e2e::*;

const WEB: &str = "apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app: web
spec:
  containers:
  - name: httpd
    image: localhost/busybox:latest
    command: [httpd, -f, -p, '8080']
    ports:
    - containerPort: 8080
";

/// Runs `shoalctl` with `args`, optionally feeding `stdin`.
fn ctl_in(home: &Path, envs: &[(&str, &Path)], args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(bin("shoalctl"));
    cmd.args(args).env_remove("KUBECONFIG").env("HOME", home);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    match stdin {
        None => cmd.stdin(Stdio::null()).output().expect("shoalctl runs"),
        Some(input) => {
            use std::io::Write;
            let mut child = cmd
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
    }
}

/// A shoalctl bound to one hub's kubeconfig.
struct Ctl<'a> {
    hub: &'a Hub,
    home: &'a Path,
}

impl Ctl<'_> {
    fn run(&self, args: &[&str]) -> Output {
        let kc = self.hub.kubeconfig();
        let mut all = vec!["--kubeconfig", kc.to_str().expect("utf-8 path")];
        all.extend_from_slice(args);
        ctl_in(self.home, &[], &all, None)
    }

    fn run_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let kc = self.hub.kubeconfig();
        let mut all = vec!["--kubeconfig", kc.to_str().expect("utf-8 path")];
        all.extend_from_slice(args);
        ctl_in(self.home, &[], &all, Some(stdin))
    }

    /// Must succeed with an empty stderr; returns stdout.
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

    /// Must fail with status 1; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "shoalctl {args:?} should fail; stdout: {} stderr: {}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stderr)
    }
}

/// The column at which `word` starts in `line`.
fn column_of(line: &str, word: &str) -> usize {
    line.find(word)
        .unwrap_or_else(|| panic!("{word:?} not in {line:?}"))
}

#[test]
fn version_get_apply_delete_print_like_kubectl() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hub = Hub::start(&tmp.path().join("hub"));
    let ctl = Ctl {
        hub: &hub,
        home: tmp.path(),
    };

    // version: the client's, then the hub's /version.
    let v = ctl.ok(&["version"]);
    let lines: Vec<&str> = v.lines().collect();
    assert!(lines[0].starts_with("Client Version: shoalctl v"), "{v}");
    assert!(lines[1].starts_with("Server Version: v1.33."), "{v}");

    // get namespaces: a server-side table with kubectl's alignment.
    let ns = ctl.ok(&["get", "namespaces"]);
    let header = ns.lines().next().expect("header");
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["NAME", "STATUS", "AGE"],
        "{ns}"
    );
    let default = ns
        .lines()
        .find(|l| l.starts_with("default "))
        .unwrap_or_else(|| panic!("no default namespace in:\n{ns}"));
    assert_eq!(
        column_of(default, "Active"),
        column_of(header, "STATUS"),
        "columns align:\n{ns}"
    );
    assert!(
        ns.lines().all(|l| !l.ends_with(' ')),
        "no trailing blanks:\n{ns}"
    );
    assert!(ctl
        .ok(&["get", "ns", "-o", "name"])
        .lines()
        .any(|l| l == "namespace/default"));

    // apply: created, then unchanged, then configured when the manifest changes.
    let manifests = tmp.path().join("manifests");
    std::fs::create_dir_all(&manifests).expect("mkdir");
    let web = manifests.join("web.yaml");
    std::fs::write(&web, WEB).expect("write");
    let web = web.to_str().expect("utf-8");
    assert_eq!(ctl.ok(&["apply", "-f", web]), "pod/web created\n");
    assert_eq!(ctl.ok(&["apply", "-f", web]), "pod/web unchanged\n");
    let relabelled = WEB.replace("    app: web\n", "    app: web\n    tier: front\n");
    std::fs::write(web, &relabelled).expect("write");
    assert_eq!(ctl.ok(&["apply", "-f", web]), "pod/web configured\n");
    assert_eq!(ctl.ok(&["apply", "-f", web]), "pod/web unchanged\n");
    // A second pod from stdin, with a multi-document stream that has an empty document.
    let db = format!(
        "---\n{}",
        WEB.replace("name: web", "name: db")
            .replace("app: web", "app: db")
    );
    let out = ctl.run_stdin(&["apply", "-f", "-"], &format!("{db}---\n"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "pod/db created\n");

    // get pods: default columns, aligned.
    let pods = ctl.ok(&["get", "pods"]);
    let header = pods.lines().next().expect("header");
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{pods}"
    );
    let web_line = pods
        .lines()
        .find(|l| l.starts_with("web "))
        .unwrap_or_else(|| panic!("no web in:\n{pods}"));
    assert_eq!(
        column_of(web_line, "0/1"),
        column_of(header, "READY"),
        "{pods}"
    );
    assert_eq!(pods.lines().count(), 3, "{pods}");

    // -o wide adds the priority-1 columns; -A adds NAMESPACE; --no-headers drops the header.
    let wide = ctl.ok(&["get", "pods", "-o", "wide"]);
    let wide_header = wide.lines().next().expect("header");
    for col in ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"] {
        assert!(
            wide_header.contains(col),
            "{col} missing in {wide_header:?}"
        );
    }
    let all = ctl.ok(&["get", "pods", "-A"]);
    assert!(
        all.lines()
            .next()
            .expect("header")
            .starts_with("NAMESPACE   NAME"),
        "{all}"
    );
    assert!(
        all.lines().any(|l| l.starts_with("default     web ")),
        "{all}"
    );
    let bare = ctl.ok(&["get", "pods", "--no-headers"]);
    assert!(
        !bare.contains("NAME") && bare.lines().count() == 2,
        "{bare}"
    );

    // -o json / yaml / name.
    let list: serde_json::Value =
        serde_json::from_str(&ctl.ok(&["get", "pods", "-o", "json"])).expect("json list");
    assert_eq!(list["kind"], "List");
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["db", "web"]);
    assert_eq!(list["items"][0]["kind"], "Pod");
    let one: serde_json::Value =
        serde_json::from_str(&ctl.ok(&["get", "pod", "web", "-o", "json"])).expect("json object");
    assert_eq!(one["kind"], "Pod");
    assert_eq!(
        one["metadata"]["labels"]["tier"], "front",
        "apply configured the label"
    );
    let yaml: serde_json::Value =
        serde_yaml_ng::from_str(&ctl.ok(&["get", "po", "web", "-o", "yaml"])).expect("yaml object");
    assert_eq!(yaml["metadata"]["name"], "web");
    assert_eq!(
        yaml["spec"]["containers"][0]["image"],
        "localhost/busybox:latest"
    );
    assert_eq!(ctl.ok(&["get", "pods", "-o", "name"]), "pod/db\npod/web\n");
    assert_eq!(
        ctl.ok(&["get", "pod/web", "pod/db", "-o", "name"]),
        "pod/web\npod/db\n"
    );

    // -l and --field-selector filter on the hub.
    assert_eq!(
        ctl.ok(&["get", "pods", "-l", "app=web", "-o", "name"]),
        "pod/web\n"
    );
    assert_eq!(
        ctl.ok(&["get", "pods", "-l", "tier=front,app!=db", "-o", "name"]),
        "pod/web\n"
    );
    assert_eq!(
        ctl.ok(&[
            "get",
            "pods",
            "--field-selector",
            "metadata.name=db",
            "-o",
            "name"
        ]),
        "pod/db\n"
    );
    let none = ctl.run(&["get", "pods", "-l", "app=nothing"]);
    assert!(none.status.success());
    assert_eq!(text(&none.stdout), "");
    assert_eq!(
        text(&none.stderr).trim(),
        "No resources found in default namespace."
    );

    // Reverting the manifest drops the label the previous apply added.
    std::fs::write(web, WEB).expect("write");
    assert_eq!(ctl.ok(&["apply", "-f", web]), "pod/web configured\n");
    assert_eq!(
        ctl.ok(&["get", "pods", "-l", "tier=front", "-o", "name"]),
        ""
    );

    // delete by name, then from a manifest; the object is gone afterwards.
    assert_eq!(ctl.ok(&["delete", "pod", "web"]), "pod \"web\" deleted\n");
    let err = ctl.fails(&["get", "pod", "web"]);
    assert_eq!(
        err.trim(),
        "Error from server (NotFound): pods \"web\" not found"
    );
    let db_file = manifests.join("db.yaml");
    std::fs::write(&db_file, &db).expect("write");
    assert_eq!(
        ctl.ok(&["delete", "-f", db_file.to_str().expect("utf-8")]),
        "pod \"db\" deleted\n"
    );
    let err = ctl.fails(&["delete", "pod", "db"]);
    assert_eq!(
        err.trim(),
        "Error from server (NotFound): pods \"db\" not found"
    );
    assert_eq!(ctl.ok(&["delete", "pod", "db", "--ignore-not-found"]), "");
}

#[test]
fn errors_are_one_actionable_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hub = Hub::start(&tmp.path().join("hub"));
    let ctl = Ctl {
        hub: &hub,
        home: tmp.path(),
    };
    let one_line = |err: &str| {
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "one line, no backtrace: {err:?}"
        );
        assert!(
            !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
            "{err}"
        );
    };

    // KUBECONFIG is honoured when --kubeconfig is not given.
    let out = ctl_in(
        tmp.path(),
        &[("KUBECONFIG", &hub.kubeconfig())],
        &["get", "ns", "default", "-o", "name"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "namespace/default\n");

    // A wrong token in the kubeconfig: the hub's 401, and where to look.
    let wrong = tmp.path().join("wrong.kubeconfig");
    let kc = std::fs::read_to_string(hub.kubeconfig()).expect("kubeconfig");
    let token_line = kc
        .lines()
        .find(|l| l.trim_start().starts_with("token:"))
        .expect("token line");
    std::fs::write(
        &wrong,
        kc.replace(token_line, "    token: not-the-right-token-0123456789"),
    )
    .expect("write");
    let out = ctl_in(
        tmp.path(),
        &[],
        &[
            "--kubeconfig",
            wrong.to_str().expect("utf-8"),
            "get",
            "pods",
        ],
        None,
    );
    assert_ne!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert_eq!(
        err.trim(),
        format!(
            "error: the hub refused your credentials (Unauthorized): the token is wrong, expired or revoked; check the token in {}",
            wrong.display()
        )
    );
    // ... and with --token.
    let err = ctl.fails(&["--token", "also-not-the-right-token-0123", "get", "pods"]);
    assert_eq!(
        err.trim(),
        "error: the hub refused your credentials (Unauthorized): the token is wrong, expired or revoked; check the --token flag"
    );

    // An unreachable hub.
    let port = free_port();
    let server = format!("https://127.0.0.1:{port}");
    let err = ctl.fails(&["--server", &server, "get", "pods"]);
    assert_eq!(
        err.trim(),
        format!("error: cannot reach the hub at {server}: connection refused")
    );
    // `version` still prints the client's version first.
    let out = ctl.run(&["--server", &server, "version"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).starts_with("Client Version: shoalctl v"),
        "{}",
        text(&out.stdout)
    );
    one_line(&text(&out.stderr));

    // A missing kubeconfig file.
    let missing = tmp.path().join("no-such.kubeconfig");
    let out = ctl_in(
        tmp.path(),
        &[],
        &[
            "--kubeconfig",
            missing.to_str().expect("utf-8"),
            "get",
            "pods",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "error: cannot read kubeconfig {}: ",
            missing.display()
        )),
        "{err}"
    );
    one_line(&err);
    // No kubeconfig at all (HOME has no .kube/config).
    let out = ctl_in(tmp.path(), &[], &["get", "pods"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no kubeconfig") && text(&out.stderr).contains("--kubeconfig"),
        "{}",
        text(&out.stderr)
    );
    // A kubeconfig that is not one.
    let garbage = tmp.path().join("garbage.kubeconfig");
    std::fs::write(&garbage, "clusters: this is not a list\n").expect("write");
    let out = ctl_in(
        tmp.path(),
        &[],
        &[
            "--kubeconfig",
            garbage.to_str().expect("utf-8"),
            "get",
            "pods",
        ],
        None,
    );
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "error: kubeconfig {} is not a valid kubeconfig: clusters: ",
            garbage.display()
        )),
        "{err}"
    );
    one_line(&err);

    // A manifest that is not YAML: file, document and the parser's message; nothing applied.
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, format!("{WEB}---\nkind: Pod\nmetadata: [unclosed\n")).expect("write");
    let err = ctl.fails(&["apply", "-f", bad.to_str().expect("utf-8")]);
    assert!(
        err.starts_with(&format!(
            "error: {}: document 2 is not valid YAML: ",
            bad.display()
        )),
        "{err}"
    );
    assert!(err.contains("line "), "the YAML error says where: {err}");
    one_line(&err);
    let out = ctl.run(&["get", "pods", "-o", "name"]);
    assert_eq!(
        text(&out.stdout),
        "",
        "the valid first document was not applied either"
    );
    let err = text(&ctl.run_stdin(&["apply", "-f", "-"], "just words\n").stderr);
    assert_eq!(
        err.trim(),
        "error: STDIN: document 1: expected an object with apiVersion and kind, found a string"
    );

    // A pod in a namespace that does not exist: the API's NotFound, as kubectl prints it.
    let out = ctl.run_stdin(
        &["apply", "-f", "-"],
        &WEB.replace("  name: web\n", "  name: web\n  namespace: nowhere\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr).trim(), "Error from server (NotFound): error when creating \"STDIN\": namespaces \"nowhere\" not found");
    // A manifest namespace that contradicts -n.
    let err = text(
        &ctl.run_stdin(
            &["-n", "default", "apply", "-f", "-"],
            &WEB.replace("  name: web\n", "  name: web\n  namespace: other\n"),
        )
        .stderr,
    );
    assert!(
        err.contains("does not match the namespace \"default\""),
        "{err}"
    );

    // create of an existing object: AlreadyExists, and the exit status says so.
    assert_eq!(
        ctl.run_stdin(&["create", "-f", "-"], WEB).status.code(),
        Some(0)
    );
    let out = ctl.run_stdin(&["create", "-f", "-"], WEB);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr).trim(), "Error from server (AlreadyExists): error when creating \"STDIN\": pods \"web\" already exists");

    // An unknown resource type.
    let err = ctl.fails(&["get", "widgets"]);
    assert_eq!(
        err.trim(),
        "error: the server doesn't have a resource type \"widgets\""
    );
}
