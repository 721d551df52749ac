//! The official Python `kubernetes` client against a real hub (see
//! tests/python/k8s_client_check.py): CRUD, patch, selectors, watch, the scale subresource,
//! and model deserialization of every kind.

use std::process::Command;

use shoal_e2e::*;

const PYTHON: &str = "/opt/shoal-pyenv/bin/python";

#[test]
fn python_kubernetes_client_works_against_the_hub() {
    assert!(
        Command::new(PYTHON)
            .args(["-c", "import kubernetes"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false),
        "the Python kubernetes client is not installed: run .ci/setup-host.sh"
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let hub = Hub::start(&tmp.path().join("hub"));
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/k8s_client_check.py");
    let out = Command::new(PYTHON)
        .arg(&script)
        .arg(hub.kubeconfig())
        .env_remove("KUBECONFIG")
        .output()
        .expect("python runs");
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "python client check failed:\n{stdout}\n{}\n--- hub log ---\n{}",
        text(&out.stderr),
        tail(&hub.proc.log_text(), 30)
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
