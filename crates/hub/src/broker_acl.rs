//! Who may do what on the MQTT broker: the pure access rules the embedded broker's gate
//! ([`crate::broker_gate`]) enforces and the Mosquitto ACL file ([`crate::mosquitto_files`])
//! spells out for an external broker.
//!
//! Roles (the third field of `DATA/mqtt-users`):
//! - `hub`: the hub's own status subscriber; subscribes to anything, publishes only the
//!   cluster summaries under `shoal/v1/cluster/` (never node topics). Client id `shoal-hub`.
//! - `reader`: integrations; subscribe to anything, publish nothing, no last will.
//! - `node:<name>`: one agent; publishes (and subscribes) only under
//!   `shoal/v1/nodes/<name>/`, its last will too, with client id `shoal-node-<name>` so no one
//!   else can take over (and kick) its session.
//!
//! Design: every rule is a plain function of the role and the topic or filter, so the table
//! tests below cover the whole policy without a socket.

use shoal_transport::status::TOPIC_ROOT;

/// A broker user's role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Hub,
    Reader,
    Node(String),
}

impl Role {
    /// Parses the role column of `DATA/mqtt-users`; `None` for an unknown role (such a user
    /// is refused, never given more rights than it should have).
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "hub" => Some(Role::Hub),
            "reader" => Some(Role::Reader),
            _ => s
                .strip_prefix("node:")
                .filter(|n| valid_segment(n))
                .map(|n| Role::Node(n.to_string())),
        }
    }

    /// The role column for `DATA/mqtt-users`.
    pub fn as_column(&self) -> String {
        match self {
            Role::Hub => "hub".into(),
            Role::Reader => "reader".into(),
            Role::Node(n) => format!("node:{n}"),
        }
    }
}

/// The client id the hub's subscriber uses.
pub const HUB_CLIENT_ID: &str = "shoal-hub";
/// The client id of the hub's rollout summary publisher.
pub const HUB_SUMMARY_CLIENT_ID: &str = "shoal-hub-summary";
/// Client ids of agents: this prefix plus the node name.
pub const NODE_CLIENT_PREFIX: &str = "shoal-node-";

/// The subtree a node owns: `shoal/v1/nodes/<node>/`.
pub fn node_prefix(node: &str) -> String {
    format!("{TOPIC_ROOT}/nodes/{node}/")
}

/// The subtree of the hub's cluster summaries: `shoal/v1/cluster/`.
pub fn cluster_prefix() -> String {
    format!("{TOPIC_ROOT}/cluster/")
}

/// A topic or node-name segment: not empty, no MQTT wildcard or separator.
fn valid_segment(s: &str) -> bool {
    !s.is_empty() && !s.contains(['/', '+', '#', '\0'])
}

/// May a client of `role` connect with `client_id`?
pub fn may_use_client_id(role: &Role, client_id: &str) -> bool {
    match role {
        Role::Hub => client_id == HUB_CLIENT_ID || client_id == HUB_SUMMARY_CLIENT_ID,
        Role::Node(n) => client_id.strip_prefix(NODE_CLIENT_PREFIX) == Some(n.as_str()),
        // Readers may pick any id that is not one of ours; an empty one (mosquitto_sub's
        // default) gets a random `rumqtt-<uuid>` from the broker.
        Role::Reader => {
            !client_id.starts_with(HUB_CLIENT_ID) && !client_id.starts_with(NODE_CLIENT_PREFIX)
        }
    }
}

/// May a client of `role` publish on `topic` (also used for its last will)?
pub fn may_publish(role: &Role, topic: &str) -> bool {
    if topic.is_empty() || topic.contains(['+', '#', '\0']) {
        return false;
    }
    match role {
        Role::Reader => false,
        Role::Hub => topic
            .strip_prefix(&cluster_prefix())
            .is_some_and(|rest| !rest.is_empty()),
        Role::Node(n) => topic
            .strip_prefix(&node_prefix(n))
            .is_some_and(|rest| !rest.is_empty()),
    }
}

/// May a client of `role` subscribe to `filter`?
pub fn may_subscribe(role: &Role, filter: &str) -> bool {
    if filter.is_empty() || filter.contains('\0') {
        return false;
    }
    match role {
        Role::Hub | Role::Reader => true,
        // A node reads only its own subtree: the part after its prefix may use wildcards,
        // the prefix itself (and so the node segment) may not.
        Role::Node(n) => filter
            .strip_prefix(&node_prefix(n))
            .is_some_and(|rest| !rest.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(n: &str) -> Role {
        Role::Node(n.into())
    }

    #[test]
    fn roles_parse_and_print() {
        for s in ["hub", "reader", "node:edge-1"] {
            assert_eq!(Role::parse(s).map(|r| r.as_column()), Some(s.to_string()));
        }
        for bad in ["", "admin", "node:", "node:a/b", "node:+", "node:#"] {
            assert_eq!(Role::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn client_ids_are_bound_to_roles() {
        let table = [
            (Role::Hub, "shoal-hub", true),
            (Role::Hub, "other", false),
            (Role::Hub, "shoal/v1/nodes/a/status", false),
            (node("a"), "shoal-node-a", true),
            (node("a"), "shoal-node-b", false),
            (node("a"), "shoal-node-ab", false),
            (node("a"), "a", false),
            (Role::Reader, "grafana-1", true),
            (Role::Reader, "", true),
            (Role::Reader, "shoal-hub", false),
            (Role::Reader, "shoal-node-a", false),
        ];
        for (role, id, ok) in table {
            assert_eq!(may_use_client_id(&role, id), ok, "{role:?} {id}");
        }
    }

    #[test]
    fn publish_rules() {
        let table = [
            (node("a"), "shoal/v1/nodes/a/status", true),
            (node("a"), "shoal/v1/nodes/a/online", true),
            (node("a"), "shoal/v1/nodes/a/pods/default/web/status", true),
            (node("a"), "shoal/v1/nodes/b/status", false),
            (node("a"), "shoal/v1/nodes/ab/status", false),
            (node("a"), "shoal/v1/nodes/a", false),
            (node("a"), "shoal/v1/nodes/a/", false),
            (node("a"), "shoal/v1/cluster/daemonsets/x", false),
            (node("a"), "other/topic", false),
            (Role::Reader, "shoal/v1/nodes/a/status", false),
            (Role::Reader, "anything", false),
            (Role::Hub, "shoal/v1/cluster/deployments/default/web", true),
            (Role::Hub, "other", false),
            (Role::Hub, "shoal/v1/nodes/a/status", false),
            (Role::Hub, "shoal/v1/#", false),
        ];
        for (role, topic, ok) in table {
            assert_eq!(may_publish(&role, topic), ok, "{role:?} {topic}");
        }
    }

    #[test]
    fn subscribe_rules() {
        let table = [
            (Role::Reader, "shoal/v1/nodes/#", true),
            (Role::Reader, "#", true),
            (Role::Hub, "shoal/v1/nodes/#", true),
            (node("a"), "shoal/v1/nodes/a/#", true),
            (node("a"), "shoal/v1/nodes/a/pods/+/+/status", true),
            (node("a"), "shoal/v1/nodes/#", false),
            (node("a"), "shoal/v1/nodes/+/status", false),
            (node("a"), "shoal/v1/nodes/b/#", false),
            (node("a"), "#", false),
            (Role::Reader, "", false),
        ];
        for (role, filter, ok) in table {
            assert_eq!(may_subscribe(&role, filter), ok, "{role:?} {filter}");
        }
    }
}
