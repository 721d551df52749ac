//! Protobuf schemas of the Kubernetes kinds the hub decodes from
//! `application/vnd.kubernetes.protobuf` bodies (see [`super::protobuf`]).
//!
//! One [`Message`] per message of Kubernetes' `generated.proto` files (core/v1, apps/v1,
//! batch/v1, autoscaling/v1, meta/v1) that is reachable from a kind in [`root`]. Each
//! [`Field`] gives the field number, its JSON name (which is also its proto name), how it
//! maps to JSON ([`Card`]) and its type ([`Ty`]). Fields are sorted by number.
//!
//! How the table was made: field numbers and wire types come from the generated.proto files
//! (Kubernetes 1.33 API); JSON names, `omitempty` and whether a Go field is a pointer come
//! from the Go structs' tags (`json:"hostIP,omitempty" protobuf:"bytes,5,opt,name=hostIP"`)
//! of the same release. Where the two disagree (a handful of stale Go `protobuf:` tags, e.g.
//! `PodSpec.priority`, `DeleteOptions.propagationPolicy`), generated.proto wins, as it is
//! what the encoders use. Fields added after 1.33 are not listed: the decoder skips them like
//! any unknown field. To add a kind, add its messages (and those it reaches) and a line in
//! [`root`].

/// How a field appears in the decoded JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Card {
    /// A Go value field tagged `omitempty`: Go's protobuf encoder always writes it, so a zero
    /// value ("", 0, false) means "not set" and is left out of the JSON.
    Omit,
    /// Emitted whenever it is on the wire, even when zero: a Go pointer field (`*int32`,
    /// `*bool`: 0 and false are meaningful), a field without `omitempty`, or a message.
    Emit,
    /// `repeated`: a JSON array, left out when empty.
    Rep,
    /// `map<string, ty>`: a JSON object, left out when empty. Entries are messages with the
    /// key in field 1 and the value in field 2.
    Map,
    /// An embedded Go struct tagged `json:",inline"` (e.g. `Probe.handler`,
    /// `Volume.volumeSource`): its fields go into the enclosing JSON object.
    Inline,
}

/// A field's type.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Str,
    Bool,
    I32,
    I64,
    F64,
    /// `bytes`: a base64 string in JSON.
    Bytes,
    /// `resource.Quantity {string string = 1}`: a JSON string.
    Quantity,
    /// `meta.v1.Time {int64 seconds = 1; int32 nanos = 2}`: RFC 3339 in seconds, or null.
    Time,
    /// `meta.v1.MicroTime`: like [`Ty::Time`], with microseconds.
    MicroTime,
    /// `intstr.IntOrString {int64 type = 1; int32 intVal = 2; string strVal = 3}`.
    IntOrString,
    /// `meta.v1.Duration {int64 duration = 1}` in nanoseconds: a Go duration string.
    Duration,
    /// `runtime.RawExtension {bytes raw = 1}` and `meta.v1.FieldsV1 {bytes Raw = 1}`: the
    /// embedded JSON document.
    Raw,
    Msg(&'static Message),
}

/// A message: its name (for errors) and its fields sorted by number.
#[derive(Debug)]
pub struct Message {
    pub name: &'static str,
    pub fields: &'static [Field],
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub num: u32,
    pub json: &'static str,
    pub card: Card,
    pub ty: Ty,
}

impl Message {
    pub fn field(&self, num: u32) -> Option<&'static Field> {
        self.fields
            .binary_search_by_key(&num, |f| f.num)
            .ok()
            .map(|i| &self.fields[i])
    }
}

const fn f(num: u32, json: &'static str, card: Card, ty: Ty) -> Field {
    Field {
        num,
        json,
        card,
        ty,
    }
}

/// The message of a kind, by the `apiVersion` and `kind` of the body's typeMeta.
/// `DeleteOptions` is accepted under any group version, as the API server registers it in
/// every one.
pub fn root(api_version: &str, kind: &str) -> Option<&'static Message> {
    Some(match (api_version, kind) {
        ("v1", "Namespace") => &CORE_V1_NAMESPACE,
        ("v1", "Node") => &CORE_V1_NODE,
        ("v1", "Pod") => &CORE_V1_POD,
        ("v1", "Event") => &CORE_V1_EVENT,
        ("v1", "ReplicationController") => &CORE_V1_REPLICATION_CONTROLLER,
        ("v1", "Service") => &CORE_V1_SERVICE,
        ("v1", "Endpoints") => &CORE_V1_ENDPOINTS,
        ("v1", "ConfigMap") => &CORE_V1_CONFIG_MAP,
        ("v1", "Secret") => &CORE_V1_SECRET,
        ("v1", "ServiceAccount") => &CORE_V1_SERVICE_ACCOUNT,
        ("v1", "PersistentVolumeClaim") => &CORE_V1_PERSISTENT_VOLUME_CLAIM,
        ("v1", "ResourceQuota") => &CORE_V1_RESOURCE_QUOTA,
        ("v1", "PodTemplate") => &CORE_V1_POD_TEMPLATE,
        ("v1", "Binding") => &CORE_V1_BINDING,
        ("apps/v1", "ReplicaSet") => &APPS_V1_REPLICA_SET,
        ("apps/v1", "Deployment") => &APPS_V1_DEPLOYMENT,
        ("apps/v1", "DaemonSet") => &APPS_V1_DAEMON_SET,
        ("apps/v1", "StatefulSet") => &APPS_V1_STATEFUL_SET,
        ("apps/v1", "ControllerRevision") => &APPS_V1_CONTROLLER_REVISION,
        ("batch/v1", "Job") => &BATCH_V1_JOB,
        ("batch/v1", "CronJob") => &BATCH_V1_CRON_JOB,
        ("autoscaling/v1", "Scale") => &AUTOSCALING_V1_SCALE,
        (_, "DeleteOptions") => &META_V1_DELETE_OPTIONS,
        _ => return None,
    })
}

use Card::{Emit, Inline, Map, Omit, Rep};
use Ty::{Bool, Bytes, IntOrString, MicroTime, Msg, Quantity, Raw, Str, Time, I32, I64};

pub static CORE_V1_NAMESPACE: Message = Message {
    name: "core.v1.Namespace",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "spec", Emit, Msg(&CORE_V1_NAMESPACE_SPEC)),
        f(3, "status", Emit, Msg(&CORE_V1_NAMESPACE_STATUS)),
    ],
};

pub static CORE_V1_NODE: Message = Message {
    name: "core.v1.Node",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "spec", Emit, Msg(&CORE_V1_NODE_SPEC)),
        f(3, "status", Emit, Msg(&CORE_V1_NODE_STATUS)),
    ],
};

pub static CORE_V1_POD: Message = Message {
    name: "core.v1.Pod",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "spec", Emit, Msg(&CORE_V1_POD_SPEC)),
        f(3, "status", Emit, Msg(&CORE_V1_POD_STATUS)),
    ],
};

pub static CORE_V1_EVENT: Message = Message {
    name: "core.v1.Event",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "involvedObject", Emit, Msg(&CORE_V1_OBJECT_REFERENCE)),
        f(3, "reason", Omit, Str),
        f(4, "message", Omit, Str),
        f(5, "source", Emit, Msg(&CORE_V1_EVENT_SOURCE)),
        f(6, "firstTimestamp", Emit, Time),
        f(7, "lastTimestamp", Emit, Time),
        f(8, "count", Omit, I32),
        f(9, "type", Omit, Str),
        f(10, "eventTime", Emit, MicroTime),
        f(11, "series", Emit, Msg(&CORE_V1_EVENT_SERIES)),
        f(12, "action", Omit, Str),
        f(13, "related", Emit, Msg(&CORE_V1_OBJECT_REFERENCE)),
        f(14, "reportingComponent", Emit, Str),
        f(15, "reportingInstance", Emit, Str),
    ],
};

pub static CORE_V1_REPLICATION_CONTROLLER: Message = Message {
    name: "core.v1.ReplicationController",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "spec", Emit, Msg(&CORE_V1_REPLICATION_CONTROLLER_SPEC)),
        f(
            3,
            "status",
            Emit,
            Msg(&CORE_V1_REPLICATION_CONTROLLER_STATUS),
        ),
    ],
};

pub static CORE_V1_SERVICE: Message = Message {
    name: "core.v1.Service",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "spec", Emit, Msg(&CORE_V1_SERVICE_SPEC)),
        f(3, "status", Emit, Msg(&CORE_V1_SERVICE_STATUS)),
    ],
};

pub static CORE_V1_ENDPOINTS: Message = Message {
    name: "core.v1.Endpoints",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "subsets", Rep, Msg(&CORE_V1_ENDPOINT_SUBSET)),
    ],
};

pub static CORE_V1_CONFIG_MAP: Message = Message {
    name: "core.v1.ConfigMap",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "data", Map, Str),
        f(3, "binaryData", Map, Bytes),
        f(4, "immutable", Emit, Bool),
    ],
};

pub static CORE_V1_SECRET: Message = Message {
    name: "core.v1.Secret",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "data", Map, Bytes),
        f(3, "type", Omit, Str),
        f(4, "stringData", Map, Str),
        f(5, "immutable", Emit, Bool),
    ],
};

pub static CORE_V1_SERVICE_ACCOUNT: Message = Message {
    name: "core.v1.ServiceAccount",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "secrets", Rep, Msg(&CORE_V1_OBJECT_REFERENCE)),
        f(
            3,
            "imagePullSecrets",
            Rep,
            Msg(&CORE_V1_LOCAL_OBJECT_REFERENCE),
        ),
        f(4, "automountServiceAccountToken", Emit, Bool),
    ],
};

pub static CORE_V1_PERSISTENT_VOLUME_CLAIM: Message = Message {
    name: "core.v1.PersistentVolumeClaim",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "spec", Emit, Msg(&CORE_V1_PERSISTENT_VOLUME_CLAIM_SPEC)),
        f(
            3,
            "status",
            Emit,
            Msg(&CORE_V1_PERSISTENT_VOLUME_CLAIM_STATUS),
        ),
    ],
};

pub static CORE_V1_RESOURCE_QUOTA: Message = Message {
    name: "core.v1.ResourceQuota",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "spec", Emit, Msg(&CORE_V1_RESOURCE_QUOTA_SPEC)),
        f(3, "status", Emit, Msg(&CORE_V1_RESOURCE_QUOTA_STATUS)),
    ],
};

pub static CORE_V1_POD_TEMPLATE: Message = Message {
    name: "core.v1.PodTemplate",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "template", Emit, Msg(&CORE_V1_POD_TEMPLATE_SPEC)),
    ],
};

pub static CORE_V1_BINDING: Message = Message {
    name: "core.v1.Binding",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "target", Emit, Msg(&CORE_V1_OBJECT_REFERENCE)),
    ],
};

pub static META_V1_DELETE_OPTIONS: Message = Message {
    name: "meta.v1.DeleteOptions",
    fields: &[
        f(1, "gracePeriodSeconds", Emit, I64),
        f(2, "preconditions", Emit, Msg(&META_V1_PRECONDITIONS)),
        f(3, "orphanDependents", Emit, Bool),
        f(4, "propagationPolicy", Emit, Str),
        f(5, "dryRun", Rep, Str),
        f(
            6,
            "ignoreStoreReadErrorWithClusterBreakingPotential",
            Emit,
            Bool,
        ),
    ],
};

pub static APPS_V1_REPLICA_SET: Message = Message {
    name: "apps.v1.ReplicaSet",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "spec", Emit, Msg(&APPS_V1_REPLICA_SET_SPEC)),
        f(3, "status", Emit, Msg(&APPS_V1_REPLICA_SET_STATUS)),
    ],
};

pub static APPS_V1_DEPLOYMENT: Message = Message {
    name: "apps.v1.Deployment",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "spec", Emit, Msg(&APPS_V1_DEPLOYMENT_SPEC)),
        f(3, "status", Emit, Msg(&APPS_V1_DEPLOYMENT_STATUS)),
    ],
};

pub static APPS_V1_DAEMON_SET: Message = Message {
    name: "apps.v1.DaemonSet",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "spec", Emit, Msg(&APPS_V1_DAEMON_SET_SPEC)),
        f(3, "status", Emit, Msg(&APPS_V1_DAEMON_SET_STATUS)),
    ],
};

pub static APPS_V1_STATEFUL_SET: Message = Message {
    name: "apps.v1.StatefulSet",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "spec", Emit, Msg(&APPS_V1_STATEFUL_SET_SPEC)),
        f(3, "status", Emit, Msg(&APPS_V1_STATEFUL_SET_STATUS)),
    ],
};

pub static APPS_V1_CONTROLLER_REVISION: Message = Message {
    name: "apps.v1.ControllerRevision",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "data", Emit, Raw),
        f(3, "revision", Emit, I64),
    ],
};

pub static BATCH_V1_JOB: Message = Message {
    name: "batch.v1.Job",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "spec", Emit, Msg(&BATCH_V1_JOB_SPEC)),
        f(3, "status", Emit, Msg(&BATCH_V1_JOB_STATUS)),
    ],
};

pub static BATCH_V1_CRON_JOB: Message = Message {
    name: "batch.v1.CronJob",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "spec", Emit, Msg(&BATCH_V1_CRON_JOB_SPEC)),
        f(3, "status", Emit, Msg(&BATCH_V1_CRON_JOB_STATUS)),
    ],
};

