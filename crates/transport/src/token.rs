//! Join tokens: `shoal1.<ca-hash-hex>.<secret>`.
//!
//! One string carries both halves of a trust-on-nothing join, like kubeadm's
//! `--token` + `--discovery-token-ca-cert-hash`:
//! - the **CA hash** (64 lowercase hex digits of SHA-256 over the hub CA's DER) lets the agent
//!   authenticate the hub before it sends anything (see `quic::join_client_config`);
//! - the **secret** (32 random alphanumerics) lets the hub authenticate the agent.
//!
//! The hub compares secrets with [`secrets_equal`], which takes the same time wherever the
//! strings differ. `Debug` of a token hides the secret; `Display` prints the whole token
//! (that is what gets written to `join-token`).

use std::fmt;

use rand::distributions::Alphanumeric;
use rand::Rng;

/// Prefix and format version of a token.
pub const TOKEN_PREFIX: &str = "shoal1";
/// Number of characters in a token secret.
pub const SECRET_LEN: usize = 32;
/// Prefix of a CA hash as [`crate::pki::ca_hash`] writes it.
pub const CA_HASH_PREFIX: &str = "sha256:";

const FORMAT: &str = "a join token must look like shoal1.<64 hex digits>.<32 letters or digits>";

/// Errors of parsing or building a join token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("join token is empty; {FORMAT}")]
    Empty,
    #[error("join token has {parts} dot-separated parts instead of 3; {FORMAT}")]
    Parts { parts: usize },
    #[error("join token starts with {prefix:?} instead of \"shoal1\"; {FORMAT}")]
    Prefix { prefix: String },
    #[error("join token's CA hash is not 64 hex digits ({len} characters); {FORMAT}")]
    CaHash { len: usize },
    #[error("CA hash {value:?} must look like sha256:<64 hex digits>")]
    CaHashFormat { value: String },
    #[error("join token's secret must be {SECRET_LEN} letters or digits (found {len} characters); {FORMAT}")]
    Secret { len: usize },
}

/// A parsed join token.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// `sha256:<64 lowercase hex>` of the hub CA certificate.
    pub ca_hash: String,
    /// The shared secret the agent presents in its `JoinRequest`.
    pub secret: String,
}

impl JoinToken {
    /// A fresh token for the CA with this hash (`sha256:<hex>`).
    pub fn generate(ca_hash: &str) -> Result<JoinToken, TokenError> {
        let ca_hash = normalize_ca_hash(ca_hash)?;
        let secret: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(SECRET_LEN)
            .map(char::from)
            .collect();
        Ok(JoinToken { ca_hash, secret })
    }

    /// Parses `shoal1.<hex>.<secret>`; surrounding whitespace (a trailing newline in a
    /// token file) is ignored.
    pub fn parse(s: &str) -> Result<JoinToken, TokenError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(TokenError::Empty);
        }
        let parts: Vec<&str> = s.split('.').collect();
        let [prefix, hash_hex, secret] = parts.as_slice() else {
            return Err(TokenError::Parts { parts: parts.len() });
        };
        if *prefix != TOKEN_PREFIX {
            return Err(TokenError::Prefix {
                prefix: prefix.chars().take(16).collect(),
            });
        }
        if hash_hex.len() != 64 || !hash_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TokenError::CaHash {
                len: hash_hex.chars().count(),
            });
        }
        if secret.len() != SECRET_LEN || !secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(TokenError::Secret {
                len: secret.chars().count(),
            });
        }
        Ok(JoinToken {
            ca_hash: format!("{CA_HASH_PREFIX}{}", hash_hex.to_ascii_lowercase()),
            secret: secret.to_string(),
        })
    }

    /// The 64 hex digits of the CA hash, without `sha256:`.
    pub fn ca_hash_hex(&self) -> &str {
        self.ca_hash
            .strip_prefix(CA_HASH_PREFIX)
            .unwrap_or(&self.ca_hash)
    }

    /// Whether `candidate` is this token's secret, in constant time.
    pub fn secret_matches(&self, candidate: &str) -> bool {
        secrets_equal(&self.secret, candidate)
    }
}

