//! Node name validation.
//!
//! A node name becomes a Kubernetes Node's `metadata.name`, the CN of the node certificate and
//! a segment of MQTT topics, so it must be a DNS-1123 subdomain, exactly as Kubernetes
//! requires: lowercase alphanumerics, `-` and `.`, each dot-separated label starting and ending
//! with an alphanumeric, at most 253 characters. That also keeps `/`, `+`, `#` and spaces out
//! of topics and certificate subjects.

/// Longest DNS-1123 subdomain.
pub const MAX_NODE_NAME_LEN: usize = 253;

/// Checks `name` is a DNS-1123 subdomain; the error says what is wrong and what is allowed.
pub fn validate_node_name(name: &str) -> Result<(), String> {
    const RULE: &str = "a node name must be a DNS-1123 subdomain: lowercase letters, digits, \
                        '-' and '.', starting and ending with a letter or digit, at most 253 characters";
    if name.is_empty() {
        return Err(format!("node name is empty; {RULE}"));
    }
    if name.len() > MAX_NODE_NAME_LEN {
        return Err(format!(
            "node name is {} characters long; {RULE}",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'))
    {
        return Err(format!("node name {name:?} contains {bad:?}; {RULE}"));
    }
    for label in name.split('.') {
        let ok_edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        if !ok_edge(label.chars().next()) || !ok_edge(label.chars().last()) {
            return Err(format!(
                "node name {name:?} has a part {label:?} that does not start and end with a \
                 letter or digit; {RULE}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_1123_subdomains() {
        for ok in [
            "a",
            "edge-1",
            "rpi4.lab.example",
            "0",
            "a-b.c-d",
            &"a".repeat(253),
        ] {
            assert_eq!(validate_node_name(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "Edge",
            "edge_1",
            "-edge",
            "edge-",
            "a..b",
            ".a",
            "a.",
            "a/b",
            "a+b",
            "a#",
            "a b",
            "ünï",
            &"a".repeat(254),
        ] {
            let err = validate_node_name(bad).expect_err(bad);
            assert!(err.contains("DNS-1123"), "{err}");
        }
    }
}