pub static AUTOSCALING_V1_SCALE: Message = Message {
    name: "autoscaling.v1.Scale",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "spec", Emit, Msg(&AUTOSCALING_V1_SCALE_SPEC)),
        f(3, "status", Emit, Msg(&AUTOSCALING_V1_SCALE_STATUS)),
    ],
};

pub static META_V1_OBJECT_META: Message = Message {
    name: "meta.v1.ObjectMeta",
    fields: &[
        f(1, "name", Omit, Str),
        f(2, "generateName", Omit, Str),
        f(3, "namespace", Omit, Str),
        f(4, "selfLink", Omit, Str),
        f(5, "uid", Omit, Str),
        f(6, "resourceVersion", Omit, Str),
        f(7, "generation", Omit, I64),
        f(8, "creationTimestamp", Emit, Time),
        f(9, "deletionTimestamp", Emit, Time),
        f(10, "deletionGracePeriodSeconds", Emit, I64),
        f(11, "labels", Map, Str),
        f(12, "annotations", Map, Str),
        f(13, "ownerReferences", Rep, Msg(&META_V1_OWNER_REFERENCE)),
        f(14, "finalizers", Rep, Str),
        f(17, "managedFields", Rep, Msg(&META_V1_MANAGED_FIELDS_ENTRY)),
    ],
};

pub static CORE_V1_NAMESPACE_SPEC: Message = Message {
    name: "core.v1.NamespaceSpec",
    fields: &[f(1, "finalizers", Rep, Str)],
};

pub static CORE_V1_NAMESPACE_STATUS: Message = Message {
    name: "core.v1.NamespaceStatus",
    fields: &[
        f(1, "phase", Omit, Str),
        f(2, "conditions", Rep, Msg(&CORE_V1_NAMESPACE_CONDITION)),
    ],
};

pub static CORE_V1_NODE_SPEC: Message = Message {
    name: "core.v1.NodeSpec",
    fields: &[
        f(1, "podCIDR", Omit, Str),
        f(2, "externalID", Omit, Str),
        f(3, "providerID", Omit, Str),
        f(4, "unschedulable", Omit, Bool),
        f(5, "taints", Rep, Msg(&CORE_V1_TAINT)),
        f(6, "configSource", Emit, Msg(&CORE_V1_NODE_CONFIG_SOURCE)),
        f(7, "podCIDRs", Rep, Str),
    ],
};

pub static CORE_V1_NODE_STATUS: Message = Message {
    name: "core.v1.NodeStatus",
    fields: &[
        f(1, "capacity", Map, Quantity),
        f(2, "allocatable", Map, Quantity),
        f(3, "phase", Omit, Str),
        f(4, "conditions", Rep, Msg(&CORE_V1_NODE_CONDITION)),
        f(5, "addresses", Rep, Msg(&CORE_V1_NODE_ADDRESS)),
        f(
            6,
            "daemonEndpoints",
            Emit,
            Msg(&CORE_V1_NODE_DAEMON_ENDPOINTS),
        ),
        f(7, "nodeInfo", Emit, Msg(&CORE_V1_NODE_SYSTEM_INFO)),
        f(8, "images", Rep, Msg(&CORE_V1_CONTAINER_IMAGE)),
        f(9, "volumesInUse", Rep, Str),
        f(10, "volumesAttached", Rep, Msg(&CORE_V1_ATTACHED_VOLUME)),
        f(11, "config", Emit, Msg(&CORE_V1_NODE_CONFIG_STATUS)),
        f(
            12,
            "runtimeHandlers",
            Rep,
            Msg(&CORE_V1_NODE_RUNTIME_HANDLER),
        ),
        f(13, "features", Emit, Msg(&CORE_V1_NODE_FEATURES)),
    ],
};

pub static CORE_V1_POD_SPEC: Message = Message {
    name: "core.v1.PodSpec",
    fields: &[
        f(1, "volumes", Rep, Msg(&CORE_V1_VOLUME)),
        f(2, "containers", Rep, Msg(&CORE_V1_CONTAINER)),
        f(3, "restartPolicy", Omit, Str),
        f(4, "terminationGracePeriodSeconds", Emit, I64),
        f(5, "activeDeadlineSeconds", Emit, I64),
        f(6, "dnsPolicy", Omit, Str),
        f(7, "nodeSelector", Map, Str),
        f(8, "serviceAccountName", Omit, Str),
        f(9, "serviceAccount", Omit, Str),
        f(10, "nodeName", Omit, Str),
        f(11, "hostNetwork", Omit, Bool),
        f(12, "hostPID", Omit, Bool),
        f(13, "hostIPC", Omit, Bool),
        f(
            14,
            "securityContext",
            Emit,
            Msg(&CORE_V1_POD_SECURITY_CONTEXT),
        ),
        f(
            15,
            "imagePullSecrets",
            Rep,
            Msg(&CORE_V1_LOCAL_OBJECT_REFERENCE),
        ),
        f(16, "hostname", Omit, Str),
        f(17, "subdomain", Omit, Str),
        f(18, "affinity", Emit, Msg(&CORE_V1_AFFINITY)),
        f(19, "schedulerName", Omit, Str),
        f(20, "initContainers", Rep, Msg(&CORE_V1_CONTAINER)),
        f(21, "automountServiceAccountToken", Emit, Bool),
        f(22, "tolerations", Rep, Msg(&CORE_V1_TOLERATION)),
        f(23, "hostAliases", Rep, Msg(&CORE_V1_HOST_ALIAS)),
        f(24, "priorityClassName", Omit, Str),
        f(25, "priority", Emit, I32),
        f(26, "dnsConfig", Emit, Msg(&CORE_V1_POD_DNSCONFIG)),
        f(27, "shareProcessNamespace", Emit, Bool),
        f(28, "readinessGates", Rep, Msg(&CORE_V1_POD_READINESS_GATE)),
        f(29, "runtimeClassName", Emit, Str),
        f(30, "enableServiceLinks", Emit, Bool),
        f(31, "preemptionPolicy", Emit, Str),
        f(32, "overhead", Map, Quantity),
        f(
            33,
            "topologySpreadConstraints",
            Rep,
            Msg(&CORE_V1_TOPOLOGY_SPREAD_CONSTRAINT),
        ),
        f(
            34,
            "ephemeralContainers",
            Rep,
            Msg(&CORE_V1_EPHEMERAL_CONTAINER),
        ),
        f(35, "setHostnameAsFQDN", Emit, Bool),
        f(36, "os", Emit, Msg(&CORE_V1_POD_OS)),
        f(37, "hostUsers", Emit, Bool),
        f(
            38,
            "schedulingGates",
            Rep,
            Msg(&CORE_V1_POD_SCHEDULING_GATE),
        ),
        f(39, "resourceClaims", Rep, Msg(&CORE_V1_POD_RESOURCE_CLAIM)),
        f(40, "resources", Emit, Msg(&CORE_V1_RESOURCE_REQUIREMENTS)),
    ],
};

pub static CORE_V1_POD_STATUS: Message = Message {
    name: "core.v1.PodStatus",
    fields: &[
        f(1, "phase", Omit, Str),
        f(2, "conditions", Rep, Msg(&CORE_V1_POD_CONDITION)),
        f(3, "message", Omit, Str),
        f(4, "reason", Omit, Str),
        f(5, "hostIP", Omit, Str),
        f(6, "podIP", Omit, Str),
        f(7, "startTime", Emit, Time),
        f(8, "containerStatuses", Rep, Msg(&CORE_V1_CONTAINER_STATUS)),
        f(9, "qosClass", Omit, Str),
        f(
            10,
            "initContainerStatuses",
            Rep,
            Msg(&CORE_V1_CONTAINER_STATUS),
        ),
        f(11, "nominatedNodeName", Omit, Str),
        f(12, "podIPs", Rep, Msg(&CORE_V1_POD_IP)),
        f(
            13,
            "ephemeralContainerStatuses",
            Rep,
            Msg(&CORE_V1_CONTAINER_STATUS),
        ),
        f(14, "resize", Omit, Str),
        f(
            15,
            "resourceClaimStatuses",
            Rep,
            Msg(&CORE_V1_POD_RESOURCE_CLAIM_STATUS),
        ),
        f(16, "hostIPs", Rep, Msg(&CORE_V1_HOST_IP)),
        f(17, "observedGeneration", Omit, I64),
    ],
};

pub static CORE_V1_OBJECT_REFERENCE: Message = Message {
    name: "core.v1.ObjectReference",
    fields: &[
        f(1, "kind", Omit, Str),
        f(2, "namespace", Omit, Str),
        f(3, "name", Omit, Str),
        f(4, "uid", Omit, Str),
        f(5, "apiVersion", Omit, Str),
        f(6, "resourceVersion", Omit, Str),
        f(7, "fieldPath", Omit, Str),
    ],
};

pub static CORE_V1_EVENT_SOURCE: Message = Message {
    name: "core.v1.EventSource",
    fields: &[f(1, "component", Omit, Str), f(2, "host", Omit, Str)],
};

pub static CORE_V1_EVENT_SERIES: Message = Message {
    name: "core.v1.EventSeries",
    fields: &[
        f(1, "count", Omit, I32),
        f(2, "lastObservedTime", Emit, MicroTime),
    ],
};

pub static CORE_V1_REPLICATION_CONTROLLER_SPEC: Message = Message {
    name: "core.v1.ReplicationControllerSpec",
    fields: &[
        f(1, "replicas", Emit, I32),
        f(2, "selector", Map, Str),
        f(3, "template", Emit, Msg(&CORE_V1_POD_TEMPLATE_SPEC)),
        f(4, "minReadySeconds", Omit, I32),
    ],
};

pub static CORE_V1_REPLICATION_CONTROLLER_STATUS: Message = Message {
    name: "core.v1.ReplicationControllerStatus",
    fields: &[
        f(1, "replicas", Emit, I32),
        f(2, "fullyLabeledReplicas", Omit, I32),
        f(3, "observedGeneration", Omit, I64),
        f(4, "readyReplicas", Omit, I32),
        f(5, "availableReplicas", Omit, I32),
        f(
            6,
            "conditions",
            Rep,
            Msg(&CORE_V1_REPLICATION_CONTROLLER_CONDITION),
        ),
    ],
};

pub static CORE_V1_SERVICE_SPEC: Message = Message {
    name: "core.v1.ServiceSpec",
    fields: &[
        f(1, "ports", Rep, Msg(&CORE_V1_SERVICE_PORT)),
        f(2, "selector", Map, Str),
        f(3, "clusterIP", Omit, Str),
        f(4, "type", Omit, Str),
        f(5, "externalIPs", Rep, Str),
        f(7, "sessionAffinity", Omit, Str),
        f(8, "loadBalancerIP", Omit, Str),
        f(9, "loadBalancerSourceRanges", Rep, Str),
        f(10, "externalName", Omit, Str),
        f(11, "externalTrafficPolicy", Omit, Str),
        f(12, "healthCheckNodePort", Omit, I32),
        f(13, "publishNotReadyAddresses", Omit, Bool),
        f(
            14,
            "sessionAffinityConfig",
            Emit,
            Msg(&CORE_V1_SESSION_AFFINITY_CONFIG),
        ),
        f(17, "ipFamilyPolicy", Emit, Str),
        f(18, "clusterIPs", Rep, Str),
        f(19, "ipFamilies", Rep, Str),
        f(20, "allocateLoadBalancerNodePorts", Emit, Bool),
        f(21, "loadBalancerClass", Emit, Str),
        f(22, "internalTrafficPolicy", Emit, Str),
        f(23, "trafficDistribution", Emit, Str),
    ],
};

pub static CORE_V1_SERVICE_STATUS: Message = Message {
    name: "core.v1.ServiceStatus",
    fields: &[
        f(1, "loadBalancer", Emit, Msg(&CORE_V1_LOAD_BALANCER_STATUS)),
        f(2, "conditions", Rep, Msg(&META_V1_CONDITION)),
    ],
};

pub static CORE_V1_ENDPOINT_SUBSET: Message = Message {
    name: "core.v1.EndpointSubset",
    fields: &[
        f(1, "addresses", Rep, Msg(&CORE_V1_ENDPOINT_ADDRESS)),
        f(2, "notReadyAddresses", Rep, Msg(&CORE_V1_ENDPOINT_ADDRESS)),
        f(3, "ports", Rep, Msg(&CORE_V1_ENDPOINT_PORT)),
    ],
};

pub static CORE_V1_LOCAL_OBJECT_REFERENCE: Message = Message {
    name: "core.v1.LocalObjectReference",
    fields: &[f(1, "name", Omit, Str)],
};

pub static CORE_V1_PERSISTENT_VOLUME_CLAIM_SPEC: Message = Message {
    name: "core.v1.PersistentVolumeClaimSpec",
    fields: &[
        f(1, "accessModes", Rep, Str),
        f(
            2,
            "resources",
            Emit,
            Msg(&CORE_V1_VOLUME_RESOURCE_REQUIREMENTS),
        ),
        f(3, "volumeName", Omit, Str),
        f(4, "selector", Emit, Msg(&META_V1_LABEL_SELECTOR)),
        f(5, "storageClassName", Emit, Str),
        f(6, "volumeMode", Emit, Str),
        f(
            7,
            "dataSource",
            Emit,
            Msg(&CORE_V1_TYPED_LOCAL_OBJECT_REFERENCE),
        ),
        f(
            8,
            "dataSourceRef",
            Emit,
            Msg(&CORE_V1_TYPED_OBJECT_REFERENCE),
        ),
        f(9, "volumeAttributesClassName", Emit, Str),
    ],
};

