//! Discovery documents (`/api`, `/apis`, `/api/v1`, `/apis/{g}/{v}`), `/version`, and the
//! OpenAPI v3 documents kubectl reads to learn which query parameters a kind's endpoints take.

use serde_json::{json, Value};

use crate::resources::{ResourceInfo, ALL};

/// The Kubernetes version whose API shoal serves.
pub const KUBE_MAJOR: &str = "1";
pub const KUBE_MINOR: &str = "33";

pub fn version() -> Value {
    json!({
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "gitVersion": format!("v{KUBE_MAJOR}.{KUBE_MINOR}.0-shoal.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

/// Named groups (everything but the core group), each with its versions.
fn groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for r in ALL.iter().filter(|r| !r.group.is_empty()) {
        match out.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, vs)) if !vs.contains(&r.version) => vs.push(r.version),
            Some(_) => {}
            None => out.push((r.group, vec![r.version])),
        }
    }
    out
}

pub fn group_list() -> Value {
    let groups: Vec<Value> = groups()
        .into_iter()
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                .collect();
            json!({"name": g, "versions": versions, "preferredVersion": versions[0]})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(name: &str) -> Option<Value> {
    let (g, vs) = groups().into_iter().find(|(g, _)| *g == name)?;
    let versions: Vec<Value> = vs
        .iter()
        .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    Some(
        json!({"kind": "APIGroup", "apiVersion": "v1", "name": g, "versions": versions, "preferredVersion": versions[0]}),
    )
}

fn verbs(sub: Option<&str>) -> Vec<&'static str> {
    match sub {
        None => vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ],
        Some("binding") => vec!["create"],
        Some("log") => vec!["get"],
        Some("exec") => vec!["create", "get"],
        Some(_) => vec!["get", "patch", "update"],
    }
}

/// `APIResourceList` for one group/version, `None` when nothing is served there.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let rs: Vec<&ResourceInfo> = ALL
        .iter()
        .copied()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if rs.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for r in rs {
        resources.push(json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": verbs(None),
            "shortNames": r.short_names,
            "storageVersionHash": "",
        }));
        for sub in r.subresources {
            let kind = match *sub {
                "binding" => "Binding",
                "exec" => "PodExecOptions",
                _ => r.kind,
            };
            resources.push(json!({
                "name": format!("{}/{}", r.plural, sub),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": kind,
                "verbs": verbs(Some(sub)),
            }));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// `/openapi/v3`: the index of per-group-version documents.
pub fn openapi_v3_index() -> Value {
    let mut paths = serde_json::Map::new();
    let mut gvs: Vec<(String, String)> = vec![("api/v1".into(), String::new())];
    for (g, vs) in groups() {
        for v in vs {
            gvs.push((format!("apis/{g}/{v}"), String::new()));
        }
    }
    for (p, _) in gvs {
        let hash = openapi_hash(&p);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

fn openapi_hash(path: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(format!("{}:{}", env!("CARGO_PKG_VERSION"), path).as_bytes());
    h.iter().take(16).map(|b| format!("{b:02X}")).collect()
}

/// `/openapi/v3/api/v1`, `/openapi/v3/apis/{g}/{v}`: paths with their operations and
/// parameters (kubectl checks PATCH for `fieldValidation` to use server-side validation).
pub fn openapi_v3_doc(gv_path: &str) -> Option<Value> {
    let (group, version) = match gv_path.split('/').collect::<Vec<_>>().as_slice() {
        ["api", v] => ("", *v),
        ["apis", g, v] => (*g, *v),
        _ => return None,
    };
    let rs: Vec<&ResourceInfo> = ALL
        .iter()
        .copied()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if rs.is_empty() {
        return None;
    }
    let query = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}});
    let write_params = vec![
        query("dryRun"),
        query("fieldManager"),
        query("fieldValidation"),
        query("pretty"),
    ];
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for r in rs {
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        let op = |action: &str, params: &Vec<Value>| {
            json!({
                "operationId": format!("{action}{}", r.kind),
                "parameters": params,
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
            })
        };
        let base = if r.group.is_empty() {
            format!("/api/{}", r.version)
        } else {
            format!("/apis/{}/{}", r.group, r.version)
        };
        let collection = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{base}/{}", r.plural)
        };
        let item = format!("{collection}/{{name}}");
        let list_params = vec![
            query("labelSelector"),
            query("fieldSelector"),
            query("limit"),
            query("continue"),
            query("watch"),
            query("resourceVersion"),
            query("timeoutSeconds"),
        ];
        paths.insert(
            collection.clone(),
            json!({"get": op("list", &list_params), "post": op("post", &write_params)}),
        );
        paths.insert(item, json!({"get": op("get", &vec![]), "put": op("put", &write_params), "patch": op("patch", &write_params), "delete": op("delete", &vec![query("dryRun")])}));
        let schema_name = format!(
            "io.k8s.api.{}.{}.{}",
            if r.group.is_empty() { "core" } else { r.group },
            r.version,
            r.kind
        );
        schemas.insert(
            schema_name,
            json!({"type": "object", "x-kubernetes-group-version-kind": [gvk]}),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "shoal", "version": format!("v{KUBE_MAJOR}.{KUBE_MINOR}")},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_resource_list_has_pods_and_subresources() {
        let l = resource_list("", "v1").expect("core group served");
        let names: Vec<&str> = l["resources"]
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(names.contains(&"pods"));
        assert!(names.contains(&"pods/status"));
        assert!(names.contains(&"nodes"));
        assert!(resource_list("", "v2").is_none());
    }

    #[test]
    fn openapi_patch_ops_declare_field_validation() {
        let d = openapi_v3_doc("api/v1").expect("doc");
        let patch = &d["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Pod");
        assert!(patch["parameters"]
            .as_array()
            .expect("params")
            .iter()
            .any(|p| p["name"] == "fieldValidation"));
        assert!(openapi_v3_index()["paths"]["api/v1"]["serverRelativeURL"]
            .as_str()
            .is_some());
    }
}
