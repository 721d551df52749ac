//! Pod volumes in the plan: `emptyDir` and `hostPath` as they are, and the projections kubelet
//! makes from API objects (`configMap`, `secret`, `downwardAPI`, `projected`) as files the
//! agent writes into the pod's directory.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, KeyToPath, Volume};
use shoal_transport::wire::{FilePlan, VolumePlan};

use super::env::not_found;
use super::{ConfigData, ConfigKind, PodFacts};

/// Kubernetes' default file mode for projected files.
const DEFAULT_MODE: i32 = 0o644;

/// The ConfigMaps and Secrets `v` projects.
pub(super) fn refs(v: &Volume, out: &mut Vec<(ConfigKind, String)>) {
    if let Some(cm) = &v.config_map {
        out.push((ConfigKind::ConfigMap, cm.name.clone()));
    }
    if let Some(s) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
        out.push((ConfigKind::Secret, s));
    }
    for source in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
        if let Some(cm) = &source.config_map {
            out.push((ConfigKind::ConfigMap, cm.name.clone()));
        }
        if let Some(s) = &source.secret {
            out.push((ConfigKind::Secret, s.name.clone()));
        }
    }
}

/// The pod's volumes, and per volume name why it could not be projected. A volume with an
/// error is left out of the plan; containers that mount it carry the error.
pub(super) fn compile(
    facts: &PodFacts<'_>,
    volumes: &[Volume],
) -> (Vec<VolumePlan>, HashMap<String, String>) {
    let mut plans = Vec::new();
    let mut errors = HashMap::new();
    for v in volumes {
        let name = v.name.clone();
        let files = if let Some(e) = &v.empty_dir {
            plans.push(VolumePlan::EmptyDir {
                name,
                medium_memory: e.medium.as_deref() == Some("Memory"),
            });
            continue;
        } else if let Some(h) = &v.host_path {
            plans.push(VolumePlan::HostPath {
                name,
                path: h.path.clone(),
                kind: h.type_.clone().unwrap_or_default(),
            });
            continue;
        } else if let Some(cm) = &v.config_map {
            let mut files = Vec::new();
            keyed(
                facts,
                ConfigKind::ConfigMap,
                &cm.name,
                cm.optional,
                cm.items.as_deref(),
                cm.default_mode,
                &mut files,
            )
            .map(|()| files)
        } else if let Some(s) = &v.secret {
            let mut files = Vec::new();
            keyed(
                facts,
                ConfigKind::Secret,
                s.secret_name.as_deref().unwrap_or_default(),
                s.optional,
                s.items.as_deref(),
                s.default_mode,
                &mut files,
            )
            .map(|()| files)
        } else if let Some(d) = &v.downward_api {
            let mut files = Vec::new();
            downward(facts, d.items.as_deref(), d.default_mode, &mut files).map(|()| files)
        } else if let Some(p) = &v.projected {
            let mut files = Vec::new();
            let mut result = Ok(());
            for source in p.sources.iter().flatten() {
                let r = if let Some(cm) = &source.config_map {
                    keyed(
                        facts,
                        ConfigKind::ConfigMap,
                        &cm.name,
                        cm.optional,
                        cm.items.as_deref(),
                        p.default_mode,
                        &mut files,
                    )
                } else if let Some(s) = &source.secret {
                    keyed(
                        facts,
                        ConfigKind::Secret,
                        &s.name,
                        s.optional,
                        s.items.as_deref(),
                        p.default_mode,
                        &mut files,
                    )
                } else if let Some(d) = &source.downward_api {
                    downward(facts, d.items.as_deref(), p.default_mode, &mut files)
                } else {
                    Err("projected volume source is not supported by shoal agents (configMap, secret and downwardAPI are)".to_string())
                };
                if r.is_err() {
                    result = r;
                    break;
                }
            }
            result.map(|()| files)
        } else {
            Err(format!(
                "volume \"{name}\" has a type shoal agents do not support (emptyDir, hostPath, configMap, secret, downwardAPI and projected are)"
            ))
        };
        match files {
            Ok(files) => plans.push(VolumePlan::Files { name, files }),
            Err(e) => {
                errors.insert(
                    v.name.clone(),
                    format!("MountVolume.SetUp failed for volume \"{}\" : {e}", v.name),
                );
            }
        }
    }
    (plans, errors)
}

/// Files from a ConfigMap or Secret: every key, or the listed `items`.
fn keyed(
    facts: &PodFacts<'_>,
    kind: ConfigKind,
    name: &str,
    optional: Option<bool>,
    items: Option<&[KeyToPath]>,
    default_mode: Option<i32>,
    files: &mut Vec<FilePlan>,
) -> Result<(), String> {
    let data: ConfigData = match kind {
        ConfigKind::ConfigMap => facts.config.config_map(facts.namespace, name),
        ConfigKind::Secret => facts.config.secret(facts.namespace, name),
    }
    .or_else(|| (optional == Some(true)).then(ConfigData::new))
    .ok_or_else(|| not_found(kind, name))?;
    let mode = default_mode.unwrap_or(DEFAULT_MODE);
    match items {
        None => {
            for (key, value) in data {
                push(files, key, value, mode)?;
            }
        }
        Some(items) => {
            for item in items {
                match data.get(&item.key) {
                    Some(value) => push(
                        files,
                        item.path.clone(),
                        value.clone(),
                        item.mode.unwrap_or(mode),
                    )?,
                    None if optional == Some(true) => {}
                    None => {
                        return Err(format!(
                            "configmap references non-existent config key: {}",
                            item.key
                        ))
                    }
                }
            }
        }
    }
    Ok(())
}

fn downward(
    facts: &PodFacts<'_>,
    items: Option<&[DownwardAPIVolumeFile]>,
    default_mode: Option<i32>,
    files: &mut Vec<FilePlan>,
) -> Result<(), String> {
    let mode = default_mode.unwrap_or(DEFAULT_MODE);
    for item in items.into_iter().flatten() {
        let value = if let Some(f) = &item.field_ref {
            facts.field(&f.field_path).ok_or_else(|| {
                format!(
                    "downward API field {} is not supported in volumes",
                    f.field_path
                )
            })?
        } else {
            String::new()
        };
        push(
            files,
            item.path.clone(),
            value.into_bytes(),
            item.mode.unwrap_or(mode),
        )?;
    }
    Ok(())
}

fn push(files: &mut Vec<FilePlan>, path: String, data: Vec<u8>, mode: i32) -> Result<(), String> {
    if !is_safe_path(&path) {
        return Err(format!(
            "invalid path {path:?}: must be relative and must not contain '..'"
        ));
    }
    files.retain(|f| f.path != path);
    files.push(FilePlan {
        path,
        data,
        mode: (mode & 0o777) as u32,
    });
    Ok(())
}

/// Relative, no `..` component, nothing that starts with `..` (kubelet keeps its `..data`
/// links there).
pub(crate) fn is_safe_path(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.starts_with("..")
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}
