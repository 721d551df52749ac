//! Authorization: who may do what, where.
//!
//! Roles come from a user's groups:
//! - `system:masters`: cluster admin, everything.
//! - `shoal:ns:<namespace>:<role>` with role `view` (get, list, watch), `edit` (also create,
//!   update, patch, delete) or `admin` (as edit; reserved for managing the namespace's users):
//!   that namespace only.
//!
//! `kube-system` (which holds the token Secrets) belongs to cluster admins alone: a role
//! granted there is ignored, so no namespace user can mint a token for themselves.
//!
//! Namespaced users may also read nodes (fleet visibility) and the namespaces they have a
//! role in. Lists and watches across namespaces are filtered to the namespaces a user can
//! read, so they never see another namespace's objects; a request into another namespace,
//! and any write to a cluster-scoped kind, is 403 Forbidden.

use std::collections::BTreeMap;

use super::auth::User;
use super::error::ApiError;
use super::request::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    View,
    Edit,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "view" => Some(Role::View),
            "edit" => Some(Role::Edit),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Group name granting `role` in `namespace`.
pub fn namespace_group(namespace: &str, role: Role) -> String {
    let r = match role {
        Role::View => "view",
        Role::Edit => "edit",
        Role::Admin => "admin",
    };
    format!("shoal:ns:{namespace}:{r}")
}

/// What a user may do, derived once per request from their groups.
#[derive(Debug, Clone)]
pub struct Permissions {
    pub cluster_admin: bool,
    /// Highest role per namespace.
    pub namespaces: BTreeMap<String, Role>,
}

impl Permissions {
    pub fn of(user: &User) -> Permissions {
        let mut namespaces = BTreeMap::new();
        for g in &user.groups {
            if let Some(rest) = g.strip_prefix("shoal:ns:") {
                if let Some((ns, role)) = rest.rsplit_once(':') {
                    if ns == super::auth::TOKEN_NAMESPACE {
                        continue;
                    }
                    if let Some(r) = Role::parse(role) {
                        let e = namespaces.entry(ns.to_string()).or_insert(r);
                        if r > *e {
                            *e = r;
                        }
                    }
                }
            }
        }
        Permissions {
            cluster_admin: user.is_admin(),
            namespaces,
        }
    }

    /// Whether objects in `namespace` may be read (for list/watch filtering).
    pub fn can_read_namespace(&self, namespace: &str) -> bool {
        self.cluster_admin || self.namespaces.contains_key(namespace)
    }
}

/// Kubernetes verb for an HTTP method on a target.
pub fn verb(method: &str, t: &Target, watch: bool) -> &'static str {
    match (method, t.name.is_some()) {
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("GET", true) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", false) => "deletecollection",
        ("DELETE", true) => "delete",
        _ => "unknown",
    }
}

fn is_read(verb: &str) -> bool {
    matches!(verb, "get" | "list" | "watch")
}