pub static CORE_V1_PERSISTENT_VOLUME_CLAIM_STATUS: Message = Message {
    name: "core.v1.PersistentVolumeClaimStatus",
    fields: &[
        f(1, "phase", Omit, Str),
        f(2, "accessModes", Rep, Str),
        f(3, "capacity", Map, Quantity),
        f(
            4,
            "conditions",
            Rep,
            Msg(&CORE_V1_PERSISTENT_VOLUME_CLAIM_CONDITION),
        ),
        f(5, "allocatedResources", Map, Quantity),
        f(7, "allocatedResourceStatuses", Map, Str),
        f(8, "currentVolumeAttributesClassName", Emit, Str),
        f(
            9,
            "modifyVolumeStatus",
            Emit,
            Msg(&CORE_V1_MODIFY_VOLUME_STATUS),
        ),
    ],
};

pub static CORE_V1_RESOURCE_QUOTA_SPEC: Message = Message {
    name: "core.v1.ResourceQuotaSpec",
    fields: &[
        f(1, "hard", Map, Quantity),
        f(2, "scopes", Rep, Str),
        f(3, "scopeSelector", Emit, Msg(&CORE_V1_SCOPE_SELECTOR)),
    ],
};

pub static CORE_V1_RESOURCE_QUOTA_STATUS: Message = Message {
    name: "core.v1.ResourceQuotaStatus",
    fields: &[f(1, "hard", Map, Quantity), f(2, "used", Map, Quantity)],
};

pub static CORE_V1_POD_TEMPLATE_SPEC: Message = Message {
    name: "core.v1.PodTemplateSpec",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "spec", Emit, Msg(&CORE_V1_POD_SPEC)),
    ],
};

pub static META_V1_PRECONDITIONS: Message = Message {
    name: "meta.v1.Preconditions",
    fields: &[f(1, "uid", Emit, Str), f(2, "resourceVersion", Emit, Str)],
};

pub static APPS_V1_REPLICA_SET_SPEC: Message = Message {
    name: "apps.v1.ReplicaSetSpec",
    fields: &[
        f(1, "replicas", Emit, I32),
        f(2, "selector", Emit, Msg(&META_V1_LABEL_SELECTOR)),
        f(3, "template", Emit, Msg(&CORE_V1_POD_TEMPLATE_SPEC)),
        f(4, "minReadySeconds", Omit, I32),
    ],
};

pub static APPS_V1_REPLICA_SET_STATUS: Message = Message {
    name: "apps.v1.ReplicaSetStatus",
    fields: &[
        f(1, "replicas", Emit, I32),
        f(2, "fullyLabeledReplicas", Omit, I32),
        f(3, "observedGeneration", Omit, I64),
        f(4, "readyReplicas", Omit, I32),
        f(5, "availableReplicas", Omit, I32),
        f(6, "conditions", Rep, Msg(&APPS_V1_REPLICA_SET_CONDITION)),
        f(7, "terminatingReplicas", Emit, I32),
    ],
};

pub static APPS_V1_DEPLOYMENT_SPEC: Message = Message {
    name: "apps.v1.DeploymentSpec",
    fields: &[
        f(1, "replicas", Emit, I32),
        f(2, "selector", Emit, Msg(&META_V1_LABEL_SELECTOR)),
        f(3, "template", Emit, Msg(&CORE_V1_POD_TEMPLATE_SPEC)),
        f(4, "strategy", Emit, Msg(&APPS_V1_DEPLOYMENT_STRATEGY)),
        f(5, "minReadySeconds", Omit, I32),
        f(6, "revisionHistoryLimit", Emit, I32),
        f(7, "paused", Omit, Bool),
        f(9, "progressDeadlineSeconds", Emit, I32),
    ],
};

pub static APPS_V1_DEPLOYMENT_STATUS: Message = Message {
    name: "apps.v1.DeploymentStatus",
    fields: &[
        f(1, "observedGeneration", Omit, I64),
        f(2, "replicas", Omit, I32),
        f(3, "updatedReplicas", Omit, I32),
        f(4, "availableReplicas", Omit, I32),
        f(5, "unavailableReplicas", Omit, I32),
        f(6, "conditions", Rep, Msg(&APPS_V1_DEPLOYMENT_CONDITION)),
        f(7, "readyReplicas", Omit, I32),
        f(8, "collisionCount", Emit, I32),
        f(9, "terminatingReplicas", Emit, I32),
    ],
};

pub static APPS_V1_DAEMON_SET_SPEC: Message = Message {
    name: "apps.v1.DaemonSetSpec",
    fields: &[
        f(1, "selector", Emit, Msg(&META_V1_LABEL_SELECTOR)),
        f(2, "template", Emit, Msg(&CORE_V1_POD_TEMPLATE_SPEC)),
        f(
            3,
            "updateStrategy",
            Emit,
            Msg(&APPS_V1_DAEMON_SET_UPDATE_STRATEGY),
        ),
        f(4, "minReadySeconds", Omit, I32),
        f(6, "revisionHistoryLimit", Emit, I32),
    ],
};

pub static APPS_V1_DAEMON_SET_STATUS: Message = Message {
    name: "apps.v1.DaemonSetStatus",
    fields: &[
        f(1, "currentNumberScheduled", Emit, I32),
        f(2, "numberMisscheduled", Emit, I32),
        f(3, "desiredNumberScheduled", Emit, I32),
        f(4, "numberReady", Emit, I32),
        f(5, "observedGeneration", Omit, I64),
        f(6, "updatedNumberScheduled", Omit, I32),
        f(7, "numberAvailable", Omit, I32),
        f(8, "numberUnavailable", Omit, I32),
        f(9, "collisionCount", Emit, I32),
        f(10, "conditions", Rep, Msg(&APPS_V1_DAEMON_SET_CONDITION)),
    ],
};

pub static APPS_V1_STATEFUL_SET_SPEC: Message = Message {
    name: "apps.v1.StatefulSetSpec",
    fields: &[
        f(1, "replicas", Emit, I32),
        f(2, "selector", Emit, Msg(&META_V1_LABEL_SELECTOR)),
        f(3, "template", Emit, Msg(&CORE_V1_POD_TEMPLATE_SPEC)),
        f(
            4,
            "volumeClaimTemplates",
            Rep,
            Msg(&CORE_V1_PERSISTENT_VOLUME_CLAIM),
        ),
        f(5, "serviceName", Emit, Str),
        f(6, "podManagementPolicy", Omit, Str),
        f(
            7,
            "updateStrategy",
            Emit,
            Msg(&APPS_V1_STATEFUL_SET_UPDATE_STRATEGY),
        ),
        f(8, "revisionHistoryLimit", Emit, I32),
        f(9, "minReadySeconds", Omit, I32),
        f(
            10,
            "persistentVolumeClaimRetentionPolicy",
            Emit,
            Msg(&APPS_V1_STATEFUL_SET_PERSISTENT_VOLUME_CLAIM_RETENTION_POLICY),
        ),
        f(11, "ordinals", Emit, Msg(&APPS_V1_STATEFUL_SET_ORDINALS)),
    ],
};

pub static APPS_V1_STATEFUL_SET_STATUS: Message = Message {
    name: "apps.v1.StatefulSetStatus",
    fields: &[
        f(1, "observedGeneration", Omit, I64),
        f(2, "replicas", Emit, I32),
        f(3, "readyReplicas", Omit, I32),
        f(4, "currentReplicas", Omit, I32),
        f(5, "updatedReplicas", Omit, I32),
        f(6, "currentRevision", Omit, Str),
        f(7, "updateRevision", Omit, Str),
        f(9, "collisionCount", Emit, I32),
        f(10, "conditions", Rep, Msg(&APPS_V1_STATEFUL_SET_CONDITION)),
        f(11, "availableReplicas", Emit, I32),
    ],
};

pub static BATCH_V1_JOB_SPEC: Message = Message {
    name: "batch.v1.JobSpec",
    fields: &[
        f(1, "parallelism", Emit, I32),
        f(2, "completions", Emit, I32),
        f(3, "activeDeadlineSeconds", Emit, I64),
        f(4, "selector", Emit, Msg(&META_V1_LABEL_SELECTOR)),
        f(5, "manualSelector", Emit, Bool),
        f(6, "template", Emit, Msg(&CORE_V1_POD_TEMPLATE_SPEC)),
        f(7, "backoffLimit", Emit, I32),
        f(8, "ttlSecondsAfterFinished", Emit, I32),
        f(9, "completionMode", Emit, Str),
        f(10, "suspend", Emit, Bool),
        f(
            11,
            "podFailurePolicy",
            Emit,
            Msg(&BATCH_V1_POD_FAILURE_POLICY),
        ),
        f(12, "backoffLimitPerIndex", Emit, I32),
        f(13, "maxFailedIndexes", Emit, I32),
        f(14, "podReplacementPolicy", Emit, Str),
        f(15, "managedBy", Emit, Str),
        f(16, "successPolicy", Emit, Msg(&BATCH_V1_SUCCESS_POLICY)),
    ],
};

pub static BATCH_V1_JOB_STATUS: Message = Message {
    name: "batch.v1.JobStatus",
    fields: &[
        f(1, "conditions", Rep, Msg(&BATCH_V1_JOB_CONDITION)),
        f(2, "startTime", Emit, Time),
        f(3, "completionTime", Emit, Time),
        f(4, "active", Omit, I32),
        f(5, "succeeded", Omit, I32),
        f(6, "failed", Omit, I32),
        f(7, "completedIndexes", Omit, Str),
        f(
            8,
            "uncountedTerminatedPods",
            Emit,
            Msg(&BATCH_V1_UNCOUNTED_TERMINATED_PODS),
        ),
        f(9, "ready", Emit, I32),
        f(10, "failedIndexes", Emit, Str),
        f(11, "terminating", Emit, I32),
    ],
};

pub static BATCH_V1_CRON_JOB_SPEC: Message = Message {
    name: "batch.v1.CronJobSpec",
    fields: &[
        f(1, "schedule", Emit, Str),
        f(2, "startingDeadlineSeconds", Emit, I64),
        f(3, "concurrencyPolicy", Omit, Str),
        f(4, "suspend", Emit, Bool),
        f(5, "jobTemplate", Emit, Msg(&BATCH_V1_JOB_TEMPLATE_SPEC)),
        f(6, "successfulJobsHistoryLimit", Emit, I32),
        f(7, "failedJobsHistoryLimit", Emit, I32),
        f(8, "timeZone", Emit, Str),
    ],
};

pub static BATCH_V1_CRON_JOB_STATUS: Message = Message {
    name: "batch.v1.CronJobStatus",
    fields: &[
        f(1, "active", Rep, Msg(&CORE_V1_OBJECT_REFERENCE)),
        f(4, "lastScheduleTime", Emit, Time),
        f(5, "lastSuccessfulTime", Emit, Time),
    ],
};

pub static AUTOSCALING_V1_SCALE_SPEC: Message = Message {
    name: "autoscaling.v1.ScaleSpec",
    fields: &[f(1, "replicas", Omit, I32)],
};

pub static AUTOSCALING_V1_SCALE_STATUS: Message = Message {
    name: "autoscaling.v1.ScaleStatus",
    fields: &[f(1, "replicas", Emit, I32), f(2, "selector", Omit, Str)],
};

pub static META_V1_OWNER_REFERENCE: Message = Message {
    name: "meta.v1.OwnerReference",
    fields: &[
        f(1, "kind", Emit, Str),
        f(3, "name", Emit, Str),
        f(4, "uid", Emit, Str),
        f(5, "apiVersion", Emit, Str),
        f(6, "controller", Emit, Bool),
        f(7, "blockOwnerDeletion", Emit, Bool),
    ],
};

pub static META_V1_MANAGED_FIELDS_ENTRY: Message = Message {
    name: "meta.v1.ManagedFieldsEntry",
    fields: &[
        f(1, "manager", Omit, Str),
        f(2, "operation", Omit, Str),
        f(3, "apiVersion", Omit, Str),
        f(4, "time", Emit, Time),
        f(6, "fieldsType", Omit, Str),
        f(7, "fieldsV1", Emit, Raw),
        f(8, "subresource", Omit, Str),
    ],
};

pub static CORE_V1_NAMESPACE_CONDITION: Message = Message {
    name: "core.v1.NamespaceCondition",
    fields: &[
        f(1, "type", Emit, Str),
        f(2, "status", Emit, Str),
        f(4, "lastTransitionTime", Emit, Time),
        f(5, "reason", Omit, Str),
        f(6, "message", Omit, Str),
    ],
};

pub static CORE_V1_TAINT: Message = Message {
    name: "core.v1.Taint",
    fields: &[
        f(1, "key", Emit, Str),
        f(2, "value", Omit, Str),
        f(3, "effect", Emit, Str),
        f(4, "timeAdded", Emit, Time),
    ],
};

pub static CORE_V1_NODE_CONFIG_SOURCE: Message = Message {
    name: "core.v1.NodeConfigSource",
    fields: &[f(
        2,
        "configMap",
        Emit,
        Msg(&CORE_V1_CONFIG_MAP_NODE_CONFIG_SOURCE),
    )],
};

