//! Join tokens with a TTL for `shoalctl token create --join [--ttl D]`.
//!
//! A join token is what `shoal-agent --token-file` takes: `shoal1.<ca-hash>.<secret>`, the
//! SHA-256 of the hub's CA certificate (DER, taken from the kubeconfig's CA) and 32 random
//! alphanumerics. Like user tokens, only the secret's SHA-256 is stored, in a Secret of type
//! `shoal.io/join-token` in `kube-system` named `shoal-join-<first 20 hex digits>`:
//!
//! | key             | value                                               |
//! | --------------- | --------------------------------------------------- |
//! | `secret-sha256` | lowercase hex SHA-256 of the secret                 |
//! | `expires-at`    | milliseconds since the Unix epoch, or `0` for never |
//!
//! The label `shoal.io/token-user: node-join` and the roles/expiry annotations make these
//! Secrets show in `token list` beside user tokens, and `token revoke --user node-join`
//! revokes them all; deleting the Secret revokes one. The hub's join handshake accepts such a
//! secret while it has not expired, besides the one in `DATA/join-token`.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::token::{
    b64, digest_hex, rfc3339_ms, EXPIRES_ANNOTATION, NAMESPACE, ROLES_ANNOTATION, USER_LABEL,
};

/// Secret type of join tokens.
pub const JOIN_SECRET_TYPE: &str = "shoal.io/join-token";
/// The "user" join tokens are listed under.
pub const JOIN_USER: &str = "node-join";
/// Characters in a join secret (the agent's token format).
pub const JOIN_SECRET_LEN: usize = 32;

/// A new join secret from the operating system's randomness.
pub fn generate_secret() -> String {
    use rand::distributions::Alphanumeric;
    use rand::Rng;
    rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(JOIN_SECRET_LEN)
        .map(char::from)
        .collect()
}

/// `shoal1.<hex sha256 of the CA's DER>.<secret>` (pure).
pub fn token_string(ca_der: &[u8], secret: &str) -> String {
    let hash: String = Sha256::digest(ca_der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("shoal1.{hash}.{secret}")
}

/// The Secret name of a join secret.
pub fn secret_name(secret: &str) -> String {
    format!("shoal-join-{}", &digest_hex(secret)[..20])
}

/// The Secret that makes `secret` a valid join secret until `expires_at_ms` (pure).
pub fn join_secret(secret: &str, expires_at_ms: Option<u64>) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": JOIN_SECRET_TYPE,
        "metadata": {
            "name": secret_name(secret),
            "namespace": NAMESPACE,
            "labels": {USER_LABEL: JOIN_USER},
            "annotations": {
                USER_LABEL: JOIN_USER,
                ROLES_ANNOTATION: "join nodes",
                EXPIRES_ANNOTATION: expires_at_ms.map_or_else(|| "never".to_string(), rfc3339_ms),
            },
        },
        "data": {
            "secret-sha256": b64(&digest_hex(secret)),
            "expires-at": b64(&expires_at_ms.unwrap_or(0).to_string()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_pins_the_ca_and_the_secret_holds_only_a_digest() {
        let secret = generate_secret();
        assert_eq!(secret.len(), 32);
        assert!(secret.chars().all(|c| c.is_ascii_alphanumeric()));
        let t = token_string(b"der bytes", &secret);
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts[0], "shoal1");
        assert_eq!(parts[1].len(), 64);
        assert_eq!(parts[2], secret);
        let s = join_secret(&secret, Some(1_700_000_000_000));
        assert_eq!(s["type"], JOIN_SECRET_TYPE);
        assert_eq!(s["metadata"]["name"], secret_name(&secret));
        assert!(
            !s.to_string().contains(&secret),
            "the secret itself is not stored"
        );
        let info = super::super::token::TokenInfo::from_secret(&s);
        assert_eq!(info.user, JOIN_USER);
        assert_eq!(info.roles, "join nodes");
    }
}