/// Checks one request. `Ok` means allowed (list/watch results still go through
/// [`Permissions::can_read_namespace`]).
pub fn authorize(user: &User, perms: &Permissions, t: &Target, verb: &str) -> Result<(), ApiError> {
    if perms.cluster_admin {
        return Ok(());
    }
    let res = t.res;
    let allowed = if res.namespaced {
        match t.namespace.as_deref() {
            // All-namespace reads are filtered to what the user can see.
            None => is_read(verb) && !perms.namespaces.is_empty(),
            Some(ns) => match perms.namespaces.get(ns) {
                Some(Role::View) => is_read(verb),
                Some(Role::Edit | Role::Admin) => true,
                None => false,
            },
        }
    } else {
        match res.kind {
            "Node" => is_read(verb) && !perms.namespaces.is_empty(),
            "Namespace" => match (verb, t.name.as_deref()) {
                ("list" | "watch", _) => !perms.namespaces.is_empty(),
                ("get", Some(n)) => perms.namespaces.contains_key(n),
                _ => false,
            },
            _ => false,
        }
    };
    if allowed {
        return Ok(());
    }
    // Kubernetes names the subresource in the resource ("pods/exec").
    let resource = match &t.subresource {
        Some(sub) => format!("{}/{sub}", res.plural),
        None => res.plural.to_string(),
    };
    let mut msg = format!(
        "{} is forbidden: User \"{}\" cannot {verb} resource \"{resource}\" in API group \"{}\"",
        res.plural, user.name, res.group
    );
    if let Some(name) = &t.name {
        msg = format!("{} \"{name}\" is forbidden: User \"{}\" cannot {verb} resource \"{resource}\" in API group \"{}\"", res.plural, user.name, res.group);
    }
    match t.namespace.as_deref() {
        Some(ns) => msg.push_str(&format!(" in the namespace \"{ns}\"")),
        None => msg.push_str(" at the cluster scope"),
    }
    let mut e = ApiError::forbidden(msg);
    e.details = Some(serde_json::json!({"name": t.name, "kind": res.plural}));
    Err(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{NAMESPACES, NODES, PODS};

    fn user(groups: &[&str]) -> User {
        User {
            name: "alice".into(),
            uid: "1".into(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn target(
        res: &'static crate::resources::ResourceInfo,
        ns: Option<&str>,
        name: Option<&str>,
    ) -> Target {
        Target {
            res,
            namespace: ns.map(str::to_string),
            name: name.map(str::to_string),
            subresource: None,
        }
    }

    #[test]
    fn namespace_roles() {
        let u = user(&["shoal:ns:a:edit", "shoal:ns:b:view"]);
        let p = Permissions::of(&u);
        let cases: &[(
            &'static crate::resources::ResourceInfo,
            Option<&str>,
            Option<&str>,
            &str,
            bool,
        )] = &[
            (&PODS, Some("a"), None, "create", true),
            (&PODS, Some("a"), Some("x"), "delete", true),
            (&PODS, Some("b"), None, "list", true),
            (&PODS, Some("b"), None, "create", false),
            (&PODS, Some("c"), None, "list", false),
            (&PODS, None, None, "list", true),
            (&PODS, None, None, "deletecollection", false),
            (&NODES, None, None, "list", true),
            (&NODES, None, Some("n1"), "patch", false),
            (&NAMESPACES, None, Some("a"), "get", true),
            (&NAMESPACES, None, Some("c"), "get", false),
            (&NAMESPACES, None, None, "create", false),
        ];
        for (res, ns, name, verb, want) in cases {
            let got = authorize(&u, &p, &target(res, *ns, *name), verb).is_ok();
            assert_eq!(got, *want, "{verb} {} ns={ns:?} name={name:?}", res.plural);
        }
        assert!(
            p.can_read_namespace("a") && p.can_read_namespace("b") && !p.can_read_namespace("c")
        );
    }

    #[test]
    fn kube_system_is_for_cluster_admins_only() {
        let u = user(&["shoal:ns:kube-system:admin"]);
        let p = Permissions::of(&u);
        assert!(authorize(
            &u,
            &p,
            &target(&crate::resources::SECRETS, Some("kube-system"), None),
            "create"
        )
        .is_err());
        assert!(authorize(
            &u,
            &p,
            &target(&crate::resources::SECRETS, Some("kube-system"), None),
            "list"
        )
        .is_err());
    }

    #[test]
    fn forbidden_message_is_kubernetes_shaped() {
        let u = user(&["shoal:ns:a:view"]);
        let e = authorize(
            &u,
            &Permissions::of(&u),
            &target(&PODS, Some("b"), Some("web")),
            "get",
        )
        .expect_err("forbidden");
        assert_eq!(e.code, 403);
        assert_eq!(e.message, "pods \"web\" is forbidden: User \"alice\" cannot get resource \"pods\" in API group \"\" in the namespace \"b\"");
        let mut exec = target(&PODS, Some("a"), Some("web"));
        exec.subresource = Some("exec".into());
        let e = authorize(&u, &Permissions::of(&u), &exec, "create").expect_err("view cannot exec");
        assert_eq!(e.message, "pods \"web\" is forbidden: User \"alice\" cannot create resource \"pods/exec\" in API group \"\" in the namespace \"a\"");
    }

    #[test]
    fn admins_and_strangers() {
        let admin = user(&["system:masters"]);
        assert!(authorize(
            &admin,
            &Permissions::of(&admin),
            &target(&NODES, None, Some("n")),
            "delete"
        )
        .is_ok());
        let nobody = user(&[]);
        assert!(authorize(
            &nobody,
            &Permissions::of(&nobody),
            &target(&PODS, None, None),
            "list"
        )
        .is_err());
    }
}