pub static CORE_V1_NODE_CONDITION: Message = Message {
    name: "core.v1.NodeCondition",
    fields: &[
        f(1, "type", Emit, Str),
        f(2, "status", Emit, Str),
        f(3, "lastHeartbeatTime", Emit, Time),
        f(4, "lastTransitionTime", Emit, Time),
        f(5, "reason", Omit, Str),
        f(6, "message", Omit, Str),
    ],
};

pub static CORE_V1_NODE_ADDRESS: Message = Message {
    name: "core.v1.NodeAddress",
    fields: &[f(1, "type", Emit, Str), f(2, "address", Emit, Str)],
};

pub static CORE_V1_NODE_DAEMON_ENDPOINTS: Message = Message {
    name: "core.v1.NodeDaemonEndpoints",
    fields: &[f(1, "kubeletEndpoint", Emit, Msg(&CORE_V1_DAEMON_ENDPOINT))],
};

pub static CORE_V1_NODE_SYSTEM_INFO: Message = Message {
    name: "core.v1.NodeSystemInfo",
    fields: &[
        f(1, "machineID", Emit, Str),
        f(2, "systemUUID", Emit, Str),
        f(3, "bootID", Emit, Str),
        f(4, "kernelVersion", Emit, Str),
        f(5, "osImage", Emit, Str),
        f(6, "containerRuntimeVersion", Emit, Str),
        f(7, "kubeletVersion", Emit, Str),
        f(8, "kubeProxyVersion", Emit, Str),
        f(9, "operatingSystem", Emit, Str),
        f(10, "architecture", Emit, Str),
        f(11, "swap", Emit, Msg(&CORE_V1_NODE_SWAP_STATUS)),
    ],
};

pub static CORE_V1_CONTAINER_IMAGE: Message = Message {
    name: "core.v1.ContainerImage",
    fields: &[f(1, "names", Rep, Str), f(2, "sizeBytes", Omit, I64)],
};

pub static CORE_V1_ATTACHED_VOLUME: Message = Message {
    name: "core.v1.AttachedVolume",
    fields: &[f(1, "name", Emit, Str), f(2, "devicePath", Emit, Str)],
};

pub static CORE_V1_NODE_CONFIG_STATUS: Message = Message {
    name: "core.v1.NodeConfigStatus",
    fields: &[
        f(1, "assigned", Emit, Msg(&CORE_V1_NODE_CONFIG_SOURCE)),
        f(2, "active", Emit, Msg(&CORE_V1_NODE_CONFIG_SOURCE)),
        f(3, "lastKnownGood", Emit, Msg(&CORE_V1_NODE_CONFIG_SOURCE)),
        f(4, "error", Omit, Str),
    ],
};

pub static CORE_V1_NODE_RUNTIME_HANDLER: Message = Message {
    name: "core.v1.NodeRuntimeHandler",
    fields: &[
        f(1, "name", Emit, Str),
        f(
            2,
            "features",
            Emit,
            Msg(&CORE_V1_NODE_RUNTIME_HANDLER_FEATURES),
        ),
    ],
};

pub static CORE_V1_NODE_FEATURES: Message = Message {
    name: "core.v1.NodeFeatures",
    fields: &[f(1, "supplementalGroupsPolicy", Emit, Bool)],
};

pub static CORE_V1_VOLUME: Message = Message {
    name: "core.v1.Volume",
    fields: &[
        f(1, "name", Emit, Str),
        f(2, "volumeSource", Inline, Msg(&CORE_V1_VOLUME_SOURCE)),
    ],
};

pub static CORE_V1_CONTAINER: Message = Message {
    name: "core.v1.Container",
    fields: &[
        f(1, "name", Emit, Str),
        f(2, "image", Omit, Str),
        f(3, "command", Rep, Str),
        f(4, "args", Rep, Str),
        f(5, "workingDir", Omit, Str),
        f(6, "ports", Rep, Msg(&CORE_V1_CONTAINER_PORT)),
        f(7, "env", Rep, Msg(&CORE_V1_ENV_VAR)),
        f(8, "resources", Emit, Msg(&CORE_V1_RESOURCE_REQUIREMENTS)),
        f(9, "volumeMounts", Rep, Msg(&CORE_V1_VOLUME_MOUNT)),
        f(10, "livenessProbe", Emit, Msg(&CORE_V1_PROBE)),
        f(11, "readinessProbe", Emit, Msg(&CORE_V1_PROBE)),
        f(12, "lifecycle", Emit, Msg(&CORE_V1_LIFECYCLE)),
        f(13, "terminationMessagePath", Omit, Str),
        f(14, "imagePullPolicy", Omit, Str),
        f(15, "securityContext", Emit, Msg(&CORE_V1_SECURITY_CONTEXT)),
        f(16, "stdin", Omit, Bool),
        f(17, "stdinOnce", Omit, Bool),
        f(18, "tty", Omit, Bool),
        f(19, "envFrom", Rep, Msg(&CORE_V1_ENV_FROM_SOURCE)),
        f(20, "terminationMessagePolicy", Omit, Str),
        f(21, "volumeDevices", Rep, Msg(&CORE_V1_VOLUME_DEVICE)),
        f(22, "startupProbe", Emit, Msg(&CORE_V1_PROBE)),
        f(
            23,
            "resizePolicy",
            Rep,
            Msg(&CORE_V1_CONTAINER_RESIZE_POLICY),
        ),
        f(24, "restartPolicy", Emit, Str),
    ],
};

pub static CORE_V1_EPHEMERAL_CONTAINER: Message = Message {
    name: "core.v1.EphemeralContainer",
    fields: &[
        f(
            1,
            "ephemeral_container_common",
            Inline,
            Msg(&CORE_V1_EPHEMERAL_CONTAINER_COMMON),
        ),
        f(2, "targetContainerName", Omit, Str),
    ],
};

pub static CORE_V1_POD_SECURITY_CONTEXT: Message = Message {
    name: "core.v1.PodSecurityContext",
    fields: &[
        f(1, "seLinuxOptions", Emit, Msg(&CORE_V1_SELINUX_OPTIONS)),
        f(2, "runAsUser", Emit, I64),
        f(3, "runAsNonRoot", Emit, Bool),
        f(4, "supplementalGroups", Rep, I64),
        f(5, "fsGroup", Emit, I64),
        f(6, "runAsGroup", Emit, I64),
        f(7, "sysctls", Rep, Msg(&CORE_V1_SYSCTL)),
        f(
            8,
            "windowsOptions",
            Emit,
            Msg(&CORE_V1_WINDOWS_SECURITY_CONTEXT_OPTIONS),
        ),
        f(9, "fsGroupChangePolicy", Emit, Str),
        f(10, "seccompProfile", Emit, Msg(&CORE_V1_SECCOMP_PROFILE)),
        f(11, "appArmorProfile", Emit, Msg(&CORE_V1_APP_ARMOR_PROFILE)),
        f(12, "supplementalGroupsPolicy", Emit, Str),
        f(13, "seLinuxChangePolicy", Emit, Str),
    ],
};

pub static CORE_V1_AFFINITY: Message = Message {
    name: "core.v1.Affinity",
    fields: &[
        f(1, "nodeAffinity", Emit, Msg(&CORE_V1_NODE_AFFINITY)),
        f(2, "podAffinity", Emit, Msg(&CORE_V1_POD_AFFINITY)),
        f(3, "podAntiAffinity", Emit, Msg(&CORE_V1_POD_ANTI_AFFINITY)),
    ],
};

pub static CORE_V1_TOLERATION: Message = Message {
    name: "core.v1.Toleration",
    fields: &[
        f(1, "key", Omit, Str),
        f(2, "operator", Omit, Str),
        f(3, "value", Omit, Str),
        f(4, "effect", Omit, Str),
        f(5, "tolerationSeconds", Emit, I64),
    ],
};

pub static CORE_V1_HOST_ALIAS: Message = Message {
    name: "core.v1.HostAlias",
    fields: &[f(1, "ip", Emit, Str), f(2, "hostnames", Rep, Str)],
};

pub static CORE_V1_POD_DNSCONFIG: Message = Message {
    name: "core.v1.PodDNSConfig",
    fields: &[
        f(1, "nameservers", Rep, Str),
        f(2, "searches", Rep, Str),
        f(3, "options", Rep, Msg(&CORE_V1_POD_DNSCONFIG_OPTION)),
    ],
};

pub static CORE_V1_POD_READINESS_GATE: Message = Message {
    name: "core.v1.PodReadinessGate",
    fields: &[f(1, "conditionType", Emit, Str)],
};

pub static CORE_V1_TOPOLOGY_SPREAD_CONSTRAINT: Message = Message {
    name: "core.v1.TopologySpreadConstraint",
    fields: &[
        f(1, "maxSkew", Emit, I32),
        f(2, "topologyKey", Emit, Str),
        f(3, "whenUnsatisfiable", Emit, Str),
        f(4, "labelSelector", Emit, Msg(&META_V1_LABEL_SELECTOR)),
        f(5, "minDomains", Emit, I32),
        f(6, "nodeAffinityPolicy", Emit, Str),
        f(7, "nodeTaintsPolicy", Emit, Str),
        f(8, "matchLabelKeys", Rep, Str),
    ],
};

pub static CORE_V1_POD_OS: Message = Message {
    name: "core.v1.PodOS",
    fields: &[f(1, "name", Emit, Str)],
};

pub static CORE_V1_POD_SCHEDULING_GATE: Message = Message {
    name: "core.v1.PodSchedulingGate",
    fields: &[f(1, "name", Emit, Str)],
};

pub static CORE_V1_POD_RESOURCE_CLAIM: Message = Message {
    name: "core.v1.PodResourceClaim",
    fields: &[
        f(1, "name", Emit, Str),
        f(3, "resourceClaimName", Emit, Str),
        f(4, "resourceClaimTemplateName", Emit, Str),
    ],
};

pub static CORE_V1_RESOURCE_REQUIREMENTS: Message = Message {
    name: "core.v1.ResourceRequirements",
    fields: &[
        f(1, "limits", Map, Quantity),
        f(2, "requests", Map, Quantity),
        f(3, "claims", Rep, Msg(&CORE_V1_RESOURCE_CLAIM)),
    ],
};

pub static CORE_V1_POD_CONDITION: Message = Message {
    name: "core.v1.PodCondition",
    fields: &[
        f(1, "type", Emit, Str),
        f(2, "status", Emit, Str),
        f(3, "lastProbeTime", Emit, Time),
        f(4, "lastTransitionTime", Emit, Time),
        f(5, "reason", Omit, Str),
        f(6, "message", Omit, Str),
        f(7, "observedGeneration", Omit, I64),
    ],
};

pub static CORE_V1_HOST_IP: Message = Message {
    name: "core.v1.HostIP",
    fields: &[f(1, "ip", Emit, Str)],
};

pub static CORE_V1_POD_IP: Message = Message {
    name: "core.v1.PodIP",
    fields: &[f(1, "ip", Emit, Str)],
};

pub static CORE_V1_CONTAINER_STATUS: Message = Message {
    name: "core.v1.ContainerStatus",
    fields: &[
        f(1, "name", Emit, Str),
        f(2, "state", Emit, Msg(&CORE_V1_CONTAINER_STATE)),
        f(3, "lastState", Emit, Msg(&CORE_V1_CONTAINER_STATE)),
        f(4, "ready", Emit, Bool),
        f(5, "restartCount", Emit, I32),
        f(6, "image", Emit, Str),
        f(7, "imageID", Emit, Str),
        f(8, "containerID", Omit, Str),
        f(9, "started", Emit, Bool),
        f(10, "allocatedResources", Map, Quantity),
        f(11, "resources", Emit, Msg(&CORE_V1_RESOURCE_REQUIREMENTS)),
        f(12, "volumeMounts", Rep, Msg(&CORE_V1_VOLUME_MOUNT_STATUS)),
        f(13, "user", Emit, Msg(&CORE_V1_CONTAINER_USER)),
        f(
            14,
            "allocatedResourcesStatus",
            Rep,
            Msg(&CORE_V1_RESOURCE_STATUS),
        ),
        f(15, "stopSignal", Emit, Str),
    ],
};

pub static CORE_V1_POD_RESOURCE_CLAIM_STATUS: Message = Message {
    name: "core.v1.PodResourceClaimStatus",
    fields: &[
        f(1, "name", Emit, Str),
        f(2, "resourceClaimName", Emit, Str),
    ],
};

pub static CORE_V1_REPLICATION_CONTROLLER_CONDITION: Message = Message {
    name: "core.v1.ReplicationControllerCondition",
    fields: &[
        f(1, "type", Emit, Str),
        f(2, "status", Emit, Str),
        f(3, "lastTransitionTime", Emit, Time),
        f(4, "reason", Omit, Str),
        f(5, "message", Omit, Str),
    ],
};

pub static CORE_V1_SERVICE_PORT: Message = Message {
    name: "core.v1.ServicePort",
    fields: &[
        f(1, "name", Omit, Str),
        f(2, "protocol", Omit, Str),
        f(3, "port", Emit, I32),
        f(4, "targetPort", Emit, IntOrString),
        f(5, "nodePort", Omit, I32),
        f(6, "appProtocol", Emit, Str),
    ],
};

pub static CORE_V1_SESSION_AFFINITY_CONFIG: Message = Message {
    name: "core.v1.SessionAffinityConfig",
    fields: &[f(1, "clientIP", Emit, Msg(&CORE_V1_CLIENT_IPCONFIG))],
};

