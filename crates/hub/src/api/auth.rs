//! Bearer-token authentication.
//!
//! Two sources:
//! - `DATA/tokens.csv` in the Kubernetes static token file format
//!   (`token,user,uid,"group1,group2"`): the admin token written at first start.
//! - User tokens issued at run time (`shoalctl token create`), kept in the store as Secrets of
//!   type `shoal.io/user-token` in `kube-system` (only cluster admins can reach that
//!   namespace). A Secret holds the token's SHA-256, never the token, and is named after the
//!   digest, so a lookup is one store read; deleting it revokes the token, and an
//!   `expires-at` in the past makes it fail as expired.
//!
//! Only SHA-256 digests of tokens are compared, so request timing reveals nothing about a
//! token's bytes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;

use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.groups.iter().any(|g| g == "system:masters")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthFileError {
    #[error("cannot read token file {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("token file {path} line {line}: {problem}")]
    Parse {
        path: String,
        line: usize,
        problem: String,
    },
}

/// Secret type of run-time user tokens.
pub const TOKEN_SECRET_TYPE: &str = "shoal.io/user-token";
/// Namespace holding the token Secrets.
pub const TOKEN_NAMESPACE: &str = "kube-system";

/// Name of the Secret for a token with this SHA-256 (hex).
pub fn token_secret_name(digest_hex: &str) -> String {
    format!("shoal-token-{}", &digest_hex[..digest_hex.len().min(20)])
}

/// SHA-256 of a token, hex.
pub fn token_digest_hex(token: &str) -> String {
    digest(token).iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a request is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// No bearer token, or an unknown one.
    Unknown,
    /// A known token past its expiry.
    Expired,
}

#[derive(Default)]
pub struct Authenticator {
    by_digest: RwLock<HashMap<[u8; 32], User>>,
    store: Option<crate::store::Store>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Authenticator {
    pub fn load(path: &Path) -> Result<Self, AuthFileError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| AuthFileError::Read {
            path: p.clone(),
            source,
        })?;
        let auth = Authenticator::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (token, user) = parse_line(line).map_err(|problem| AuthFileError::Parse {
                path: p.clone(),
                line: i + 1,
                problem,
            })?;
            auth.add(&token, user);
        }
        Ok(auth)
    }

    /// Also accept the user tokens kept in `store`.
    pub fn with_store(mut self, store: crate::store::Store) -> Self {
        self.store = Some(store);
        self
    }

    pub fn add(&self, token: &str, user: User) {
        self.by_digest
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(digest(token), user);
    }

    /// The user for an `Authorization` header value, if it carries a known bearer token.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<User, AuthFailure> {
        let token = authorization
            .and_then(|a| a.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        if token.is_empty() {
            return Err(AuthFailure::Unknown);
        }
        let d = digest(token);
        if let Some(u) = self
            .by_digest
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&d)
        {
            return Ok(u.clone());
        }
        let Some(store) = &self.store else {
            return Err(AuthFailure::Unknown);
        };
        let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
        let secret = store
            .get(
                &crate::resources::SECRETS,
                TOKEN_NAMESPACE,
                &token_secret_name(&hex),
            )
            .ok_or(AuthFailure::Unknown)?;
        user_from_secret(&secret.value(), &hex, shoal_transport::status::now_ms())
    }
}

/// Reads a token Secret: its type and digest must match, and it must not have expired.
fn user_from_secret(
    v: &serde_json::Value,
    digest_hex: &str,
    now_ms: u64,
) -> Result<User, AuthFailure> {
    use base64::Engine;
    if v.get("type").and_then(|t| t.as_str()) != Some(TOKEN_SECRET_TYPE) {
        return Err(AuthFailure::Unknown);
    }
    let field = |k: &str| -> String {
        v.pointer(&format!("/data/{k}"))
            .and_then(|x| x.as_str())
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    if !secrets_match(&field("token-sha256"), digest_hex) {
        return Err(AuthFailure::Unknown);
    }
    if let Ok(exp) = field("expires-at").parse::<u64>() {
        if exp > 0 && exp <= now_ms {
            return Err(AuthFailure::Expired);
        }
    }
    let user = field("user");
    if user.is_empty() {
        return Err(AuthFailure::Unknown);
    }
    let groups = field("groups")
        .split(',')
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty())
        .collect();
    Ok(User {
        uid: user.clone(),
        name: user,
        groups,
    })
}

fn secrets_match(a: &str, b: &str) -> bool {
    shoal_transport::token::secrets_equal(a, b)
}

/// `token,user,uid,"g1,g2"` (groups optional).
fn parse_line(line: &str) -> Result<(String, User), String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    fields.push(cur);
    if fields.len() < 3 {
        return Err("expected token,user,uid[,\"groups\"]".into());
    }
    let groups = fields
        .get(3)
        .map(|g| {
            g.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if fields[0].len() < 16 {
        return Err("token is shorter than 16 characters".into());
    }
    Ok((
        fields[0].clone(),
        User {
            name: fields[1].clone(),
            uid: fields[2].clone(),
            groups,
        },
    ))
}

/// A new random token (48 alphanumeric characters).
pub fn generate_token() -> String {
    use rand::distributions::Alphanumeric;
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(48)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_static_token_format() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.csv");
        std::fs::write(
            &path,
            "# comment\nabcdefghijklmnop1234,admin,1,\"system:masters,ops\"\n",
        )
        .expect("write");
        let auth = Authenticator::load(&path).expect("loads");
        let u = auth
            .authenticate(Some("Bearer abcdefghijklmnop1234"))
            .expect("known token");
        assert_eq!(u.name, "admin");
        assert!(u.is_admin());
        assert_eq!(u.groups, vec!["system:masters", "ops"]);
        assert_eq!(
            auth.authenticate(Some("Bearer wrong")),
            Err(AuthFailure::Unknown)
        );
        assert!(auth
            .authenticate(Some("Basic abcdefghijklmnop1234"))
            .is_err());
        assert!(auth.authenticate(None).is_err());
    }

    #[test]
    fn token_secrets_carry_users_and_expire() {
        use base64::Engine;
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let hex = token_digest_hex("secret-token-value-1234");
        let secret = |exp: &str| {
            serde_json::json!({"type": TOKEN_SECRET_TYPE, "data": {
            "token-sha256": b(&hex), "user": b("alice"), "groups": b("shoal:ns:a:edit"), "expires-at": b(exp)}})
        };
        let u = user_from_secret(&secret(""), &hex, 1000).expect("valid");
        assert_eq!(u.name, "alice");
        assert_eq!(u.groups, vec!["shoal:ns:a:edit"]);
        assert_eq!(
            user_from_secret(&secret("999"), &hex, 1000),
            Err(AuthFailure::Expired)
        );
        assert!(user_from_secret(&secret("2000"), &hex, 1000).is_ok());
        assert_eq!(
            user_from_secret(&secret(""), &token_digest_hex("other"), 1000),
            Err(AuthFailure::Unknown)
        );
        let mut wrong_type = secret("");
        wrong_type["type"] = serde_json::json!("Opaque");
        assert_eq!(
            user_from_secret(&wrong_type, &hex, 1000),
            Err(AuthFailure::Unknown)
        );
    }

    #[test]
    fn rejects_bad_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.csv");
        std::fs::write(&path, "short,admin,1\n").expect("write");
        assert!(matches!(
            Authenticator::load(&path),
            Err(AuthFileError::Parse { line: 1, .. })
        ));
    }
}
