//! Bad requests straight at the API (with curl): each gets a Kubernetes `Status` with the
//! right code and reason, never a crash or a 500, and the hub keeps serving.

use std::process::Command;

use shoal_e2e::*;

struct Api {
    base: String,
    token: String,
    ca: std::path::PathBuf,
}

impl Api {
    fn new(hub: &Hub, dir: &std::path::Path) -> Api {
        let tokens = std::fs::read_to_string(hub.dir.join("tokens.csv")).expect("tokens");
        let token = tokens
            .lines()
            .find(|l| l.contains("system:masters"))
            .and_then(|l| l.split(',').next())
            .expect("admin token")
            .to_string();
        let ca = dir.join("ca.crt");
        std::fs::copy(hub.dir.join("pki/ca.crt"), &ca).expect("ca");
        Api {
            base: format!("https://127.0.0.1:{}", hub.api_port),
            token,
            ca,
        }
    }

    /// `(status code, parsed body)`.
    fn call(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Option<&[u8]>,
    ) -> (u16, serde_json::Value) {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-X",
            method,
            "--cacert",
        ])
        .arg(&self.ca)
        .args(["-H", &format!("Authorization: Bearer {}", self.token)])
        .args(["-H", &format!("Content-Type: {content_type}")]);
        let tmp;
        if let Some(b) = body {
            tmp = tempfile::NamedTempFile::new().expect("tmp");
            std::fs::write(tmp.path(), b).expect("write");
            cmd.arg("--data-binary")
                .arg(format!("@{}", tmp.path().display()));
        }
        let out = cmd
            .arg(format!("{}{path}", self.base))
            .output()
            .expect("curl runs");
        let s = text(&out.stdout);
        let (body, code) = s.rsplit_once('\n').expect("status line");
        (
            code.trim().parse().expect("code"),
            serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
        )
    }
}

fn assert_status(got: (u16, serde_json::Value), code: u16, reason: &str) {
    assert_eq!(got.0, code, "{}", got.1);
    assert_eq!(got.1["kind"], "Status", "{}", got.1);
    assert_eq!(got.1["code"], code, "{}", got.1);
    assert_eq!(got.1["reason"], reason, "{}", got.1);
}

#[test]
fn bad_requests_get_statuses_not_crashes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hub = Hub::start(&tmp.path().join("hub"));
    let api = Api::new(&hub, tmp.path());
    let pods = "/api/v1/namespaces/default/pods";

    assert_status(
        api.call("POST", pods, "application/json", Some(b"{not json")),
        400,
        "BadRequest",
    );
    assert_status(
        api.call(
            "POST",
            pods,
            "application/json",
            Some(&[0xff, 0x00, 0x13, 0x37]),
        ),
        400,
        "BadRequest",
    );
    assert_status(
        api.call("POST", pods, "application/json", Some(b"[1,2,3]")),
        400,
        "BadRequest",
    );
    assert_status(
        api.call(
            "POST",
            pods,
            "application/json",
            Some(br#"{"kind":"Pod","spec":{"containers":"nope"}}"#),
        ),
        400,
        "BadRequest",
    );
    assert_status(
        api.call("POST", pods, "text/plain", Some(b"hello")),
        415,
        "UnsupportedMediaType",
    );
    let huge = vec![b' '; 4 * 1024 * 1024];
    assert_status(
        api.call("POST", pods, "application/json", Some(&huge)),
        413,
        "RequestEntityTooLarge",
    );
    assert_status(
        api.call("GET", "/api/v1/widgets", "application/json", None),
        404,
        "NotFound",
    );
    assert_status(
        api.call(
            "GET",
            "/apis/nope.example.com/v1/things",
            "application/json",
            None,
        ),
        404,
        "NotFound",
    );
    assert_status(
        api.call(
            "GET",
            "/api/v1/namespaces/default/pods?labelSelector=a%20in%20b",
            "application/json",
            None,
        ),
        400,
        "BadRequest",
    );
    assert_status(
        api.call(
            "GET",
            "/api/v1/pods?fieldSelector=spec.bogus%3D1",
            "application/json",
            None,
        ),
        400,
        "BadRequest",
    );
    assert_status(
        api.call("GET", "/api/v1/pods?limit=-1", "application/json", None),
        400,
        "BadRequest",
    );
    assert_status(
        api.call(
            "GET",
            "/api/v1/pods?continue=%25%25%25",
            "application/json",
            None,
        ),
        400,
        "BadRequest",
    );
    assert_status(
        api.call(
            "PATCH",
            "/api/v1/namespaces/default",
            "application/x-unknown-patch",
            Some(b"{}"),
        ),
        415,
        "UnsupportedMediaType",
    );
    assert_status(
        api.call(
            "PATCH",
            "/api/v1/namespaces/default",
            "application/json-patch+json",
            Some(br#"[{"op":"explode"}]"#),
        ),
        400,
        "BadRequest",
    );
    assert_status(
        api.call(
            "DELETE",
            "/api/v1/namespaces/default/pods/none",
            "application/json",
            None,
        ),
        404,
        "NotFound",
    );
    assert_status(
        api.call(
            "PUT",
            "/api/v1/namespaces/default",
            "application/json",
            Some(br#"{"metadata":{"name":"other"}}"#),
        ),
        400,
        "BadRequest",
    );
    // A watch from a revision the history no longer holds is 410 Expired (as an ERROR event).
    let (code, _) = api.call(
        "GET",
        "/api/v1/namespaces?watch=true&resourceVersion=1&timeoutSeconds=1",
        "application/json",
        None,
    );
    assert_eq!(code, 200);

    // Still serving.
    let (code, body) = api.call(
        "GET",
        "/api/v1/namespaces/default",
        "application/json",
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(body["metadata"]["name"], "default");
    assert!(
        !hub.proc.log_text().contains("panicked"),
        "the hub must not panic"
    );
}