pub static CORE_V1_LOAD_BALANCER_STATUS: Message = Message {
    name: "core.v1.LoadBalancerStatus",
    fields: &[f(1, "ingress", Rep, Msg(&CORE_V1_LOAD_BALANCER_INGRESS))],
};

pub static META_V1_CONDITION: Message = Message {
    name: "meta.v1.Condition",
    fields: &[
        f(1, "type", Emit, Str),
        f(2, "status", Emit, Str),
        f(3, "observedGeneration", Omit, I64),
        f(4, "lastTransitionTime", Emit, Time),
        f(5, "reason", Emit, Str),
        f(6, "message", Emit, Str),
    ],
};

pub static CORE_V1_ENDPOINT_ADDRESS: Message = Message {
    name: "core.v1.EndpointAddress",
    fields: &[
        f(1, "ip", Emit, Str),
        f(2, "targetRef", Emit, Msg(&CORE_V1_OBJECT_REFERENCE)),
        f(3, "hostname", Omit, Str),
        f(4, "nodeName", Emit, Str),
    ],
};

pub static CORE_V1_ENDPOINT_PORT: Message = Message {
    name: "core.v1.EndpointPort",
    fields: &[
        f(1, "name", Omit, Str),
        f(2, "port", Emit, I32),
        f(3, "protocol", Omit, Str),
        f(4, "appProtocol", Emit, Str),
    ],
};

pub static META_V1_LABEL_SELECTOR: Message = Message {
    name: "meta.v1.LabelSelector",
    fields: &[
        f(1, "matchLabels", Map, Str),
        f(
            2,
            "matchExpressions",
            Rep,
            Msg(&META_V1_LABEL_SELECTOR_REQUIREMENT),
        ),
    ],
};

pub static CORE_V1_VOLUME_RESOURCE_REQUIREMENTS: Message = Message {
    name: "core.v1.VolumeResourceRequirements",
    fields: &[
        f(1, "limits", Map, Quantity),
        f(2, "requests", Map, Quantity),
    ],
};

pub static CORE_V1_TYPED_LOCAL_OBJECT_REFERENCE: Message = Message {
    name: "core.v1.TypedLocalObjectReference",
    fields: &[
        f(1, "apiGroup", Emit, Str),
        f(2, "kind", Emit, Str),
        f(3, "name", Emit, Str),
    ],
};

pub static CORE_V1_TYPED_OBJECT_REFERENCE: Message = Message {
    name: "core.v1.TypedObjectReference",
    fields: &[
        f(1, "apiGroup", Emit, Str),
        f(2, "kind", Emit, Str),
        f(3, "name", Emit, Str),
        f(4, "namespace", Emit, Str),
    ],
};

pub static CORE_V1_PERSISTENT_VOLUME_CLAIM_CONDITION: Message = Message {
    name: "core.v1.PersistentVolumeClaimCondition",
    fields: &[
        f(1, "type", Emit, Str),
        f(2, "status", Emit, Str),
        f(3, "lastProbeTime", Emit, Time),
        f(4, "lastTransitionTime", Emit, Time),
        f(5, "reason", Omit, Str),
        f(6, "message", Omit, Str),
    ],
};

pub static CORE_V1_MODIFY_VOLUME_STATUS: Message = Message {
    name: "core.v1.ModifyVolumeStatus",
    fields: &[
        f(1, "targetVolumeAttributesClassName", Omit, Str),
        f(2, "status", Emit, Str),
    ],
};

pub static CORE_V1_SCOPE_SELECTOR: Message = Message {
    name: "core.v1.ScopeSelector",
    fields: &[f(
        1,
        "matchExpressions",
        Rep,
        Msg(&CORE_V1_SCOPED_RESOURCE_SELECTOR_REQUIREMENT),
    )],
};

pub static APPS_V1_REPLICA_SET_CONDITION: Message = Message {
    name: "apps.v1.ReplicaSetCondition",
    fields: &[
        f(1, "type", Emit, Str),
        f(2, "status", Emit, Str),
        f(3, "lastTransitionTime", Emit, Time),
        f(4, "reason", Omit, Str),
        f(5, "message", Omit, Str),
    ],
};

pub static APPS_V1_DEPLOYMENT_STRATEGY: Message = Message {
    name: "apps.v1.DeploymentStrategy",
    fields: &[
        f(1, "type", Omit, Str),
        f(
            2,
            "rollingUpdate",
            Emit,
            Msg(&APPS_V1_ROLLING_UPDATE_DEPLOYMENT),
        ),
    ],
};

pub static APPS_V1_DEPLOYMENT_CONDITION: Message = Message {
    name: "apps.v1.DeploymentCondition",
    fields: &[
        f(1, "type", Emit, Str),
        f(2, "status", Emit, Str),
        f(4, "reason", Omit, Str),
        f(5, "message", Omit, Str),
        f(6, "lastUpdateTime", Emit, Time),
        f(7, "lastTransitionTime", Emit, Time),
    ],
};

pub static APPS_V1_DAEMON_SET_UPDATE_STRATEGY: Message = Message {
    name: "apps.v1.DaemonSetUpdateStrategy",
    fields: &[
        f(1, "type", Omit, Str),
        f(
            2,
            "rollingUpdate",
            Emit,
            Msg(&APPS_V1_ROLLING_UPDATE_DAEMON_SET),
        ),
    ],
};

pub static APPS_V1_DAEMON_SET_CONDITION: Message = Message {
    name: "apps.v1.DaemonSetCondition",
    fields: &[
        f(1, "type", Emit, Str),
        f(2, "status", Emit, Str),
        f(3, "lastTransitionTime", Emit, Time),
        f(4, "reason", Omit, Str),
        f(5, "message", Omit, Str),
    ],
};

pub static APPS_V1_STATEFUL_SET_UPDATE_STRATEGY: Message = Message {
    name: "apps.v1.StatefulSetUpdateStrategy",
    fields: &[
        f(1, "type", Omit, Str),
        f(
            2,
            "rollingUpdate",
            Emit,
            Msg(&APPS_V1_ROLLING_UPDATE_STATEFUL_SET_STRATEGY),
        ),
    ],
};

pub static APPS_V1_STATEFUL_SET_PERSISTENT_VOLUME_CLAIM_RETENTION_POLICY: Message = Message {
    name: "apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicy",
    fields: &[
        f(1, "whenDeleted", Omit, Str),
        f(2, "whenScaled", Omit, Str),
    ],
};

pub static APPS_V1_STATEFUL_SET_ORDINALS: Message = Message {
    name: "apps.v1.StatefulSetOrdinals",
    fields: &[f(1, "start", Emit, I32)],
};

pub static APPS_V1_STATEFUL_SET_CONDITION: Message = Message {
    name: "apps.v1.StatefulSetCondition",
    fields: &[
        f(1, "type", Emit, Str),
        f(2, "status", Emit, Str),
        f(3, "lastTransitionTime", Emit, Time),
        f(4, "reason", Omit, Str),
        f(5, "message", Omit, Str),
    ],
};

pub static BATCH_V1_POD_FAILURE_POLICY: Message = Message {
    name: "batch.v1.PodFailurePolicy",
    fields: &[f(1, "rules", Rep, Msg(&BATCH_V1_POD_FAILURE_POLICY_RULE))],
};

pub static BATCH_V1_SUCCESS_POLICY: Message = Message {
    name: "batch.v1.SuccessPolicy",
    fields: &[f(1, "rules", Rep, Msg(&BATCH_V1_SUCCESS_POLICY_RULE))],
};

pub static BATCH_V1_JOB_CONDITION: Message = Message {
    name: "batch.v1.JobCondition",
    fields: &[
        f(1, "type", Emit, Str),
        f(2, "status", Emit, Str),
        f(3, "lastProbeTime", Emit, Time),
        f(4, "lastTransitionTime", Emit, Time),
        f(5, "reason", Omit, Str),
        f(6, "message", Omit, Str),
    ],
};

pub static BATCH_V1_UNCOUNTED_TERMINATED_PODS: Message = Message {
    name: "batch.v1.UncountedTerminatedPods",
    fields: &[f(1, "succeeded", Rep, Str), f(2, "failed", Rep, Str)],
};

pub static BATCH_V1_JOB_TEMPLATE_SPEC: Message = Message {
    name: "batch.v1.JobTemplateSpec",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "spec", Emit, Msg(&BATCH_V1_JOB_SPEC)),
    ],
};

pub static CORE_V1_CONFIG_MAP_NODE_CONFIG_SOURCE: Message = Message {
    name: "core.v1.ConfigMapNodeConfigSource",
    fields: &[
        f(1, "namespace", Emit, Str),
        f(2, "name", Emit, Str),
        f(3, "uid", Omit, Str),
        f(4, "resourceVersion", Omit, Str),
        f(5, "kubeletConfigKey", Emit, Str),
    ],
};

pub static CORE_V1_DAEMON_ENDPOINT: Message = Message {
    name: "core.v1.DaemonEndpoint",
    fields: &[f(1, "Port", Emit, I32)],
};

pub static CORE_V1_NODE_SWAP_STATUS: Message = Message {
    name: "core.v1.NodeSwapStatus",
    fields: &[f(1, "capacity", Emit, I64)],
};

pub static CORE_V1_NODE_RUNTIME_HANDLER_FEATURES: Message = Message {
    name: "core.v1.NodeRuntimeHandlerFeatures",
    fields: &[
        f(1, "recursiveReadOnlyMounts", Emit, Bool),
        f(2, "userNamespaces", Emit, Bool),
    ],
};

pub static CORE_V1_VOLUME_SOURCE: Message = Message {
    name: "core.v1.VolumeSource",
    fields: &[
        f(1, "hostPath", Emit, Msg(&CORE_V1_HOST_PATH_VOLUME_SOURCE)),
        f(2, "emptyDir", Emit, Msg(&CORE_V1_EMPTY_DIR_VOLUME_SOURCE)),
        f(
            3,
            "gcePersistentDisk",
            Emit,
            Msg(&CORE_V1_GCEPERSISTENT_DISK_VOLUME_SOURCE),
        ),
        f(
            4,
            "awsElasticBlockStore",
            Emit,
            Msg(&CORE_V1_AWSELASTIC_BLOCK_STORE_VOLUME_SOURCE),
        ),
        f(5, "gitRepo", Emit, Msg(&CORE_V1_GIT_REPO_VOLUME_SOURCE)),
        f(6, "secret", Emit, Msg(&CORE_V1_SECRET_VOLUME_SOURCE)),
        f(7, "nfs", Emit, Msg(&CORE_V1_NFSVOLUME_SOURCE)),
        f(8, "iscsi", Emit, Msg(&CORE_V1_ISCSIVOLUME_SOURCE)),
        f(9, "glusterfs", Emit, Msg(&CORE_V1_GLUSTERFS_VOLUME_SOURCE)),
        f(
            10,
            "persistentVolumeClaim",
            Emit,
            Msg(&CORE_V1_PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE),
        ),
        f(11, "rbd", Emit, Msg(&CORE_V1_RBDVOLUME_SOURCE)),
        f(12, "flexVolume", Emit, Msg(&CORE_V1_FLEX_VOLUME_SOURCE)),
        f(13, "cinder", Emit, Msg(&CORE_V1_CINDER_VOLUME_SOURCE)),
        f(14, "cephfs", Emit, Msg(&CORE_V1_CEPH_FSVOLUME_SOURCE)),
        f(15, "flocker", Emit, Msg(&CORE_V1_FLOCKER_VOLUME_SOURCE)),
        f(
            16,
            "downwardAPI",
            Emit,
            Msg(&CORE_V1_DOWNWARD_APIVOLUME_SOURCE),
        ),
        f(17, "fc", Emit, Msg(&CORE_V1_FCVOLUME_SOURCE)),
        f(
            18,
            "azureFile",
            Emit,
            Msg(&CORE_V1_AZURE_FILE_VOLUME_SOURCE),
        ),
        f(
            19,
            "configMap",
            Emit,
            Msg(&CORE_V1_CONFIG_MAP_VOLUME_SOURCE),
        ),
        f(
            20,
            "vsphereVolume",
            Emit,
            Msg(&CORE_V1_VSPHERE_VIRTUAL_DISK_VOLUME_SOURCE),
        ),
        f(21, "quobyte", Emit, Msg(&CORE_V1_QUOBYTE_VOLUME_SOURCE)),
        f(
            22,
            "azureDisk",
            Emit,
            Msg(&CORE_V1_AZURE_DISK_VOLUME_SOURCE),
        ),
        f(
            23,
            "photonPersistentDisk",
            Emit,
            Msg(&CORE_V1_PHOTON_PERSISTENT_DISK_VOLUME_SOURCE),
        ),
        f(
            24,
            "portworxVolume",
            Emit,
            Msg(&CORE_V1_PORTWORX_VOLUME_SOURCE),
        ),
        f(25, "scaleIO", Emit, Msg(&CORE_V1_SCALE_IOVOLUME_SOURCE)),
        f(26, "projected", Emit, Msg(&CORE_V1_PROJECTED_VOLUME_SOURCE)),
        f(27, "storageos", Emit, Msg(&CORE_V1_STORAGE_OSVOLUME_SOURCE)),
        f(28, "csi", Emit, Msg(&CORE_V1_CSIVOLUME_SOURCE)),
        f(29, "ephemeral", Emit, Msg(&CORE_V1_EPHEMERAL_VOLUME_SOURCE)),
        f(30, "image", Emit, Msg(&CORE_V1_IMAGE_VOLUME_SOURCE)),
    ],
};

