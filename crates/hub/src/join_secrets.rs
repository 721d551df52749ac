//! Join tokens with a TTL: besides the token in `DATA/join-token`, the join handshake accepts
//! a secret whose SHA-256 is stored in a Secret of type `shoal.io/join-token` in
//! `kube-system` named `shoal-join-<first 20 hex digits of the digest>` (what `shoalctl token
//! create --join` writes), while its `expires-at` (ms since the epoch, `0` = never) has not
//! passed. Only the digest is stored; deleting the Secret revokes the token.

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};
use shoal_transport::token::secrets_equal;

use crate::resources::SECRETS;
use crate::store::Store;

pub const JOIN_SECRET_TYPE: &str = "shoal.io/join-token";
const NAMESPACE: &str = "kube-system";

fn digest_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `secret` is a join secret stored in `secret_object` (JSON) and valid at `now_ms`.
/// Pure.
pub fn matches(secret_object: &Value, secret: &str, now_ms: u64) -> bool {
    if secret_object["type"] != JOIN_SECRET_TYPE {
        return false;
    }
    let field = |k: &str| -> String {
        secret_object["data"][k]
            .as_str()
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default()
    };
    if !secrets_equal(&field("secret-sha256"), &digest_hex(secret)) {
        return false;
    }
    match field("expires-at").parse::<u64>() {
        Ok(0) => true,
        Ok(at) => at > now_ms,
        Err(_) => false,
    }
}

/// Whether the store holds a valid join Secret for `secret`.
pub fn valid(store: &Store, secret: &str, now_ms: u64) -> bool {
    if secret.is_empty() {
        return false;
    }
    let name = format!("shoal-join-{}", &digest_hex(secret)[..20]);
    store
        .get(&SECRETS, NAMESPACE, &name)
        .and_then(|o| serde_json::from_slice::<Value>(&o.json).ok())
        .is_some_and(|v| matches(&v, secret, now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn object(secret: &str, expires: u64) -> Value {
        json!({"type": JOIN_SECRET_TYPE, "data": {
            "secret-sha256": b(&digest_hex(secret)), "expires-at": b(&expires.to_string())}})
    }

    #[test]
    fn digest_type_and_expiry_decide() {
        let now = 1_800_000_000_000;
        assert!(
            matches(&object("s3cret", 0), "s3cret", now),
            "never expires"
        );
        assert!(matches(&object("s3cret", now + 1), "s3cret", now));
        assert!(!matches(&object("s3cret", now), "s3cret", now), "expired");
        assert!(!matches(&object("s3cret", 0), "other", now), "wrong secret");
        let mut wrong_type = object("s3cret", 0);
        wrong_type["type"] = json!("Opaque");
        assert!(!matches(&wrong_type, "s3cret", now));
        let mut garbled = object("s3cret", 0);
        garbled["data"]["expires-at"] = json!("!!!");
        assert!(!matches(&garbled, "s3cret", now));
    }
}
