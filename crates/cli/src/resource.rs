//! Resource types: what `po`, `pods`, `pod`, `Pod`, `no`, `ns`, `ev` mean, learned from the
//! hub's discovery documents (`/api`, `/api/v1`, `/apis`, `/apis/{group}/{version}`) rather
//! than a built-in table, so kinds the hub adds later work without a new shoalctl.
//!
//! [`Catalog::from_resource_lists`] and the look-ups are pure; fetching the documents is the
//! command session's job.

use serde_json::Value;

/// One resource type the hub serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResource {
    /// "" for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    /// Used in paths: `pods`.
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub namespaced: bool,
}

impl ApiResource {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// How kubectl names the type in output: `pod`, `deployment.apps`.
    pub fn type_name(&self) -> String {
        let kind = self.kind.to_lowercase();
        if self.group.is_empty() {
            kind
        } else {
            format!("{kind}.{}", self.group)
        }
    }

    /// How the API names the collection in messages: `pods`, `deployments.apps`.
    pub fn plural_type_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    fn base(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// The collection; `namespace` is ignored for cluster-scoped types and `None` lists
    /// every namespace.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!(
                "{}/namespaces/{}/{}",
                self.base(),
                crate::client::encode(ns),
                self.plural
            ),
            _ => format!("{}/{}", self.base(), self.plural),
        }
    }

    /// One object.
    pub fn item_path(&self, namespace: Option<&str>, name: &str) -> String {
        format!(
            "{}/{}",
            self.collection_path(namespace),
            crate::client::encode(name)
        )
    }

    /// Whether `word` (already lower-case, without a group) names this type.
    fn answers_to(&self, word: &str) -> bool {
        self.plural == word
            || self.singular == word
            || self.kind.to_lowercase() == word
            || self.short_names.iter().any(|s| s == word)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResolveError {
    #[error("the server doesn't have a resource type \"{0}\"")]
    UnknownType(String),
    #[error("no matches for kind \"{kind}\" in version \"{api_version}\"")]
    UnknownKind { kind: String, api_version: String },
    #[error("the discovery document for {group_version} is malformed: {problem}")]
    Malformed {
        group_version: String,
        problem: String,
    },
}

/// Every resource type the hub serves, in discovery order (core group first).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    resources: Vec<ApiResource>,
}