pub static CORE_V1_CONTAINER_PORT: Message = Message {
    name: "core.v1.ContainerPort",
    fields: &[
        f(1, "name", Omit, Str),
        f(2, "hostPort", Omit, I32),
        f(3, "containerPort", Emit, I32),
        f(4, "protocol", Omit, Str),
        f(5, "hostIP", Omit, Str),
    ],
};

pub static CORE_V1_ENV_FROM_SOURCE: Message = Message {
    name: "core.v1.EnvFromSource",
    fields: &[
        f(1, "prefix", Omit, Str),
        f(2, "configMapRef", Emit, Msg(&CORE_V1_CONFIG_MAP_ENV_SOURCE)),
        f(3, "secretRef", Emit, Msg(&CORE_V1_SECRET_ENV_SOURCE)),
    ],
};

pub static CORE_V1_ENV_VAR: Message = Message {
    name: "core.v1.EnvVar",
    fields: &[
        f(1, "name", Emit, Str),
        f(2, "value", Omit, Str),
        f(3, "valueFrom", Emit, Msg(&CORE_V1_ENV_VAR_SOURCE)),
    ],
};

pub static CORE_V1_CONTAINER_RESIZE_POLICY: Message = Message {
    name: "core.v1.ContainerResizePolicy",
    fields: &[
        f(1, "resourceName", Emit, Str),
        f(2, "restartPolicy", Emit, Str),
    ],
};

pub static CORE_V1_VOLUME_MOUNT: Message = Message {
    name: "core.v1.VolumeMount",
    fields: &[
        f(1, "name", Emit, Str),
        f(2, "readOnly", Omit, Bool),
        f(3, "mountPath", Emit, Str),
        f(4, "subPath", Omit, Str),
        f(5, "mountPropagation", Emit, Str),
        f(6, "subPathExpr", Omit, Str),
        f(7, "recursiveReadOnly", Emit, Str),
    ],
};

pub static CORE_V1_VOLUME_DEVICE: Message = Message {
    name: "core.v1.VolumeDevice",
    fields: &[f(1, "name", Emit, Str), f(2, "devicePath", Emit, Str)],
};

pub static CORE_V1_PROBE: Message = Message {
    name: "core.v1.Probe",
    fields: &[
        f(1, "handler", Inline, Msg(&CORE_V1_PROBE_HANDLER)),
        f(2, "initialDelaySeconds", Omit, I32),
        f(3, "timeoutSeconds", Omit, I32),
        f(4, "periodSeconds", Omit, I32),
        f(5, "successThreshold", Omit, I32),
        f(6, "failureThreshold", Omit, I32),
        f(7, "terminationGracePeriodSeconds", Emit, I64),
    ],
};

pub static CORE_V1_LIFECYCLE: Message = Message {
    name: "core.v1.Lifecycle",
    fields: &[
        f(1, "postStart", Emit, Msg(&CORE_V1_LIFECYCLE_HANDLER)),
        f(2, "preStop", Emit, Msg(&CORE_V1_LIFECYCLE_HANDLER)),
        f(3, "stopSignal", Emit, Str),
    ],
};

pub static CORE_V1_SECURITY_CONTEXT: Message = Message {
    name: "core.v1.SecurityContext",
    fields: &[
        f(1, "capabilities", Emit, Msg(&CORE_V1_CAPABILITIES)),
        f(2, "privileged", Emit, Bool),
        f(3, "seLinuxOptions", Emit, Msg(&CORE_V1_SELINUX_OPTIONS)),
        f(4, "runAsUser", Emit, I64),
        f(5, "runAsNonRoot", Emit, Bool),
        f(6, "readOnlyRootFilesystem", Emit, Bool),
        f(7, "allowPrivilegeEscalation", Emit, Bool),
        f(8, "runAsGroup", Emit, I64),
        f(9, "procMount", Emit, Str),
        f(
            10,
            "windowsOptions",
            Emit,
            Msg(&CORE_V1_WINDOWS_SECURITY_CONTEXT_OPTIONS),
        ),
        f(11, "seccompProfile", Emit, Msg(&CORE_V1_SECCOMP_PROFILE)),
        f(12, "appArmorProfile", Emit, Msg(&CORE_V1_APP_ARMOR_PROFILE)),
    ],
};

pub static CORE_V1_EPHEMERAL_CONTAINER_COMMON: Message = Message {
    name: "core.v1.EphemeralContainerCommon",
    fields: &[
        f(1, "name", Emit, Str),
        f(2, "image", Omit, Str),
        f(3, "command", Rep, Str),
        f(4, "args", Rep, Str),
        f(5, "workingDir", Omit, Str),
        f(6, "ports", Rep, Msg(&CORE_V1_CONTAINER_PORT)),
        f(7, "env", Rep, Msg(&CORE_V1_ENV_VAR)),
        f(8, "resources", Emit, Msg(&CORE_V1_RESOURCE_REQUIREMENTS)),
        f(9, "volumeMounts", Rep, Msg(&CORE_V1_VOLUME_MOUNT)),
        f(10, "livenessProbe", Emit, Msg(&CORE_V1_PROBE)),
        f(11, "readinessProbe", Emit, Msg(&CORE_V1_PROBE)),
        f(12, "lifecycle", Emit, Msg(&CORE_V1_LIFECYCLE)),
        f(13, "terminationMessagePath", Omit, Str),
        f(14, "imagePullPolicy", Omit, Str),
        f(15, "securityContext", Emit, Msg(&CORE_V1_SECURITY_CONTEXT)),
        f(16, "stdin", Omit, Bool),
        f(17, "stdinOnce", Omit, Bool),
        f(18, "tty", Omit, Bool),
        f(19, "envFrom", Rep, Msg(&CORE_V1_ENV_FROM_SOURCE)),
        f(20, "terminationMessagePolicy", Omit, Str),
        f(21, "volumeDevices", Rep, Msg(&CORE_V1_VOLUME_DEVICE)),
        f(22, "startupProbe", Emit, Msg(&CORE_V1_PROBE)),
        f(
            23,
            "resizePolicy",
            Rep,
            Msg(&CORE_V1_CONTAINER_RESIZE_POLICY),
        ),
        f(24, "restartPolicy", Emit, Str),
    ],
};

pub static CORE_V1_SELINUX_OPTIONS: Message = Message {
    name: "core.v1.SELinuxOptions",
    fields: &[
        f(1, "user", Omit, Str),
        f(2, "role", Omit, Str),
        f(3, "type", Omit, Str),
        f(4, "level", Omit, Str),
    ],
};

pub static CORE_V1_WINDOWS_SECURITY_CONTEXT_OPTIONS: Message = Message {
    name: "core.v1.WindowsSecurityContextOptions",
    fields: &[
        f(1, "gmsaCredentialSpecName", Emit, Str),
        f(2, "gmsaCredentialSpec", Emit, Str),
        f(3, "runAsUserName", Emit, Str),
        f(4, "hostProcess", Emit, Bool),
    ],
};

pub static CORE_V1_SYSCTL: Message = Message {
    name: "core.v1.Sysctl",
    fields: &[f(1, "name", Emit, Str), f(2, "value", Emit, Str)],
};

pub static CORE_V1_SECCOMP_PROFILE: Message = Message {
    name: "core.v1.SeccompProfile",
    fields: &[f(1, "type", Emit, Str), f(2, "localhostProfile", Emit, Str)],
};

pub static CORE_V1_APP_ARMOR_PROFILE: Message = Message {
    name: "core.v1.AppArmorProfile",
    fields: &[f(1, "type", Emit, Str), f(2, "localhostProfile", Emit, Str)],
};

pub static CORE_V1_NODE_AFFINITY: Message = Message {
    name: "core.v1.NodeAffinity",
    fields: &[
        f(
            1,
            "requiredDuringSchedulingIgnoredDuringExecution",
            Emit,
            Msg(&CORE_V1_NODE_SELECTOR),
        ),
        f(
            2,
            "preferredDuringSchedulingIgnoredDuringExecution",
            Rep,
            Msg(&CORE_V1_PREFERRED_SCHEDULING_TERM),
        ),
    ],
};

pub static CORE_V1_POD_AFFINITY: Message = Message {
    name: "core.v1.PodAffinity",
    fields: &[
        f(
            1,
            "requiredDuringSchedulingIgnoredDuringExecution",
            Rep,
            Msg(&CORE_V1_POD_AFFINITY_TERM),
        ),
        f(
            2,
            "preferredDuringSchedulingIgnoredDuringExecution",
            Rep,
            Msg(&CORE_V1_WEIGHTED_POD_AFFINITY_TERM),
        ),
    ],
};

pub static CORE_V1_POD_ANTI_AFFINITY: Message = Message {
    name: "core.v1.PodAntiAffinity",
    fields: &[
        f(
            1,
            "requiredDuringSchedulingIgnoredDuringExecution",
            Rep,
            Msg(&CORE_V1_POD_AFFINITY_TERM),
        ),
        f(
            2,
            "preferredDuringSchedulingIgnoredDuringExecution",
            Rep,
            Msg(&CORE_V1_WEIGHTED_POD_AFFINITY_TERM),
        ),
    ],
};

pub static CORE_V1_POD_DNSCONFIG_OPTION: Message = Message {
    name: "core.v1.PodDNSConfigOption",
    fields: &[f(1, "name", Omit, Str), f(2, "value", Emit, Str)],
};

pub static CORE_V1_RESOURCE_CLAIM: Message = Message {
    name: "core.v1.ResourceClaim",
    fields: &[f(1, "name", Emit, Str), f(2, "request", Omit, Str)],
};

pub static CORE_V1_CONTAINER_STATE: Message = Message {
    name: "core.v1.ContainerState",
    fields: &[
        f(1, "waiting", Emit, Msg(&CORE_V1_CONTAINER_STATE_WAITING)),
        f(2, "running", Emit, Msg(&CORE_V1_CONTAINER_STATE_RUNNING)),
        f(
            3,
            "terminated",
            Emit,
            Msg(&CORE_V1_CONTAINER_STATE_TERMINATED),
        ),
    ],
};

pub static CORE_V1_VOLUME_MOUNT_STATUS: Message = Message {
    name: "core.v1.VolumeMountStatus",
    fields: &[
        f(1, "name", Emit, Str),
        f(2, "mountPath", Emit, Str),
        f(3, "readOnly", Omit, Bool),
        f(4, "recursiveReadOnly", Emit, Str),
    ],
};

pub static CORE_V1_CONTAINER_USER: Message = Message {
    name: "core.v1.ContainerUser",
    fields: &[f(1, "linux", Emit, Msg(&CORE_V1_LINUX_CONTAINER_USER))],
};

pub static CORE_V1_RESOURCE_STATUS: Message = Message {
    name: "core.v1.ResourceStatus",
    fields: &[
        f(1, "name", Emit, Str),
        f(2, "resources", Rep, Msg(&CORE_V1_RESOURCE_HEALTH)),
    ],
};

pub static CORE_V1_CLIENT_IPCONFIG: Message = Message {
    name: "core.v1.ClientIPConfig",
    fields: &[f(1, "timeoutSeconds", Emit, I32)],
};

pub static CORE_V1_LOAD_BALANCER_INGRESS: Message = Message {
    name: "core.v1.LoadBalancerIngress",
    fields: &[
        f(1, "ip", Omit, Str),
        f(2, "hostname", Omit, Str),
        f(3, "ipMode", Emit, Str),
        f(4, "ports", Rep, Msg(&CORE_V1_PORT_STATUS)),
    ],
};

pub static META_V1_LABEL_SELECTOR_REQUIREMENT: Message = Message {
    name: "meta.v1.LabelSelectorRequirement",
    fields: &[
        f(1, "key", Emit, Str),
        f(2, "operator", Emit, Str),
        f(3, "values", Rep, Str),
    ],
};

pub static CORE_V1_SCOPED_RESOURCE_SELECTOR_REQUIREMENT: Message = Message {
    name: "core.v1.ScopedResourceSelectorRequirement",
    fields: &[
        f(1, "scopeName", Emit, Str),
        f(2, "operator", Emit, Str),
        f(3, "values", Rep, Str),
    ],
};

pub static APPS_V1_ROLLING_UPDATE_DEPLOYMENT: Message = Message {
    name: "apps.v1.RollingUpdateDeployment",
    fields: &[
        f(1, "maxUnavailable", Emit, IntOrString),
        f(2, "maxSurge", Emit, IntOrString),
    ],
};

pub static APPS_V1_ROLLING_UPDATE_DAEMON_SET: Message = Message {
    name: "apps.v1.RollingUpdateDaemonSet",
    fields: &[
        f(1, "maxUnavailable", Emit, IntOrString),
        f(2, "maxSurge", Emit, IntOrString),
    ],
};

pub static APPS_V1_ROLLING_UPDATE_STATEFUL_SET_STRATEGY: Message = Message {
    name: "apps.v1.RollingUpdateStatefulSetStrategy",
    fields: &[
        f(1, "partition", Emit, I32),
        f(2, "maxUnavailable", Emit, IntOrString),
    ],
};

