//! Credentials for an external Mosquitto: the hub writes a `mosquitto_passwd`-compatible
//! password file and a matching ACL file under `DATA/mosquitto/`, from the same users the
//! embedded broker accepts ([`MqttUsers`]), at start and whenever a node joins.
//!
//! Point Mosquitto at them (`password_file` / `acl_file`, see `configs/mosquitto/`) and make
//! it re-read them on `SIGHUP` after a node joined (Mosquitto has no other reload).
//!
//! Design: the hub cannot tell Mosquitto about a new user, so the files are the contract.
//! Passwords are PBKDF2-SHA512 with 101 rounds and a 12-byte salt (`$7$`, what
//! `mosquitto_passwd` writes). The ACL grants exactly what [`crate::broker_acl`] grants on the
//! embedded broker: nodes read and write their own subtree, readers read everything, the hub
//! reads the node tree and writes the cluster summaries. Files are replaced atomically
//! (written to a temporary name, then renamed), mode 0600.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::broker::{MqttUser, MqttUsers};
use crate::broker_acl::{node_prefix, Role};
use shoal_transport::status::TOPIC_ROOT;

/// PBKDF2 rounds Mosquitto uses by default.
pub const ROUNDS: u32 = 101;

#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}")]
pub struct WriteError {
    path: PathBuf,
    source: std::io::Error,
}

/// One password file line (`user:$7$101$salt$hash`) for `pass` with `salt`.
pub fn passwd_line(user: &str, pass: &str, salt: &[u8]) -> String {
    let mut hash = [0u8; 64];
    let rounds = NonZeroU32::new(ROUNDS).unwrap_or(NonZeroU32::MIN);
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA512,
        rounds,
        salt,
        pass.as_bytes(),
        &mut hash,
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    format!(
        "{user}:$7${ROUNDS}${}${}",
        b64.encode(salt),
        b64.encode(hash)
    )
}

/// The ACL file for `users` (Mosquitto `acl_file` syntax).
pub fn acl_text(users: &[MqttUser]) -> String {
    let mut out = String::from(
        "# Written by shoal-hub from DATA/mqtt-users; edits are overwritten.\n\
         # Anonymous clients get nothing.\n\n",
    );
    for u in users {
        out.push_str(&format!("user {}\n", u.username));
        match &u.role {
            Role::Hub => {
                out.push_str(&format!("topic read {TOPIC_ROOT}/nodes/#\n"));
                out.push_str(&format!("topic readwrite {TOPIC_ROOT}/cluster/#\n"));
            }
            Role::Reader => out.push_str("topic read #\n"),
            Role::Node(n) => out.push_str(&format!("topic readwrite {}#\n", node_prefix(n))),
        }
        out.push('\n');
    }
    out
}

/// The password file for `users`, each with a fresh random salt.
pub fn passwd_text(users: &[MqttUser]) -> String {
    use rand::RngCore;
    let mut out = String::new();
    for u in users {
        let mut salt = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut salt);
        out.push_str(&passwd_line(&u.username, &u.password, &salt));
        out.push('\n');
    }
    out
}

/// Writes `dir/passwd` and `dir/acl` for every user `users` knows.
pub fn write(dir: &Path, users: &MqttUsers) -> Result<(), WriteError> {
    let all = users.all();
    std::fs::create_dir_all(dir).map_err(|source| WriteError {
        path: dir.to_path_buf(),
        source,
    })?;
    replace(&dir.join("passwd"), &passwd_text(&all))?;
    replace(&dir.join("acl"), &acl_text(&all))
}

fn replace(path: &Path, text: &str) -> Result<(), WriteError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    let err = |source| WriteError {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines_match_mosquitto_passwd() {
        // `mosquitto_passwd -b` wrote this line for alice / secret.
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = b64.decode("Q9IVsAlGkKz8+HkC").expect("salt");
        assert_eq!(
            passwd_line("alice", "secret", &salt),
            "alice:$7$101$Q9IVsAlGkKz8+HkC$PMM8RzUoHxXZ5XVxRRyrBs0dOVud6HEhRa8cWqrLoNzKBZ5ahxxWwsz3IddePWJ8IVoTONlDD+U8Jq9C/CznUw=="
        );
    }

    #[test]
    fn acl_grants_what_the_embedded_broker_grants() {
        let user = |u: &str, role: Role| MqttUser {
            username: u.into(),
            password: "x".into(),
            role,
        };
        let text = acl_text(&[
            user("shoal-hub", Role::Hub),
            user("reader", Role::Reader),
            user("node-a", Role::Node("a".into())),
        ]);
        assert!(text.contains("user node-a\ntopic readwrite shoal/v1/nodes/a/#\n"));
        assert!(text.contains("user reader\ntopic read #\n"));
        assert!(text.contains(
            "user shoal-hub\ntopic read shoal/v1/nodes/#\ntopic readwrite shoal/v1/cluster/#\n"
        ));
        assert!(!text.contains("pattern"));
    }
}
