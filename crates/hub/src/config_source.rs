//! The store as the [`ConfigSource`] pod plans read ConfigMaps and Secrets from, and
//! [`ConfigDeps`], which tells a node session which of its pods a ConfigMap or Secret change
//! touches, so it recompiles those plans (and only those) when one changes.

use std::collections::HashMap;

use base64::Engine;
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use crate::plan::{config_refs, ConfigData, ConfigKind, ConfigSource};
use crate::resources::{CONFIGMAPS, SECRETS};
use crate::store::{Store, StoredObject};

/// Reads ConfigMaps and Secrets from the store's in-memory index (no disk I/O).
pub struct StoreConfig<'a>(pub &'a Store);

impl ConfigSource for StoreConfig<'_> {
    fn config_map(&self, namespace: &str, name: &str) -> Option<ConfigData> {
        let v = json_of(&*self.0.get(&CONFIGMAPS, namespace, name)?)?;
        let mut data = ConfigData::new();
        for (k, val) in v["data"].as_object().into_iter().flatten() {
            data.insert(
                k.clone(),
                val.as_str().unwrap_or_default().as_bytes().to_vec(),
            );
        }
        for (k, val) in v["binaryData"].as_object().into_iter().flatten() {
            data.insert(k.clone(), decode(val));
        }
        Some(data)
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<ConfigData> {
        let v = json_of(&*self.0.get(&SECRETS, namespace, name)?)?;
        Some(
            v["data"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, val)| (k.clone(), decode(val)))
                .collect(),
        )
    }
}

fn json_of(o: &StoredObject) -> Option<Value> {
    serde_json::from_slice(&o.json).ok()
}

/// Admission validated the base64; anything else decodes to nothing rather than failing.
fn decode(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or_default())
        .unwrap_or_default()
}

/// Which ConfigMap or Secret a store key (`configmaps/{ns}/{name}`, `secrets/{ns}/{name}`)
/// names, if it names one.
pub fn config_key(key: &str) -> Option<(ConfigKind, &str, &str)> {
    let (resource, rest) = key.split_once('/')?;
    let kind = match resource {
        "configmaps" => ConfigKind::ConfigMap,
        "secrets" => ConfigKind::Secret,
        _ => return None,
    };
    let (ns, name) = rest.split_once('/')?;
    Some((kind, ns, name))
}

/// A pod's namespace, name and the ConfigMaps and Secrets it references.
type PodRefs = (String, String, Vec<(ConfigKind, String)>);

/// The ConfigMaps and Secrets each pod of one node depends on.
#[derive(Debug, Default)]
pub struct ConfigDeps {
    /// pod UID -> its references.
    pods: HashMap<String, PodRefs>,
}

impl ConfigDeps {
    /// Records (or forgets, when `pod` is `None`) the references of the pod `uid`.
    pub fn track(&mut self, uid: &str, pod: Option<&Pod>) {
        let Some(pod) = pod else {
            self.pods.remove(uid);
            return;
        };
        let refs = config_refs(pod);
        if refs.is_empty() {
            self.pods.remove(uid);
        } else {
            self.pods.insert(
                uid.to_string(),
                (
                    pod.metadata.namespace.clone().unwrap_or_default(),
                    pod.metadata.name.clone().unwrap_or_default(),
                    refs,
                ),
            );
        }
    }

    /// (namespace, name) of the pods that reference `kind`/`name` in `namespace`.
    pub fn dependents(
        &self,
        kind: ConfigKind,
        namespace: &str,
        name: &str,
    ) -> Vec<(String, String)> {
        self.pods
            .values()
            .filter(|(ns, _, refs)| {
                ns == namespace && refs.iter().any(|(k, n)| *k == kind && n == name)
            })
            .map(|(ns, pod, _)| (ns.clone(), pod.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_and_dependents() {
        assert_eq!(
            config_key("configmaps/default/app"),
            Some((ConfigKind::ConfigMap, "default", "app"))
        );
        assert_eq!(
            config_key("secrets/ns/x"),
            Some((ConfigKind::Secret, "ns", "x"))
        );
        assert_eq!(config_key("pods/default/app"), None);
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
            "spec": {"containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "app"}}]}]}
        }))
        .expect("pod");
        let mut deps = ConfigDeps::default();
        deps.track("u1", Some(&pod));
        assert_eq!(
            deps.dependents(ConfigKind::ConfigMap, "default", "app"),
            vec![("default".to_string(), "p".to_string())]
        );
        assert!(deps
            .dependents(ConfigKind::Secret, "default", "app")
            .is_empty());
        assert!(deps
            .dependents(ConfigKind::ConfigMap, "other", "app")
            .is_empty());
        deps.track("u1", None);
        assert!(deps
            .dependents(ConfigKind::ConfigMap, "default", "app")
            .is_empty());
    }
}