impl Catalog {
    /// Builds the catalog from `APIResourceList` documents; subresources (`pods/status`)
    /// are left out.
    pub fn from_resource_lists(lists: &[Value]) -> Result<Catalog, ResolveError> {
        let mut resources = Vec::new();
        for list in lists {
            let gv = list
                .get("groupVersion")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let malformed = |problem: &str| ResolveError::Malformed {
                group_version: gv.to_string(),
                problem: problem.to_string(),
            };
            let (group, version) = match gv.split_once('/') {
                Some((g, v)) => (g, v),
                None if !gv.is_empty() => ("", gv),
                None => return Err(malformed("groupVersion is missing")),
            };
            let items = list
                .get("resources")
                .and_then(Value::as_array)
                .ok_or_else(|| malformed("resources is not a list"))?;
            for r in items {
                let s = |k: &str| {
                    r.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                let plural = s("name");
                if plural.is_empty() || plural.contains('/') {
                    continue;
                }
                let kind = s("kind");
                let singular = match s("singularName") {
                    n if n.is_empty() => kind.to_lowercase(),
                    n => n,
                };
                let short_names = r
                    .get("shortNames")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                let namespaced = r
                    .get("namespaced")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                resources.push(ApiResource {
                    group: group.to_string(),
                    version: version.to_string(),
                    kind,
                    plural,
                    singular,
                    short_names,
                    namespaced,
                });
            }
        }
        Ok(Catalog { resources })
    }

    #[cfg(test)]
    pub fn all(&self) -> &[ApiResource] {
        &self.resources
    }

    /// Resolves what a person typed: `po`, `pods`, `pod`, `Pod`, `pods.apps`,
    /// `deployments.v1.apps`. The core group wins a tie, as in kubectl.
    pub fn resolve(&self, typed: &str) -> Result<&ApiResource, ResolveError> {
        let word = typed.trim().to_lowercase();
        if let Some(r) = self.resources.iter().find(|r| r.answers_to(&word)) {
            return Ok(r);
        }
        if let Some((name, rest)) = word.split_once('.') {
            let found = self.resources.iter().find(|r| {
                r.answers_to(name)
                    && (rest == r.group
                        || rest == format!("{}.{}", r.version, r.group)
                        || (r.group.is_empty() && rest == r.version))
            });
            if let Some(r) = found {
                return Ok(r);
            }
        }
        Err(ResolveError::UnknownType(typed.to_string()))
    }

    /// The type of a manifest's `apiVersion` and `kind`.
    pub fn for_kind(&self, api_version: &str, kind: &str) -> Result<&ApiResource, ResolveError> {
        self.resources
            .iter()
            .find(|r| r.api_version() == api_version && r.kind == kind)
            .ok_or_else(|| ResolveError::UnknownKind {
                kind: kind.to_string(),
                api_version: api_version.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What the hub's `/api/v1` serves, plus a named group.
    fn catalog() -> Catalog {
        let core = json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            {"name": "namespaces", "singularName": "namespace", "namespaced": false, "kind": "Namespace", "shortNames": ["ns"]},
            {"name": "namespaces/status", "singularName": "", "namespaced": false, "kind": "Namespace"},
            {"name": "nodes", "singularName": "node", "namespaced": false, "kind": "Node", "shortNames": ["no"]},
            {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod", "shortNames": ["po"]},
            {"name": "pods/binding", "singularName": "", "namespaced": true, "kind": "Binding"},
            {"name": "events", "singularName": "event", "namespaced": true, "kind": "Event", "shortNames": ["ev"]},
        ]});
        let apps = json!({"groupVersion": "apps/v1", "resources": [
            {"name": "deployments", "singularName": "deployment", "namespaced": true, "kind": "Deployment", "shortNames": ["deploy"]},
            {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod"},
        ]});
        Catalog::from_resource_lists(&[core, apps]).expect("well-formed")
    }

    #[test]
    fn names_short_names_plurals_and_kinds_resolve() {
        let c = catalog();
        for (typed, plural) in [
            ("po", "pods"),
            ("pods", "pods"),
            ("pod", "pods"),
            ("Pod", "pods"),
            ("PODS", "pods"),
            ("no", "nodes"),
            ("ns", "namespaces"),
            ("ev", "events"),
            ("deploy", "deployments"),
        ] {
            assert_eq!(c.resolve(typed).expect(typed).plural, plural, "{typed}");
        }
        assert_eq!(
            c.resolve("pods").expect("pods").group,
            "",
            "core wins a tie"
        );
        assert_eq!(c.resolve("pods.apps").expect("pods.apps").group, "apps");
        assert_eq!(
            c.resolve("deployments.v1.apps")
                .expect("fully qualified")
                .kind,
            "Deployment"
        );
        assert_eq!(
            c.resolve("widgets"),
            Err(ResolveError::UnknownType("widgets".into()))
        );
        assert_eq!(
            c.resolve("widgets").expect_err("unknown").to_string(),
            "the server doesn't have a resource type \"widgets\""
        );
        assert_eq!(c.all().len(), 6, "subresources are left out");
    }

    #[test]
    fn kinds_resolve_by_api_version() {
        let c = catalog();
        assert_eq!(c.for_kind("v1", "Pod").expect("pod").group, "");
        assert_eq!(
            c.for_kind("apps/v1", "Deployment").expect("deploy").plural,
            "deployments"
        );
        assert_eq!(
            c.for_kind("v2", "Pod").expect_err("no v2").to_string(),
            "no matches for kind \"Pod\" in version \"v2\""
        );
    }

    #[test]
    fn paths_follow_scope() {
        let c = catalog();
        let pods = c.resolve("po").expect("pods");
        assert_eq!(
            pods.collection_path(Some("edge")),
            "/api/v1/namespaces/edge/pods"
        );
        assert_eq!(pods.collection_path(None), "/api/v1/pods");
        assert_eq!(
            pods.item_path(Some("edge"), "web"),
            "/api/v1/namespaces/edge/pods/web"
        );
        let nodes = c.resolve("no").expect("nodes");
        assert_eq!(
            nodes.item_path(Some("edge"), "n1"),
            "/api/v1/nodes/n1",
            "cluster-scoped ignores the namespace"
        );
        let d = c.resolve("deploy").expect("deploy");
        assert_eq!(
            d.item_path(Some("a"), "b"),
            "/apis/apps/v1/namespaces/a/deployments/b"
        );
        assert_eq!(d.type_name(), "deployment.apps");
        assert_eq!(pods.type_name(), "pod");
    }

    #[test]
    fn malformed_discovery_is_an_error() {
        assert!(Catalog::from_resource_lists(&[json!({"resources": []})]).is_err());
        assert!(Catalog::from_resource_lists(&[json!({"groupVersion": "v1"})]).is_err());
    }
}
