//! First-start material in the hub's data directory, created once and reused after:
//!
//! ```text
//! DIR/pki/ca.crt, ca.key     the hub CA (signs the API/QUIC server cert and node certs)
//! DIR/pki/quic-reset.key     keys QUIC stateless resets, so agents see a restart at once
//! DIR/tokens.csv             API bearer tokens (Kubernetes static token file format)
//! DIR/admin.kubeconfig       kubeconfig for the cluster admin (kubectl, shoalctl, Python)
//! DIR/join-token             shoal1.<ca-hash>.<secret>: what agents join with
//! DIR/mqtt-users             MQTT credentials the embedded broker accepts (user:password:role)
//! DIR/mqtt-reader            user:password, read-only MQTT credentials for integrations
//! DIR/store/                 the object store
//! ```
//!
//! The server certificate is issued fresh at every start, for the addresses it serves on.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use base64::Engine;
use shoal_transport::pki::{self, CertAuthority, IssuedCert};
use shoal_transport::token::JoinToken;

use crate::api::auth::generate_token;

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("cannot create data directory {path}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("hub certificates")]
    Pki(#[from] pki::PkiError),
    #[error("join token in {path} is invalid: {problem}")]
    Token { path: PathBuf, problem: String },
}

pub struct Material {
    pub ca: CertAuthority,
    pub server_cert: IssuedCert,
    pub join_token: JoinToken,
    pub tokens_file: PathBuf,
    pub mqtt_users_file: PathBuf,
    pub kubeconfig: PathBuf,
    /// Keys QUIC stateless resets; stable across restarts.
    pub quic_reset_key: Vec<u8>,
}

fn write(path: &Path, contents: &str, private: bool) -> Result<(), BootstrapError> {
    if private {
        pki::write_private(path, contents.as_bytes())?;
        Ok(())
    } else {
        std::fs::write(path, contents).map_err(|source| BootstrapError::Write {
            path: path.to_path_buf(),
            source,
        })
    }
}

fn read(path: &Path) -> Result<String, BootstrapError> {
    std::fs::read_to_string(path).map_err(|source| BootstrapError::Read {
        path: path.to_path_buf(),
        source,
    })
}

pub fn random_secret(len: usize) -> String {
    use rand::distributions::Alphanumeric;
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Creates what is missing and loads the rest.
pub fn prepare(
    dir: &Path,
    api_addr: SocketAddr,
    quic_addr: SocketAddr,
) -> Result<Material, BootstrapError> {
    std::fs::create_dir_all(dir).map_err(|source| BootstrapError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let pki_dir = dir.join("pki");
    std::fs::create_dir_all(&pki_dir).map_err(|source| BootstrapError::CreateDir {
        path: pki_dir.clone(),
        source,
    })?;
    let ca = CertAuthority::load_or_generate(&pki_dir)?;
    let reset_path = pki_dir.join("quic-reset.key");
    let quic_reset_key = match std::fs::read(&reset_path) {
        Ok(k) if k.len() == 32 => k,
        _ => {
            let k: [u8; 32] = rand::random();
            pki::write_private(&reset_path, &k)?;
            k.to_vec()
        }
    };

    let mut ips: Vec<IpAddr> = vec![api_addr.ip(), quic_addr.ip(), IpAddr::from([127, 0, 0, 1])];
    ips.retain(|ip| !ip.is_unspecified());
    ips.dedup();
    let mut names = vec![hostname()];
    names.retain(|n| !n.is_empty());
    let server_cert = ca.issue_server_cert(&names, &ips)?;

    let tokens_file = dir.join("tokens.csv");
    let admin_token = if tokens_file.exists() {
        read(&tokens_file)?
            .lines()
            .find(|l| l.contains("system:masters"))
            .and_then(|l| l.split(',').next())
            .map(str::to_string)
            .unwrap_or_default()
    } else {
        let token = generate_token();
        write(
            &tokens_file,
            &format!("# token,user,uid,\"groups\"\n{token},admin,admin,\"system:masters\"\n"),
            true,
        )?;
        token
    };

    let kubeconfig = dir.join("admin.kubeconfig");
    if !kubeconfig.exists() {
        let server_host = if api_addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            api_addr.ip().to_string()
        };
        let server = format!(
            "https://{}",
            SocketAddr::new(
                server_host.parse().unwrap_or(IpAddr::from([127, 0, 0, 1])),
                api_addr.port()
            )
        );
        write(
            &kubeconfig,
            &kubeconfig_yaml(&server, &ca.cert_pem, "admin", &admin_token),
            true,
        )?;
    }

    let join_path = dir.join("join-token");
    let join_token = if join_path.exists() {
        let text = read(&join_path)?;
        let t = JoinToken::parse(text.trim()).map_err(|e| BootstrapError::Token {
            path: join_path.clone(),
            problem: e.to_string(),
        })?;
        if t.ca_hash != ca.ca_hash() {
            return Err(BootstrapError::Token {
                path: join_path,
                problem: "it pins a different CA than DIR/pki/ca.crt".into(),
            });
        }
        t
    } else {
        let t = JoinToken::generate(&ca.ca_hash()).map_err(|e| BootstrapError::Token {
            path: join_path.clone(),
            problem: e.to_string(),
        })?;
        write(&join_path, &format!("{t}\n"), true)?;
        t
    };

    let mqtt_users_file = dir.join("mqtt-users");
    let reader_path = dir.join("mqtt-reader");
    if !reader_path.exists() {
        let user = "reader".to_string();
        let pass = random_secret(24);
        write(&reader_path, &format!("{user}:{pass}\n"), true)?;
        append_mqtt_user(&mqtt_users_file, &user, &pass, "reader")?;
    }
    if !mqtt_users_file.exists() {
        write(&mqtt_users_file, "", true)?;
    }
    if !has_mqtt_role(&mqtt_users_file, "hub")? {
        append_mqtt_user(&mqtt_users_file, "shoal-hub", &random_secret(32), "hub")?;
    }
    Ok(Material {
        ca,
        server_cert,
        join_token,
        tokens_file,
        mqtt_users_file,
        kubeconfig,
        quic_reset_key,
    })
}

/// Appends `user:password:role` to the MQTT user file.
pub fn append_mqtt_user(
    path: &Path,
    user: &str,
    pass: &str,
    role: &str,
) -> Result<(), BootstrapError> {
    let mut text = if path.exists() {
        read(path)?
    } else {
        String::new()
    };
    text.retain(|c| c != '\r');
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| l.split(':').next() != Some(user))
        .map(str::to_string)
        .collect();
    lines.push(format!("{user}:{pass}:{role}"));
    write(path, &(lines.join("\n") + "\n"), true)
}

fn has_mqtt_role(path: &Path, role: &str) -> Result<bool, BootstrapError> {
    Ok(read(path)?
        .lines()
        .any(|l| l.rsplit(':').next() == Some(role)))
}

/// `(user, password, role)` entries of the MQTT user file.
pub fn mqtt_users(path: &Path) -> Result<Vec<(String, String, String)>, BootstrapError> {
    Ok(read(path)?
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            Some((
                it.next()?.to_string(),
                it.next()?.to_string(),
                it.next()?.to_string(),
            ))
        })
        .collect())
}

