//! The kinds the hub serves: their API coordinates, storage prefix, selectable fields and
//! how an incoming object is normalized into Kubernetes' own type.
//!
//! Design: every object is decoded into its k8s-openapi type and encoded again before it is
//! stored, so what the store holds (and every client reads) is exactly the Kubernetes schema;
//! unknown fields are dropped the way the Kubernetes API server prunes them.

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, Event, Namespace, Node, Pod, ReplicationController, Secret, Service,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub struct ResourceInfo {
    /// API group, "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub list_kind: &'static str,
    /// Plural resource name used in paths.
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// Storage key prefix, unique across groups ("pods", "deployments.apps").
    pub key_prefix: &'static str,
    /// Selectable fields beyond metadata.name and metadata.namespace.
    pub field_paths: &'static [&'static str],
    /// Subresources served ("status", "binding", ...).
    pub subresources: &'static [&'static str],
    /// Decode into the Kubernetes type and re-encode; errors say which field was wrong.
    pub normalize: fn(Value) -> Result<Value, String>,
}

impl std::fmt::Debug for ResourceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.resource_name())
    }
}

impl ResourceInfo {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods` or `deployments.apps`, as Kubernetes names a resource in messages.
    pub fn resource_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

fn normalize_as<T: Serialize + DeserializeOwned>(v: Value) -> Result<Value, String> {
    let typed: T = serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        if path.is_empty() || path == "." {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })?;
    serde_json::to_value(typed).map_err(|e| e.to_string())
}

pub static NAMESPACES: ResourceInfo = ResourceInfo {
    group: "",
    version: "v1",
    kind: "Namespace",
    list_kind: "NamespaceList",
    plural: "namespaces",
    singular: "namespace",
    namespaced: false,
    short_names: &["ns"],
    key_prefix: "namespaces",
    field_paths: &["status.phase"],
    subresources: &["status"],
    normalize: normalize_as::<Namespace>,
};

pub static NODES: ResourceInfo = ResourceInfo {
    group: "",
    version: "v1",
    kind: "Node",
    list_kind: "NodeList",
    plural: "nodes",
    singular: "node",
    namespaced: false,
    short_names: &["no"],
    key_prefix: "nodes",
    field_paths: &["spec.unschedulable"],
    subresources: &["status"],
    normalize: normalize_as::<Node>,
};

pub static PODS: ResourceInfo = ResourceInfo {
    group: "",
    version: "v1",
    kind: "Pod",
    list_kind: "PodList",
    plural: "pods",
    singular: "pod",
    namespaced: true,
    short_names: &["po"],
    key_prefix: "pods",
    field_paths: &[
        "spec.nodeName",
        "status.phase",
        "spec.restartPolicy",
        "spec.schedulerName",
        "status.podIP",
    ],
    subresources: &["status", "binding", "log", "exec"],
    normalize: normalize_as::<Pod>,
};

pub static EVENTS: ResourceInfo = ResourceInfo {
    group: "",
    version: "v1",
    kind: "Event",
    list_kind: "EventList",
    plural: "events",
    singular: "event",
    namespaced: true,
    short_names: &["ev"],
    key_prefix: "events",
    field_paths: &[
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ],
    subresources: &[],
    normalize: normalize_as::<Event>,
};

/// A namespaced kind with the usual shape (selectable by name and namespace only).
macro_rules! namespaced {
    ($static:ident, $group:expr, $version:expr, $kind:expr, $plural:expr, $singular:expr, $short:expr, $key:expr, $subs:expr, $ty:ty) => {
        pub static $static: ResourceInfo = ResourceInfo {
            group: $group,
            version: $version,
            kind: $kind,
            list_kind: concat!($kind, "List"),
            plural: $plural,
            singular: $singular,
            namespaced: true,
            short_names: $short,
            key_prefix: $key,
            field_paths: &[],
            subresources: $subs,
            normalize: normalize_as::<$ty>,
        };
    };
}

namespaced!(
    REPLICATIONCONTROLLERS,
    "",
    "v1",
    "ReplicationController",
    "replicationcontrollers",
    "replicationcontroller",
    &["rc"],
    "replicationcontrollers",
    &["status", "scale"],
    ReplicationController
);
namespaced!(
    SERVICES,
    "",
    "v1",
    "Service",
    "services",
    "service",
    &["svc"],
    "services",
    &["status"],
    Service
);
namespaced!(
    ENDPOINTS,
    "",
    "v1",
    "Endpoints",
    "endpoints",
    "endpoints",
    &["ep"],
    "endpoints",
    &[],
    Endpoints
);
namespaced!(
    CONFIGMAPS,
    "",
    "v1",
    "ConfigMap",
    "configmaps",
    "configmap",
    &["cm"],
    "configmaps",
    &[],
    ConfigMap
);
namespaced!(
    REPLICASETS,
    "apps",
    "v1",
    "ReplicaSet",
    "replicasets",
    "replicaset",
    &["rs"],
    "replicasets.apps",
    &["status", "scale"],
    ReplicaSet
);
namespaced!(
    DEPLOYMENTS,
    "apps",
    "v1",
    "Deployment",
    "deployments",
    "deployment",
    &["deploy"],
    "deployments.apps",
    &["status", "scale"],
    Deployment
);
namespaced!(
    DAEMONSETS,
    "apps",
    "v1",
    "DaemonSet",
    "daemonsets",
    "daemonset",
    &["ds"],
    "daemonsets.apps",
    &["status"],
    DaemonSet
);
namespaced!(
    CONTROLLERREVISIONS,
    "apps",
    "v1",
    "ControllerRevision",
    "controllerrevisions",
    "controllerrevision",
    &[],
    "controllerrevisions.apps",
    &[],
    ControllerRevision
);
namespaced!(
    JOBS,
    "batch",
    "v1",
    "Job",
    "jobs",
    "job",
    &[],
    "jobs.batch",
    &["status"],
    Job
);

pub static SECRETS: ResourceInfo = ResourceInfo {
    group: "",
    version: "v1",
    kind: "Secret",
    list_kind: "SecretList",
    plural: "secrets",
    singular: "secret",
    namespaced: true,
    short_names: &[],
    key_prefix: "secrets",
    field_paths: &["type"],
    subresources: &[],
    normalize: normalize_as::<Secret>,
};

/// Every kind the hub serves.
pub static ALL: &[&ResourceInfo] = &[
    &NAMESPACES,
    &NODES,
    &PODS,
    &EVENTS,
    &REPLICATIONCONTROLLERS,
    &SERVICES,
    &ENDPOINTS,
    &CONFIGMAPS,
    &SECRETS,
    &REPLICASETS,
    &DEPLOYMENTS,
    &DAEMONSETS,
    &CONTROLLERREVISIONS,
    &JOBS,
];

/// Looks a resource up by group and plural name.
pub fn find(group: &str, plural: &str) -> Option<&'static ResourceInfo> {
    ALL.iter()
        .copied()
        .find(|r| r.group == group && r.plural == plural)
}