pub static BATCH_V1_POD_FAILURE_POLICY_RULE: Message = Message {
    name: "batch.v1.PodFailurePolicyRule",
    fields: &[
        f(1, "action", Emit, Str),
        f(
            2,
            "onExitCodes",
            Emit,
            Msg(&BATCH_V1_POD_FAILURE_POLICY_ON_EXIT_CODES_REQUIREMENT),
        ),
        f(
            3,
            "onPodConditions",
            Rep,
            Msg(&BATCH_V1_POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERN),
        ),
    ],
};

pub static BATCH_V1_SUCCESS_POLICY_RULE: Message = Message {
    name: "batch.v1.SuccessPolicyRule",
    fields: &[
        f(1, "succeededIndexes", Emit, Str),
        f(2, "succeededCount", Emit, I32),
    ],
};

pub static CORE_V1_HOST_PATH_VOLUME_SOURCE: Message = Message {
    name: "core.v1.HostPathVolumeSource",
    fields: &[f(1, "path", Emit, Str), f(2, "type", Emit, Str)],
};

pub static CORE_V1_EMPTY_DIR_VOLUME_SOURCE: Message = Message {
    name: "core.v1.EmptyDirVolumeSource",
    fields: &[f(1, "medium", Omit, Str), f(2, "sizeLimit", Emit, Quantity)],
};

pub static CORE_V1_GCEPERSISTENT_DISK_VOLUME_SOURCE: Message = Message {
    name: "core.v1.GCEPersistentDiskVolumeSource",
    fields: &[
        f(1, "pdName", Emit, Str),
        f(2, "fsType", Omit, Str),
        f(3, "partition", Omit, I32),
        f(4, "readOnly", Omit, Bool),
    ],
};

pub static CORE_V1_AWSELASTIC_BLOCK_STORE_VOLUME_SOURCE: Message = Message {
    name: "core.v1.AWSElasticBlockStoreVolumeSource",
    fields: &[
        f(1, "volumeID", Emit, Str),
        f(2, "fsType", Omit, Str),
        f(3, "partition", Omit, I32),
        f(4, "readOnly", Omit, Bool),
    ],
};

pub static CORE_V1_GIT_REPO_VOLUME_SOURCE: Message = Message {
    name: "core.v1.GitRepoVolumeSource",
    fields: &[
        f(1, "repository", Emit, Str),
        f(2, "revision", Omit, Str),
        f(3, "directory", Omit, Str),
    ],
};

pub static CORE_V1_SECRET_VOLUME_SOURCE: Message = Message {
    name: "core.v1.SecretVolumeSource",
    fields: &[
        f(1, "secretName", Omit, Str),
        f(2, "items", Rep, Msg(&CORE_V1_KEY_TO_PATH)),
        f(3, "defaultMode", Emit, I32),
        f(4, "optional", Emit, Bool),
    ],
};

pub static CORE_V1_NFSVOLUME_SOURCE: Message = Message {
    name: "core.v1.NFSVolumeSource",
    fields: &[
        f(1, "server", Emit, Str),
        f(2, "path", Emit, Str),
        f(3, "readOnly", Omit, Bool),
    ],
};

pub static CORE_V1_ISCSIVOLUME_SOURCE: Message = Message {
    name: "core.v1.ISCSIVolumeSource",
    fields: &[
        f(1, "targetPortal", Emit, Str),
        f(2, "iqn", Emit, Str),
        f(3, "lun", Emit, I32),
        f(4, "iscsiInterface", Omit, Str),
        f(5, "fsType", Omit, Str),
        f(6, "readOnly", Omit, Bool),
        f(7, "portals", Rep, Str),
        f(8, "chapAuthDiscovery", Omit, Bool),
        f(10, "secretRef", Emit, Msg(&CORE_V1_LOCAL_OBJECT_REFERENCE)),
        f(11, "chapAuthSession", Omit, Bool),
        f(12, "initiatorName", Emit, Str),
    ],
};

pub static CORE_V1_GLUSTERFS_VOLUME_SOURCE: Message = Message {
    name: "core.v1.GlusterfsVolumeSource",
    fields: &[
        f(1, "endpoints", Emit, Str),
        f(2, "path", Emit, Str),
        f(3, "readOnly", Omit, Bool),
    ],
};

pub static CORE_V1_PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE: Message = Message {
    name: "core.v1.PersistentVolumeClaimVolumeSource",
    fields: &[f(1, "claimName", Emit, Str), f(2, "readOnly", Omit, Bool)],
};

pub static CORE_V1_RBDVOLUME_SOURCE: Message = Message {
    name: "core.v1.RBDVolumeSource",
    fields: &[
        f(1, "monitors", Rep, Str),
        f(2, "image", Emit, Str),
        f(3, "fsType", Omit, Str),
        f(4, "pool", Omit, Str),
        f(5, "user", Omit, Str),
        f(6, "keyring", Omit, Str),
        f(7, "secretRef", Emit, Msg(&CORE_V1_LOCAL_OBJECT_REFERENCE)),
        f(8, "readOnly", Omit, Bool),
    ],
};

pub static CORE_V1_FLEX_VOLUME_SOURCE: Message = Message {
    name: "core.v1.FlexVolumeSource",
    fields: &[
        f(1, "driver", Emit, Str),
        f(2, "fsType", Omit, Str),
        f(3, "secretRef", Emit, Msg(&CORE_V1_LOCAL_OBJECT_REFERENCE)),
        f(4, "readOnly", Omit, Bool),
        f(5, "options", Map, Str),
    ],
};

pub static CORE_V1_CINDER_VOLUME_SOURCE: Message = Message {
    name: "core.v1.CinderVolumeSource",
    fields: &[
        f(1, "volumeID", Emit, Str),
        f(2, "fsType", Omit, Str),
        f(3, "readOnly", Omit, Bool),
        f(4, "secretRef", Emit, Msg(&CORE_V1_LOCAL_OBJECT_REFERENCE)),
    ],
};

pub static CORE_V1_CEPH_FSVOLUME_SOURCE: Message = Message {
    name: "core.v1.CephFSVolumeSource",
    fields: &[
        f(1, "monitors", Rep, Str),
        f(2, "path", Omit, Str),
        f(3, "user", Omit, Str),
        f(4, "secretFile", Omit, Str),
        f(5, "secretRef", Emit, Msg(&CORE_V1_LOCAL_OBJECT_REFERENCE)),
        f(6, "readOnly", Omit, Bool),
    ],
};

pub static CORE_V1_FLOCKER_VOLUME_SOURCE: Message = Message {
    name: "core.v1.FlockerVolumeSource",
    fields: &[
        f(1, "datasetName", Omit, Str),
        f(2, "datasetUUID", Omit, Str),
    ],
};

pub static CORE_V1_DOWNWARD_APIVOLUME_SOURCE: Message = Message {
    name: "core.v1.DownwardAPIVolumeSource",
    fields: &[
        f(1, "items", Rep, Msg(&CORE_V1_DOWNWARD_APIVOLUME_FILE)),
        f(2, "defaultMode", Emit, I32),
    ],
};

pub static CORE_V1_FCVOLUME_SOURCE: Message = Message {
    name: "core.v1.FCVolumeSource",
    fields: &[
        f(1, "targetWWNs", Rep, Str),
        f(2, "lun", Emit, I32),
        f(3, "fsType", Omit, Str),
        f(4, "readOnly", Omit, Bool),
        f(5, "wwids", Rep, Str),
    ],
};

pub static CORE_V1_AZURE_FILE_VOLUME_SOURCE: Message = Message {
    name: "core.v1.AzureFileVolumeSource",
    fields: &[
        f(1, "secretName", Emit, Str),
        f(2, "shareName", Emit, Str),
        f(3, "readOnly", Omit, Bool),
    ],
};

pub static CORE_V1_CONFIG_MAP_VOLUME_SOURCE: Message = Message {
    name: "core.v1.ConfigMapVolumeSource",
    fields: &[
        f(
            1,
            "localObjectReference",
            Inline,
            Msg(&CORE_V1_LOCAL_OBJECT_REFERENCE),
        ),
        f(2, "items", Rep, Msg(&CORE_V1_KEY_TO_PATH)),
        f(3, "defaultMode", Emit, I32),
        f(4, "optional", Emit, Bool),
    ],
};

pub static CORE_V1_VSPHERE_VIRTUAL_DISK_VOLUME_SOURCE: Message = Message {
    name: "core.v1.VsphereVirtualDiskVolumeSource",
    fields: &[
        f(1, "volumePath", Emit, Str),
        f(2, "fsType", Omit, Str),
        f(3, "storagePolicyName", Omit, Str),
        f(4, "storagePolicyID", Omit, Str),
    ],
};

pub static CORE_V1_QUOBYTE_VOLUME_SOURCE: Message = Message {
    name: "core.v1.QuobyteVolumeSource",
    fields: &[
        f(1, "registry", Emit, Str),
        f(2, "volume", Emit, Str),
        f(3, "readOnly", Omit, Bool),
        f(4, "user", Omit, Str),
        f(5, "group", Omit, Str),
        f(6, "tenant", Omit, Str),
    ],
};

pub static CORE_V1_AZURE_DISK_VOLUME_SOURCE: Message = Message {
    name: "core.v1.AzureDiskVolumeSource",
    fields: &[
        f(1, "diskName", Emit, Str),
        f(2, "diskURI", Emit, Str),
        f(3, "cachingMode", Emit, Str),
        f(4, "fsType", Emit, Str),
        f(5, "readOnly", Emit, Bool),
        f(6, "kind", Emit, Str),
    ],
};

pub static CORE_V1_PHOTON_PERSISTENT_DISK_VOLUME_SOURCE: Message = Message {
    name: "core.v1.PhotonPersistentDiskVolumeSource",
    fields: &[f(1, "pdID", Emit, Str), f(2, "fsType", Omit, Str)],
};

pub static CORE_V1_PROJECTED_VOLUME_SOURCE: Message = Message {
    name: "core.v1.ProjectedVolumeSource",
    fields: &[
        f(1, "sources", Rep, Msg(&CORE_V1_VOLUME_PROJECTION)),
        f(2, "defaultMode", Emit, I32),
    ],
};

pub static CORE_V1_PORTWORX_VOLUME_SOURCE: Message = Message {
    name: "core.v1.PortworxVolumeSource",
    fields: &[
        f(1, "volumeID", Emit, Str),
        f(2, "fsType", Omit, Str),
        f(3, "readOnly", Omit, Bool),
    ],
};

pub static CORE_V1_SCALE_IOVOLUME_SOURCE: Message = Message {
    name: "core.v1.ScaleIOVolumeSource",
    fields: &[
        f(1, "gateway", Emit, Str),
        f(2, "system", Emit, Str),
        f(3, "secretRef", Emit, Msg(&CORE_V1_LOCAL_OBJECT_REFERENCE)),
        f(4, "sslEnabled", Omit, Bool),
        f(5, "protectionDomain", Omit, Str),
        f(6, "storagePool", Omit, Str),
        f(7, "storageMode", Omit, Str),
        f(8, "volumeName", Omit, Str),
        f(9, "fsType", Omit, Str),
        f(10, "readOnly", Omit, Bool),
    ],
};

pub static CORE_V1_STORAGE_OSVOLUME_SOURCE: Message = Message {
    name: "core.v1.StorageOSVolumeSource",
    fields: &[
        f(1, "volumeName", Omit, Str),
        f(2, "volumeNamespace", Omit, Str),
        f(3, "fsType", Omit, Str),
        f(4, "readOnly", Omit, Bool),
        f(5, "secretRef", Emit, Msg(&CORE_V1_LOCAL_OBJECT_REFERENCE)),
    ],
};

pub static CORE_V1_CSIVOLUME_SOURCE: Message = Message {
    name: "core.v1.CSIVolumeSource",
    fields: &[
        f(1, "driver", Emit, Str),
        f(2, "readOnly", Emit, Bool),
        f(3, "fsType", Emit, Str),
        f(4, "volumeAttributes", Map, Str),
        f(
            5,
            "nodePublishSecretRef",
            Emit,
            Msg(&CORE_V1_LOCAL_OBJECT_REFERENCE),
        ),
    ],
};

pub static CORE_V1_EPHEMERAL_VOLUME_SOURCE: Message = Message {
    name: "core.v1.EphemeralVolumeSource",
    fields: &[f(
        1,
        "volumeClaimTemplate",
        Emit,
        Msg(&CORE_V1_PERSISTENT_VOLUME_CLAIM_TEMPLATE),
    )],
};

pub static CORE_V1_IMAGE_VOLUME_SOURCE: Message = Message {
    name: "core.v1.ImageVolumeSource",
    fields: &[f(1, "reference", Omit, Str), f(2, "pullPolicy", Omit, Str)],
};

pub static CORE_V1_CONFIG_MAP_ENV_SOURCE: Message = Message {
    name: "core.v1.ConfigMapEnvSource",
    fields: &[
        f(
            1,
            "localObjectReference",
            Inline,
            Msg(&CORE_V1_LOCAL_OBJECT_REFERENCE),
        ),
        f(2, "optional", Emit, Bool),
    ],
};

pub static CORE_V1_SECRET_ENV_SOURCE: Message = Message {
    name: "core.v1.SecretEnvSource",
    fields: &[
        f(
            1,
            "localObjectReference",
            Inline,
            Msg(&CORE_V1_LOCAL_OBJECT_REFERENCE),
        ),
        f(2, "optional", Emit, Bool),
    ],
};