impl fmt::Display for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{TOKEN_PREFIX}.{}.{}", self.ca_hash_hex(), self.secret)
    }
}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinToken")
            .field("ca_hash", &self.ca_hash)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl std::str::FromStr for JoinToken {
    type Err = TokenError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JoinToken::parse(s)
    }
}

/// Checks a CA hash is `sha256:<64 hex>` and returns it lowercased.
pub fn normalize_ca_hash(value: &str) -> Result<String, TokenError> {
    let bad = || TokenError::CaHashFormat {
        value: value.chars().take(80).collect(),
    };
    let hex = value.strip_prefix(CA_HASH_PREFIX).ok_or_else(bad)?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok(format!("{CA_HASH_PREFIX}{}", hex.to_ascii_lowercase()))
}

/// Compares two secrets in time that depends only on their lengths, not on where they
/// differ.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    // Design: fold every byte difference together; no early exit.
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn generate_display_parse_round_trip() {
        let t = JoinToken::generate(HASH).expect("token");
        assert_eq!(t.secret.len(), SECRET_LEN);
        assert!(t.secret.bytes().all(|b| b.is_ascii_alphanumeric()));
        let s = t.to_string();
        assert!(s.starts_with("shoal1.e3b0c442"), "{s}");
        assert_eq!(JoinToken::parse(&format!("  {s}\n")).expect("parses"), t);
        let other = JoinToken::generate(HASH).expect("token");
        assert_ne!(t.secret, other.secret, "secrets are random");
    }

    #[test]
    fn parse_errors_are_specific() {
        let secret = "a".repeat(32);
        let hex = &HASH[7..];
        assert_eq!(JoinToken::parse(" \n"), Err(TokenError::Empty));
        assert_eq!(JoinToken::parse("abc"), Err(TokenError::Parts { parts: 1 }));
        assert!(matches!(
            JoinToken::parse(&format!("shoal2.{hex}.{secret}")),
            Err(TokenError::Prefix { .. })
        ));
        assert_eq!(
            JoinToken::parse(&format!("shoal1.abc.{secret}")),
            Err(TokenError::CaHash { len: 3 })
        );
        let nonhex = "g".repeat(64);
        assert!(matches!(
            JoinToken::parse(&format!("shoal1.{nonhex}.{secret}")),
            Err(TokenError::CaHash { .. })
        ));
        assert_eq!(
            JoinToken::parse(&format!("shoal1.{hex}.short")),
            Err(TokenError::Secret { len: 5 })
        );
        let bad_secret = format!("{}-", "a".repeat(31));
        assert!(matches!(
            JoinToken::parse(&format!("shoal1.{hex}.{bad_secret}")),
            Err(TokenError::Secret { .. })
        ));
        let msg = JoinToken::parse("abc").expect_err("bad").to_string();
        assert!(msg.contains("shoal1.<64 hex digits>"), "{msg}");
    }

    #[test]
    fn uppercase_hash_is_normalized() {
        let upper = HASH[7..].to_ascii_uppercase();
        let t = JoinToken::parse(&format!("shoal1.{upper}.{}", "Z".repeat(32))).expect("parses");
        assert_eq!(t.ca_hash, HASH);
        assert!(JoinToken::generate("md5:abc").is_err());
        assert!(JoinToken::generate(&HASH[7..]).is_err(), "prefix required");
    }

    #[test]
    fn secret_comparison() {
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("abc", "abcd"));
        assert!(secrets_equal("", ""));
        let t = JoinToken::generate(HASH).expect("token");
        assert!(t.secret_matches(&t.secret.clone()));
        assert!(!t.secret_matches("nope"));
    }

    #[test]
    fn debug_hides_the_secret() {
        let t = JoinToken::generate(HASH).expect("token");
        let dbg = format!("{t:?}");
        assert!(!dbg.contains(&t.secret), "{dbg}");
    }
}
