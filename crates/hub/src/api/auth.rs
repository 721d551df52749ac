//! Bearer-token authentication.
//!
//! Tokens live in `DATA/tokens.csv` in the Kubernetes static token file format
//! (`token,user,uid,"group1,group2"`). Only SHA-256 digests of tokens are held in memory and
//! looked up, so request timing reveals nothing about a token's bytes.

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
    Read { path: String, source: std::io::Error },
    #[error("token file {path} line {line}: {problem}")]
    Parse { path: String, line: usize, problem: String },
}

#[derive(Default)]
pub struct Authenticator {
    by_digest: RwLock<HashMap<[u8; 32], User>>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Authenticator {
    pub fn load(path: &Path) -> Result<Self, AuthFileError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| AuthFileError::Read { path: p.clone(), source })?;
        let auth = Authenticator::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (token, user) = parse_line(line).map_err(|problem| AuthFileError::Parse { path: p.clone(), line: i + 1, problem })?;
            auth.add(&token, user);
        }
        Ok(auth)
    }

    pub fn add(&self, token: &str, user: User) {
        self.by_digest.write().unwrap_or_else(|e| e.into_inner()).insert(digest(token), user);
    }

    /// The user for an `Authorization` header value, if it carries a known bearer token.
    pub fn authenticate(&self, authorization: Option<&str>) -> Option<User> {
        let token = authorization?.strip_prefix("Bearer ")?.trim();
        if token.is_empty() {
            return None;
        }
        self.by_digest.read().unwrap_or_else(|e| e.into_inner()).get(&digest(token)).cloned()
    }
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
    let groups = fields.get(3).map(|g| g.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()).unwrap_or_default();
    if fields[0].len() < 16 {
        return Err("token is shorter than 16 characters".into());
    }
    Ok((fields[0].clone(), User { name: fields[1].clone(), uid: fields[2].clone(), groups }))
}

/// A new random token (48 alphanumeric characters).
pub fn generate_token() -> String {
    use rand::distributions::Alphanumeric;
    use rand::Rng;
    rand::thread_rng().sample_iter(&Alphanumeric).take(48).map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_static_token_format() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.csv");
        std::fs::write(&path, "# comment\nabcdefghijklmnop1234,admin,1,\"system:masters,ops\"\n").expect("write");
        let auth = Authenticator::load(&path).expect("loads");
        let u = auth.authenticate(Some("Bearer abcdefghijklmnop1234")).expect("known token");
        assert_eq!(u.name, "admin");
        assert!(u.is_admin());
        assert_eq!(u.groups, vec!["system:masters", "ops"]);
        assert!(auth.authenticate(Some("Bearer wrong")).is_none());
        assert!(auth.authenticate(Some("Basic abcdefghijklmnop1234")).is_none());
        assert!(auth.authenticate(None).is_none());
    }

    #[test]
    fn rejects_bad_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.csv");
        std::fs::write(&path, "short,admin,1\n").expect("write");
        assert!(matches!(Authenticator::load(&path), Err(AuthFileError::Parse { line: 1, .. })));
    }
}
