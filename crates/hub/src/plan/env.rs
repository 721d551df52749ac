//! A container's environment as Kubernetes builds it: `envFrom` sources first (ConfigMaps and
//! Secrets, each key an variable, with an optional prefix), then `env` entries in order
//! (literals with `$(VAR)` expansion, the downward API, `configMapKeyRef`, `secretKeyRef`,
//! `resourceFieldRef`); a later variable of the same name replaces an earlier one.

use k8s_openapi::api::core::v1::{Container, ResourceFieldSelector};

use super::{quantity, ConfigData, ConfigKind, PodFacts};

/// The ConfigMaps and Secrets `c`'s environment reads.
pub(super) fn refs(c: &Container, out: &mut Vec<(ConfigKind, String)>) {
    for from in c.env_from.iter().flatten() {
        if let Some(r) = &from.config_map_ref {
            out.push((ConfigKind::ConfigMap, r.name.clone()));
        }
        if let Some(r) = &from.secret_ref {
            out.push((ConfigKind::Secret, r.name.clone()));
        }
    }
    for e in c.env.iter().flatten() {
        let Some(vf) = &e.value_from else { continue };
        if let Some(r) = &vf.config_map_key_ref {
            out.push((ConfigKind::ConfigMap, r.name.clone()));
        }
        if let Some(r) = &vf.secret_key_ref {
            out.push((ConfigKind::Secret, r.name.clone()));
        }
    }
}

fn lookup(facts: &PodFacts<'_>, kind: ConfigKind, name: &str) -> Option<ConfigData> {
    match kind {
        ConfigKind::ConfigMap => facts.config.config_map(facts.namespace, name),
        ConfigKind::Secret => facts.config.secret(facts.namespace, name),
    }
}

/// Kubernetes' wording for a missing object.
pub(super) fn not_found(kind: ConfigKind, name: &str) -> String {
    match kind {
        ConfigKind::ConfigMap => format!("configmap \"{name}\" not found"),
        ConfigKind::Secret => format!("secret \"{name}\" not found"),
    }
}

/// The environment of `c`, and the first reason it is incomplete.
pub(super) fn compile(
    c: &Container,
    facts: &PodFacts<'_>,
) -> (Vec<(String, String)>, Option<String>) {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut error = None;
    let set = |env: &mut Vec<(String, String)>, name: String, value: String| match env
        .iter_mut()
        .find(|(k, _)| *k == name)
    {
        Some(slot) => slot.1 = value,
        None => env.push((name, value)),
    };
    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.as_deref().unwrap_or_default();
        let source = from
            .config_map_ref
            .as_ref()
            .map(|r| (ConfigKind::ConfigMap, &r.name, r.optional))
            .or_else(|| {
                from.secret_ref
                    .as_ref()
                    .map(|r| (ConfigKind::Secret, &r.name, r.optional))
            });
        let Some((kind, name, optional)) = source else {
            continue;
        };
        match lookup(facts, kind, name) {
            Some(data) => {
                for (k, v) in data {
                    let var = format!("{prefix}{k}");
                    // Keys that are not valid variable names are skipped, as kubelet does.
                    if is_env_name(&var) {
                        set(&mut env, var, String::from_utf8_lossy(&v).into_owned());
                    }
                }
            }
            None if optional == Some(true) => {}
            None => {
                error.get_or_insert_with(|| not_found(kind, name));
            }
        }
    }
    for e in c.env.iter().flatten() {
        let value = if let Some(v) = &e.value {
            expand(v, &env)
        } else if let Some(vf) = &e.value_from {
            let keyed = vf
                .config_map_key_ref
                .as_ref()
                .map(|r| (ConfigKind::ConfigMap, &r.name, &r.key, r.optional))
                .or_else(|| {
                    vf.secret_key_ref
                        .as_ref()
                        .map(|r| (ConfigKind::Secret, &r.name, &r.key, r.optional))
                });
            if let Some((kind, name, key, optional)) = keyed {
                match lookup(facts, kind, name).map(|d| d.get(key).cloned()) {
                    Some(Some(v)) => String::from_utf8_lossy(&v).into_owned(),
                    _ if optional == Some(true) => continue,
                    Some(None) => {
                        let what = match kind {
                            ConfigKind::ConfigMap => "ConfigMap",
                            ConfigKind::Secret => "Secret",
                        };
                        error.get_or_insert_with(|| {
                            format!(
                                "couldn't find key {key} in {what} {}/{name}",
                                facts.namespace
                            )
                        });
                        continue;
                    }
                    None => {
                        error.get_or_insert_with(|| not_found(kind, name));
                        continue;
                    }
                }
            } else if let Some(f) = &vf.field_ref {
                facts.field(&f.field_path).unwrap_or_default()
            } else if let Some(r) = &vf.resource_field_ref {
                resource_field(c, r)
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        set(&mut env, e.name.clone(), value);
    }
    (env, error)
}

/// A `resourceFieldRef` value: the container's limit or request divided by the divisor,
/// rounded up (Kubernetes' rule); empty when the container sets none.
fn resource_field(c: &Container, r: &ResourceFieldSelector) -> String {
    let resources = c.resources.as_ref();
    let (map, key) = match r.resource.split_once('.') {
        Some(("limits", k)) => (resources.and_then(|r| r.limits.as_ref()), k),
        Some(("requests", k)) => (resources.and_then(|r| r.requests.as_ref()), k),
        _ => return String::new(),
    };
    let Some(q) = map.and_then(|m| m.get(key)) else {
        return String::new();
    };
    let divisor = r.divisor.as_ref().map(|d| d.0.as_str());
    if key == "cpu" {
        let value = quantity::cpu_millis(&q.0);
        let div = divisor
            .map(quantity::cpu_millis)
            .filter(|d| *d > 0)
            .unwrap_or(1000);
        value.div_ceil(div).to_string()
    } else {
        let value = quantity::memory_bytes(&q.0);
        let div = divisor
            .map(quantity::memory_bytes)
            .filter(|d| *d > 0)
            .unwrap_or(1);
        value.div_ceil(div).to_string()
    }
}

/// A C identifier-ish name as Kubernetes accepts for `envFrom` keys.
fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '-' || c == '.')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// `$(VAR)` references to earlier variables, as Kubernetes expands them; `$$` escapes.
pub(super) fn expand(v: &str, env: &[(String, String)]) -> String {
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(end) => {
                    let name = &inner[..end];
                    match env.iter().rev().find(|(k, _)| k == name) {
                        Some((_, val)) => out.push_str(val),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &inner[end + 1..];
                }
                None => {
                    out.push('$');
                    rest = after;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}
