//! The node's identity on disk: what a successful join leaves in the data directory and what
//! every later start reads back.
//!
//! ```text
//! DIR/pki/ca.crt     the hub CA (PEM), the only CA the agent trusts after joining
//! DIR/pki/node.crt   the node certificate (PEM, CN = node name), signed by the hub CA
//! DIR/pki/node.key   the node's private key (PKCS#8 PEM, mode 0600); it never leaves the device
//! DIR/mqtt.json      MQTT broker URL, credentials and (for mqtts://) the broker's CA, from the join
//! ```
//!
//! Each file is written to a temporary name, fsynced and renamed into place, and `mqtt.json` is
//! written last: a node counts as joined only when all four files exist, so a crash in the
//! middle of saving leaves a node that simply joins again.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use shoal_transport::pki::{self, PkiError};
use shoal_transport::wire::MqttCredentials;

const CA_FILE: &str = "ca.crt";
const CERT_FILE: &str = "node.crt";
const KEY_FILE: &str = "node.key";
const MQTT_FILE: &str = "mqtt.json";

/// Errors of reading or writing the node's credentials.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("reading {path} failed")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {path} failed")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the private key {path} failed")]
    WriteKey {
        path: PathBuf,
        #[source]
        source: PkiError,
    },
    #[error("{path} is not valid MQTT credentials JSON; remove the data directory's pki/ and mqtt.json to join again")]
    Mqtt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path} does not hold a usable {what}; remove the data directory's pki/ and mqtt.json to join again")]
    Pki {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: PkiError,
    },
    #[error("{path} is not a shoal node certificate; remove the data directory's pki/ and mqtt.json to join again")]
    NotANodeCert { path: PathBuf },
    #[error("this data directory belongs to node {joined_as:?}, not {node_name:?}: use --node-name {joined_as} or another --data-dir")]
    OtherNode {
        joined_as: String,
        node_name: String,
    },
}

/// Everything a joined node needs to talk to its hub.
#[derive(Clone, PartialEq, Eq)]
pub struct NodeCredentials {
    pub ca_cert_pem: String,
    pub node_cert_pem: String,
    pub node_key_pem: String,
    pub mqtt: MqttCredentials,
}

impl std::fmt::Debug for NodeCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCredentials")
            .field("mqtt_url", &self.mqtt.url)
            .field("mqtt_username", &self.mqtt.username)
            .field("secrets", &"[redacted]")
            .finish()
    }
}

/// Where the credentials live under a data directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialPaths {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub mqtt: PathBuf,
}

impl CredentialPaths {
    pub fn new(data_dir: &Path) -> Self {
        let pki = data_dir.join("pki");
        CredentialPaths {
            ca: pki.join(CA_FILE),
            cert: pki.join(CERT_FILE),
            key: pki.join(KEY_FILE),
            mqtt: data_dir.join(MQTT_FILE),
        }
    }

    fn all(&self) -> [&Path; 4] {
        [&self.ca, &self.cert, &self.key, &self.mqtt]
    }
}