pub static CORE_V1_ENV_VAR_SOURCE: Message = Message {
    name: "core.v1.EnvVarSource",
    fields: &[
        f(1, "fieldRef", Emit, Msg(&CORE_V1_OBJECT_FIELD_SELECTOR)),
        f(
            2,
            "resourceFieldRef",
            Emit,
            Msg(&CORE_V1_RESOURCE_FIELD_SELECTOR),
        ),
        f(
            3,
            "configMapKeyRef",
            Emit,
            Msg(&CORE_V1_CONFIG_MAP_KEY_SELECTOR),
        ),
        f(4, "secretKeyRef", Emit, Msg(&CORE_V1_SECRET_KEY_SELECTOR)),
    ],
};

pub static CORE_V1_PROBE_HANDLER: Message = Message {
    name: "core.v1.ProbeHandler",
    fields: &[
        f(1, "exec", Emit, Msg(&CORE_V1_EXEC_ACTION)),
        f(2, "httpGet", Emit, Msg(&CORE_V1_HTTPGET_ACTION)),
        f(3, "tcpSocket", Emit, Msg(&CORE_V1_TCPSOCKET_ACTION)),
        f(4, "grpc", Emit, Msg(&CORE_V1_GRPCACTION)),
    ],
};

pub static CORE_V1_LIFECYCLE_HANDLER: Message = Message {
    name: "core.v1.LifecycleHandler",
    fields: &[
        f(1, "exec", Emit, Msg(&CORE_V1_EXEC_ACTION)),
        f(2, "httpGet", Emit, Msg(&CORE_V1_HTTPGET_ACTION)),
        f(3, "tcpSocket", Emit, Msg(&CORE_V1_TCPSOCKET_ACTION)),
        f(4, "sleep", Emit, Msg(&CORE_V1_SLEEP_ACTION)),
    ],
};

pub static CORE_V1_CAPABILITIES: Message = Message {
    name: "core.v1.Capabilities",
    fields: &[f(1, "add", Rep, Str), f(2, "drop", Rep, Str)],
};

pub static CORE_V1_NODE_SELECTOR: Message = Message {
    name: "core.v1.NodeSelector",
    fields: &[f(
        1,
        "nodeSelectorTerms",
        Rep,
        Msg(&CORE_V1_NODE_SELECTOR_TERM),
    )],
};

pub static CORE_V1_PREFERRED_SCHEDULING_TERM: Message = Message {
    name: "core.v1.PreferredSchedulingTerm",
    fields: &[
        f(1, "weight", Emit, I32),
        f(2, "preference", Emit, Msg(&CORE_V1_NODE_SELECTOR_TERM)),
    ],
};

pub static CORE_V1_POD_AFFINITY_TERM: Message = Message {
    name: "core.v1.PodAffinityTerm",
    fields: &[
        f(1, "labelSelector", Emit, Msg(&META_V1_LABEL_SELECTOR)),
        f(2, "namespaces", Rep, Str),
        f(3, "topologyKey", Emit, Str),
        f(4, "namespaceSelector", Emit, Msg(&META_V1_LABEL_SELECTOR)),
        f(5, "matchLabelKeys", Rep, Str),
        f(6, "mismatchLabelKeys", Rep, Str),
    ],
};

pub static CORE_V1_WEIGHTED_POD_AFFINITY_TERM: Message = Message {
    name: "core.v1.WeightedPodAffinityTerm",
    fields: &[
        f(1, "weight", Emit, I32),
        f(2, "podAffinityTerm", Emit, Msg(&CORE_V1_POD_AFFINITY_TERM)),
    ],
};

pub static CORE_V1_CONTAINER_STATE_WAITING: Message = Message {
    name: "core.v1.ContainerStateWaiting",
    fields: &[f(1, "reason", Omit, Str), f(2, "message", Omit, Str)],
};

pub static CORE_V1_CONTAINER_STATE_RUNNING: Message = Message {
    name: "core.v1.ContainerStateRunning",
    fields: &[f(1, "startedAt", Emit, Time)],
};

pub static CORE_V1_CONTAINER_STATE_TERMINATED: Message = Message {
    name: "core.v1.ContainerStateTerminated",
    fields: &[
        f(1, "exitCode", Emit, I32),
        f(2, "signal", Omit, I32),
        f(3, "reason", Omit, Str),
        f(4, "message", Omit, Str),
        f(5, "startedAt", Emit, Time),
        f(6, "finishedAt", Emit, Time),
        f(7, "containerID", Omit, Str),
    ],
};

pub static CORE_V1_LINUX_CONTAINER_USER: Message = Message {
    name: "core.v1.LinuxContainerUser",
    fields: &[
        f(1, "uid", Emit, I64),
        f(2, "gid", Emit, I64),
        f(3, "supplementalGroups", Rep, I64),
    ],
};

pub static CORE_V1_RESOURCE_HEALTH: Message = Message {
    name: "core.v1.ResourceHealth",
    fields: &[f(1, "resourceID", Emit, Str), f(2, "health", Omit, Str)],
};

pub static CORE_V1_PORT_STATUS: Message = Message {
    name: "core.v1.PortStatus",
    fields: &[
        f(1, "port", Emit, I32),
        f(2, "protocol", Emit, Str),
        f(3, "error", Emit, Str),
    ],
};

pub static BATCH_V1_POD_FAILURE_POLICY_ON_EXIT_CODES_REQUIREMENT: Message = Message {
    name: "batch.v1.PodFailurePolicyOnExitCodesRequirement",
    fields: &[
        f(1, "containerName", Emit, Str),
        f(2, "operator", Emit, Str),
        f(3, "values", Rep, I32),
    ],
};

pub static BATCH_V1_POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERN: Message = Message {
    name: "batch.v1.PodFailurePolicyOnPodConditionsPattern",
    fields: &[f(1, "type", Emit, Str), f(2, "status", Emit, Str)],
};

pub static CORE_V1_KEY_TO_PATH: Message = Message {
    name: "core.v1.KeyToPath",
    fields: &[
        f(1, "key", Emit, Str),
        f(2, "path", Emit, Str),
        f(3, "mode", Emit, I32),
    ],
};

pub static CORE_V1_DOWNWARD_APIVOLUME_FILE: Message = Message {
    name: "core.v1.DownwardAPIVolumeFile",
    fields: &[
        f(1, "path", Emit, Str),
        f(2, "fieldRef", Emit, Msg(&CORE_V1_OBJECT_FIELD_SELECTOR)),
        f(
            3,
            "resourceFieldRef",
            Emit,
            Msg(&CORE_V1_RESOURCE_FIELD_SELECTOR),
        ),
        f(4, "mode", Emit, I32),
    ],
};

pub static CORE_V1_VOLUME_PROJECTION: Message = Message {
    name: "core.v1.VolumeProjection",
    fields: &[
        f(1, "secret", Emit, Msg(&CORE_V1_SECRET_PROJECTION)),
        f(2, "downwardAPI", Emit, Msg(&CORE_V1_DOWNWARD_APIPROJECTION)),
        f(3, "configMap", Emit, Msg(&CORE_V1_CONFIG_MAP_PROJECTION)),
        f(
            4,
            "serviceAccountToken",
            Emit,
            Msg(&CORE_V1_SERVICE_ACCOUNT_TOKEN_PROJECTION),
        ),
        f(
            5,
            "clusterTrustBundle",
            Emit,
            Msg(&CORE_V1_CLUSTER_TRUST_BUNDLE_PROJECTION),
        ),
    ],
};

pub static CORE_V1_PERSISTENT_VOLUME_CLAIM_TEMPLATE: Message = Message {
    name: "core.v1.PersistentVolumeClaimTemplate",
    fields: &[
        f(1, "metadata", Emit, Msg(&META_V1_OBJECT_META)),
        f(2, "spec", Emit, Msg(&CORE_V1_PERSISTENT_VOLUME_CLAIM_SPEC)),
    ],
};

pub static CORE_V1_OBJECT_FIELD_SELECTOR: Message = Message {
    name: "core.v1.ObjectFieldSelector",
    fields: &[f(1, "apiVersion", Omit, Str), f(2, "fieldPath", Emit, Str)],
};

pub static CORE_V1_RESOURCE_FIELD_SELECTOR: Message = Message {
    name: "core.v1.ResourceFieldSelector",
    fields: &[
        f(1, "containerName", Omit, Str),
        f(2, "resource", Emit, Str),
        f(3, "divisor", Emit, Quantity),
    ],
};

pub static CORE_V1_CONFIG_MAP_KEY_SELECTOR: Message = Message {
    name: "core.v1.ConfigMapKeySelector",
    fields: &[
        f(
            1,
            "localObjectReference",
            Inline,
            Msg(&CORE_V1_LOCAL_OBJECT_REFERENCE),
        ),
        f(2, "key", Emit, Str),
        f(3, "optional", Emit, Bool),
    ],
};

pub static CORE_V1_SECRET_KEY_SELECTOR: Message = Message {
    name: "core.v1.SecretKeySelector",
    fields: &[
        f(
            1,
            "localObjectReference",
            Inline,
            Msg(&CORE_V1_LOCAL_OBJECT_REFERENCE),
        ),
        f(2, "key", Emit, Str),
        f(3, "optional", Emit, Bool),
    ],
};

pub static CORE_V1_EXEC_ACTION: Message = Message {
    name: "core.v1.ExecAction",
    fields: &[f(1, "command", Rep, Str)],
};

pub static CORE_V1_HTTPGET_ACTION: Message = Message {
    name: "core.v1.HTTPGetAction",
    fields: &[
        f(1, "path", Omit, Str),
        f(2, "port", Emit, IntOrString),
        f(3, "host", Omit, Str),
        f(4, "scheme", Omit, Str),
        f(5, "httpHeaders", Rep, Msg(&CORE_V1_HTTPHEADER)),
    ],
};

pub static CORE_V1_TCPSOCKET_ACTION: Message = Message {
    name: "core.v1.TCPSocketAction",
    fields: &[f(1, "port", Emit, IntOrString), f(2, "host", Omit, Str)],
};

pub static CORE_V1_GRPCACTION: Message = Message {
    name: "core.v1.GRPCAction",
    fields: &[f(1, "port", Emit, I32), f(2, "service", Emit, Str)],
};

pub static CORE_V1_SLEEP_ACTION: Message = Message {
    name: "core.v1.SleepAction",
    fields: &[f(1, "seconds", Emit, I64)],
};

pub static CORE_V1_NODE_SELECTOR_TERM: Message = Message {
    name: "core.v1.NodeSelectorTerm",
    fields: &[
        f(
            1,
            "matchExpressions",
            Rep,
            Msg(&CORE_V1_NODE_SELECTOR_REQUIREMENT),
        ),
        f(
            2,
            "matchFields",
            Rep,
            Msg(&CORE_V1_NODE_SELECTOR_REQUIREMENT),
        ),
    ],
};

pub static CORE_V1_SECRET_PROJECTION: Message = Message {
    name: "core.v1.SecretProjection",
    fields: &[
        f(
            1,
            "localObjectReference",
            Inline,
            Msg(&CORE_V1_LOCAL_OBJECT_REFERENCE),
        ),
        f(2, "items", Rep, Msg(&CORE_V1_KEY_TO_PATH)),
        f(4, "optional", Emit, Bool),
    ],
};

pub static CORE_V1_DOWNWARD_APIPROJECTION: Message = Message {
    name: "core.v1.DownwardAPIProjection",
    fields: &[f(1, "items", Rep, Msg(&CORE_V1_DOWNWARD_APIVOLUME_FILE))],
};

pub static CORE_V1_CONFIG_MAP_PROJECTION: Message = Message {
    name: "core.v1.ConfigMapProjection",
    fields: &[
        f(
            1,
            "localObjectReference",
            Inline,
            Msg(&CORE_V1_LOCAL_OBJECT_REFERENCE),
        ),
        f(2, "items", Rep, Msg(&CORE_V1_KEY_TO_PATH)),
        f(4, "optional", Emit, Bool),
    ],
};

pub static CORE_V1_SERVICE_ACCOUNT_TOKEN_PROJECTION: Message = Message {
    name: "core.v1.ServiceAccountTokenProjection",
    fields: &[
        f(1, "audience", Omit, Str),
        f(2, "expirationSeconds", Emit, I64),
        f(3, "path", Emit, Str),
    ],
};

pub static CORE_V1_CLUSTER_TRUST_BUNDLE_PROJECTION: Message = Message {
    name: "core.v1.ClusterTrustBundleProjection",
    fields: &[
        f(1, "name", Emit, Str),
        f(2, "signerName", Emit, Str),
        f(3, "labelSelector", Emit, Msg(&META_V1_LABEL_SELECTOR)),
        f(4, "path", Emit, Str),
        f(5, "optional", Emit, Bool),
    ],
};

pub static CORE_V1_HTTPHEADER: Message = Message {
    name: "core.v1.HTTPHeader",
    fields: &[f(1, "name", Emit, Str), f(2, "value", Emit, Str)],
};

pub static CORE_V1_NODE_SELECTOR_REQUIREMENT: Message = Message {
    name: "core.v1.NodeSelectorRequirement",
    fields: &[
        f(1, "key", Emit, Str),
        f(2, "operator", Emit, Str),
        f(3, "values", Rep, Str),
    ],
};