pub fn kubeconfig_yaml(server: &str, ca_pem: &str, user: &str, token: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes());
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: shoal\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: {user}\n  user:\n    token: {token}\ncontexts:\n- name: shoal\n  context:\n    cluster: shoal\n    user: {user}\n    namespace: default\ncurrent-context: shoal\n"
    )
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_writes_everything_and_second_start_reuses_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let api: SocketAddr = "127.0.0.1:6443".parse().expect("addr");
        let quic: SocketAddr = "127.0.0.1:7443".parse().expect("addr");
        let m1 = prepare(dir.path(), api, quic).expect("first start");
        for f in [
            "admin.kubeconfig",
            "join-token",
            "tokens.csv",
            "mqtt-reader",
            "mqtt-users",
            "pki/ca.crt",
        ] {
            assert!(dir.path().join(f).exists(), "{f} missing");
        }
        let kc = std::fs::read_to_string(dir.path().join("admin.kubeconfig")).expect("read");
        assert!(kc.contains("server: https://127.0.0.1:6443"));
        let reader = std::fs::read_to_string(dir.path().join("mqtt-reader")).expect("read");
        assert!(reader.trim().starts_with("reader:"));
        let m2 = prepare(dir.path(), api, quic).expect("second start");
        assert_eq!(m1.join_token.to_string(), m2.join_token.to_string());
        assert_eq!(m1.ca.cert_pem, m2.ca.cert_pem);
        let users = mqtt_users(&m2.mqtt_users_file).expect("users");
        assert_eq!(users.iter().filter(|u| u.2 == "hub").count(), 1);
        assert_eq!(users.iter().filter(|u| u.2 == "reader").count(), 1);
    }
}