/// Loads the credentials of `node_name`; `Ok(None)` when the node has not (completely) joined.
/// Fails when the files exist but are unusable or were issued to another node. Blocks.
pub fn load(data_dir: &Path, node_name: &str) -> Result<Option<NodeCredentials>, CredentialsError> {
    let paths = CredentialPaths::new(data_dir);
    if !paths.all().iter().all(|p| p.exists()) {
        return Ok(None);
    }
    let read = |path: &Path| {
        fs::read_to_string(path).map_err(|source| CredentialsError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let creds = NodeCredentials {
        ca_cert_pem: read(&paths.ca)?,
        node_cert_pem: read(&paths.cert)?,
        node_key_pem: read(&paths.key)?,
        mqtt: serde_json::from_str(&read(&paths.mqtt)?).map_err(|source| {
            CredentialsError::Mqtt {
                path: paths.mqtt.clone(),
                source,
            }
        })?,
    };
    pki::first_cert_der(&creds.ca_cert_pem, "CA").map_err(|source| CredentialsError::Pki {
        what: "CA certificate",
        path: paths.ca.clone(),
        source,
    })?;
    pki::NodeKey::from_pem(&creds.node_key_pem).map_err(|source| CredentialsError::Pki {
        what: "node key",
        path: paths.key.clone(),
        source,
    })?;
    let joined_as = node_name_of(&creds.node_cert_pem, &paths.cert)?;
    if joined_as != node_name {
        return Err(CredentialsError::OtherNode {
            joined_as,
            node_name: node_name.to_string(),
        });
    }
    Ok(Some(creds))
}

/// The node name a node certificate was issued for.
pub fn node_name_of(cert_pem: &str, path: &Path) -> Result<String, CredentialsError> {
    let der = pki::first_cert_der(cert_pem, "node").map_err(|source| CredentialsError::Pki {
        what: "node certificate",
        path: path.to_path_buf(),
        source,
    })?;
    pki::node_name_from_cert(&der).ok_or_else(|| CredentialsError::NotANodeCert {
        path: path.to_path_buf(),
    })
}

/// Saves freshly issued credentials (see the module docs for order and atomicity). Blocks.
pub fn save(data_dir: &Path, creds: &NodeCredentials) -> Result<(), CredentialsError> {
    let paths = CredentialPaths::new(data_dir);
    let pki_dir = data_dir.join("pki");
    fs::create_dir_all(&pki_dir).map_err(|source| CredentialsError::Write {
        path: pki_dir.clone(),
        source,
    })?;
    // Design: mqtt.json is the "joined" marker and goes last; the key goes first so a
    // certificate is never on disk without the key it certifies.
    let key_tmp = tmp_path(&paths.key);
    pki::write_private(&key_tmp, creds.node_key_pem.as_bytes()).map_err(|source| {
        CredentialsError::WriteKey {
            path: key_tmp.clone(),
            source,
        }
    })?;
    rename(&key_tmp, &paths.key)?;
    write_atomic(&paths.ca, creds.ca_cert_pem.as_bytes())?;
    write_atomic(&paths.cert, creds.node_cert_pem.as_bytes())?;
    sync_dir(&pki_dir)?;
    let mqtt = serde_json::to_vec_pretty(&creds.mqtt).map_err(|source| CredentialsError::Mqtt {
        path: paths.mqtt.clone(),
        source,
    })?;
    write_atomic(&paths.mqtt, &mqtt)?;
    sync_dir(data_dir)
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CredentialsError> {
    let tmp = tmp_path(path);
    let err = |source| CredentialsError::Write {
        path: tmp.clone(),
        source,
    };
    let mut f = fs::File::create(&tmp).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    rename(&tmp, path)
}

fn rename(from: &Path, to: &Path) -> Result<(), CredentialsError> {
    fs::rename(from, to).map_err(|source| CredentialsError::Write {
        path: to.to_path_buf(),
        source,
    })
}

fn sync_dir(dir: &Path) -> Result<(), CredentialsError> {
    let err = |source| CredentialsError::Write {
        path: dir.to_path_buf(),
        source,
    };
    fs::File::open(dir).map_err(err)?.sync_all().map_err(err)
}

#[cfg(test)]
mod tests {
    use shoal_transport::pki::{CertAuthority, NodeKey};

    use super::*;

    fn issue(node: &str) -> NodeCredentials {
        let ca = CertAuthority::generate("test-ca").expect("ca");
        let key = NodeKey::generate().expect("key");
        let cert = ca
            .sign_node_csr(&key.csr_pem(node).expect("csr"), node)
            .expect("sign");
        NodeCredentials {
            ca_cert_pem: ca.cert_pem.clone(),
            node_cert_pem: cert,
            node_key_pem: key.key_pem().to_string(),
            mqtt: MqttCredentials {
                url: "mqtt://:1883".into(),
                username: node.into(),
                password: "pw".into(),
                ca_pem: "-----BEGIN CERTIFICATE-----\nMQTT CA\n".into(),
            },
        }
    }

    #[test]
    fn save_then_load_round_trips_with_private_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(
            load(dir.path(), "edge-1").expect("load").is_none(),
            "not joined yet"
        );
        let creds = issue("edge-1");
        save(dir.path(), &creds).expect("save");
        assert_eq!(load(dir.path(), "edge-1").expect("load"), Some(creds));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("pki/node.key"))
                .expect("key")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("pki"))
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temp files left");
    }

    #[test]
    fn mqtt_json_from_before_the_broker_ca_still_loads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let creds = issue("edge-1");
        save(dir.path(), &creds).expect("save");
        let saved = fs::read_to_string(dir.path().join("mqtt.json")).expect("read");
        assert!(
            saved.contains("MQTT CA"),
            "the broker CA is kept with the rest"
        );
        fs::write(
            dir.path().join("mqtt.json"),
            r#"{"url":"mqtt://:1883","username":"edge-1","password":"pw"}"#,
        )
        .expect("old file");
        let loaded = load(dir.path(), "edge-1").expect("load").expect("joined");
        assert_eq!(loaded.mqtt.ca_pem, "");
        assert_eq!(loaded.mqtt.username, "edge-1");
    }

    #[test]
    fn half_written_join_counts_as_not_joined() {
        let dir = tempfile::tempdir().expect("tempdir");
        save(dir.path(), &issue("edge-1")).expect("save");
        fs::remove_file(dir.path().join("mqtt.json")).expect("rm");
        assert!(load(dir.path(), "edge-1").expect("load").is_none());
    }

    #[test]
    fn another_nodes_credentials_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        save(dir.path(), &issue("edge-1")).expect("save");
        let err = load(dir.path(), "edge-2").expect_err("other node");
        assert!(
            matches!(&err, CredentialsError::OtherNode { joined_as, .. } if joined_as == "edge-1"),
            "{err}"
        );
        assert!(err.to_string().contains("--node-name edge-1"));
    }

    #[test]
    fn garbage_files_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        save(dir.path(), &issue("edge-1")).expect("save");
        fs::write(dir.path().join("mqtt.json"), "{").expect("write");
        assert!(matches!(
            load(dir.path(), "edge-1"),
            Err(CredentialsError::Mqtt { .. })
        ));
        save(dir.path(), &issue("edge-1")).expect("save");
        fs::write(dir.path().join("pki/node.crt"), "junk").expect("write");
        assert!(matches!(
            load(dir.path(), "edge-1"),
            Err(CredentialsError::Pki { .. })
        ));
    }
}
