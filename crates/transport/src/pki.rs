//! The hub's certificate authority and the certificates it issues (rcgen), plus the small
//! certificate readers both sides need.
//!
//! Trust model (kubeadm-like):
//! - The hub owns one self-signed CA ([`CertAuthority`], ECDSA P-256, 10 years), stored as
//!   `ca.crt` / `ca.key` (0600) in its data dir.
//! - The hub serves QUIC and HTTPS with a server certificate from [`CertAuthority::issue_server_cert`]
//!   (SANs always include `shoal-hub` and `localhost`) and presents the chain `[leaf, CA]`, so
//!   a joining agent can find the CA in the chain and compare it with the token's [`ca_hash`].
//! - An agent makes its own key ([`NodeKey`]) and sends a CSR at join; the hub signs it with
//!   [`CertAuthority::sign_node_csr`], which takes only the public key from the CSR: subject,
//!   SANs and usages are the hub's choice (CN = node name, O = [`NODE_ORGANIZATION`],
//!   client-auth only, 1 year).
//! - Users and admins get client certificates ([`CertAuthority::issue_client_cert`]) for the
//!   HTTPS API. They carry another organization, so [`node_name_from_cert`] never mistakes a
//!   user certificate for a node identity.
//!
//! Certificates and keys travel as PEM strings; DER only where TLS needs it.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};

use crate::names::validate_node_name;
use crate::wire::HUB_SERVER_NAME;

/// Organization (O) of every node certificate; [`node_name_from_cert`] requires it.
pub const NODE_ORGANIZATION: &str = "shoal:nodes";

/// Default common name of a generated CA.
pub const DEFAULT_CA_COMMON_NAME: &str = "shoal-ca";

/// File names inside the hub's PKI directory.
pub const CA_CERT_FILE: &str = "ca.crt";
pub const CA_KEY_FILE: &str = "ca.key";

/// Lifetime of the CA certificate.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);
/// Lifetime of node, client and server certificates. The hub issues a fresh server
/// certificate at every start, so only node and user certificates ever need renewal.
pub const LEAF_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// How far `notBefore` is backdated, so a device whose clock is a little behind still
/// accepts a certificate issued a moment ago.
const BACKDATE: Duration = Duration::from_secs(60 * 60);

/// Errors of the PKI module.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("generating a key pair failed")]
    GenerateKey {
        #[source]
        source: rcgen::Error,
    },
    #[error("building the {what} certificate failed")]
    Sign {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("the {what} PEM is not a valid private key (expected a PKCS#8 \"PRIVATE KEY\")")]
    ParseKey {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("the {what} PEM does not contain a certificate")]
    ParseCertPem {
        what: &'static str,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("the {what} certificate is not valid X.509")]
    ParseCert { what: &'static str },
    #[error("the CA certificate is not a CA (basicConstraints CA:TRUE is missing)")]
    NotACa,
    #[error("the CA private key does not belong to the CA certificate")]
    KeyMismatch,
    #[error("the certificate signing request is invalid or its signature does not verify")]
    Csr {
        #[source]
        source: rcgen::Error,
    },
    #[error("invalid node name: {reason}")]
    NodeName { reason: String },
    #[error("invalid certificate name {name:?}")]
    Name {
        name: String,
        #[source]
        source: rcgen::Error,
    },
    #[error("found {present} but not {missing}; restore the missing file or remove both to create a new CA (every node must then join again)")]
    HalfCa { present: PathBuf, missing: PathBuf },
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
}

/// A certificate and its private key, both PEM (PKCS#8 for the key).
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCert")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[redacted]")
            .finish()
    }
}

/// The hub's certificate authority.
///
/// The fields are the CA as stored; every signing operation parses them again, so a
/// hand-built value with bad PEM fails with an error, never a panic.
#[derive(Clone)]
pub struct CertAuthority {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
}

impl std::fmt::Debug for CertAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertAuthority")
            .field("ca_hash", &self.ca_hash())
            .field("key_pem", &"[redacted]")
            .finish()
    }
}

impl CertAuthority {
    /// A new self-signed CA (ECDSA P-256, valid 10 years, may sign leaves only).
    pub fn generate(common_name: &str) -> Result<CertAuthority, PkiError> {
        let key = KeyPair::generate().map_err(|source| PkiError::GenerateKey { source })?;
        let params = ca_params(common_name);
        let cert = params
            .self_signed(&key)
            .map_err(|source| PkiError::Sign { what: "CA", source })?;
        Ok(CertAuthority {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
        })
    }

    /// Loads a CA from PEM, checking the certificate is a CA and the key belongs to it.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<CertAuthority, PkiError> {
        let der = first_cert_der(cert_pem, "CA")?;
        let key = KeyPair::from_pem(key_pem).map_err(|source| PkiError::ParseKey {
            what: "CA key",
            source,
        })?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|_| PkiError::ParseCert { what: "CA" })?;
        let is_ca = cert
            .basic_constraints()
            .ok()
            .flatten()
            .is_some_and(|bc| bc.value.ca);
        if !is_ca {
            return Err(PkiError::NotACa);
        }
        if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(PkiError::KeyMismatch);
        }
        Ok(CertAuthority {
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            cert_der: der,
        })
    }

    /// Loads `dir/ca.crt` + `dir/ca.key`, or creates them (key mode 0600) when neither exists.
    /// Refuses to replace a CA of which only one half is present.
    pub fn load_or_generate(dir: &Path) -> Result<CertAuthority, PkiError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => {
                let cert_pem = read_to_string(&cert_path)?;
                let key_pem = read_to_string(&key_path)?;
                CertAuthority::from_pem(&cert_pem, &key_pem)
            }
            (true, false) => Err(PkiError::HalfCa {
                present: cert_path,
                missing: key_path,
            }),
            (false, true) => Err(PkiError::HalfCa {
                present: key_path,
                missing: cert_path,
            }),
            (false, false) => {
                fs::create_dir_all(dir).map_err(|source| PkiError::Write {
                    path: dir.to_path_buf(),
                    source,
                })?;
                let ca = CertAuthority::generate(DEFAULT_CA_COMMON_NAME)?;
                // Design: the key is written first and the certificate last, so a crash in
                // between leaves a "half CA" that load refuses, instead of a certificate
                // whose key is lost.
                write_private(&key_path, ca.key_pem.as_bytes())?;
                write_file(&cert_path, ca.cert_pem.as_bytes())?;
                Ok(ca)
            }
        }
    }

    /// `sha256:<hex>` of the CA certificate, the value a join token pins.
    pub fn ca_hash(&self) -> String {
        ca_hash(&self.cert_der)
    }

    /// A server certificate for the hub's QUIC and HTTPS listeners. SANs: `shoal-hub`,
    /// `localhost`, `dns_names` and `ips`; EKU serverAuth; valid one year.
    pub fn issue_server_cert(
        &self,
        dns_names: &[String],
        ips: &[IpAddr],
    ) -> Result<IssuedCert, PkiError> {
        let mut names: Vec<String> = vec![HUB_SERVER_NAME.to_string(), "localhost".to_string()];
        for n in dns_names {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        let mut params = leaf_params(HUB_SERVER_NAME, None);
        for n in names {
            let ia5 = n.clone().try_into().map_err(|source| PkiError::Name {
                name: n.clone(),
                source,
            })?;
            params.subject_alt_names.push(SanType::DnsName(ia5));
        }
        for ip in ips {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue_with_new_key(params, "server")
    }

    /// Signs a node's CSR. Only the CSR's public key is used: the subject becomes
    /// CN=`node_name`, O=[`NODE_ORGANIZATION`], whatever the CSR asked for; EKU clientAuth;
    /// valid one year. Returns the certificate PEM.
    pub fn sign_node_csr(&self, csr_pem: &str, node_name: &str) -> Result<String, PkiError> {
        validate_node_name(node_name).map_err(|reason| PkiError::NodeName { reason })?;
        let csr = CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|source| PkiError::Csr { source })?;
        let mut params = leaf_params(node_name, Some(NODE_ORGANIZATION));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let request = CertificateSigningRequestParams {
            params,
            public_key: csr.public_key,
        };
        let key = self.key()?;
        let issuer = self.issuer(&key)?;
        let cert = request
            .signed_by(&issuer)
            .map_err(|source| PkiError::Sign {
                what: "node",
                source,
            })?;
        Ok(cert.pem())
    }

    /// A client certificate for a user of the HTTPS API (CN = user, O = group, as in
    /// Kubernetes, e.g. `("admin", "system:masters")`). EKU clientAuth; valid one year.
    pub fn issue_client_cert(
        &self,
        common_name: &str,
        organization: &str,
    ) -> Result<IssuedCert, PkiError> {
        let mut params = leaf_params(common_name, Some(organization));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue_with_new_key(params, "client")
    }

    fn key(&self) -> Result<KeyPair, PkiError> {
        KeyPair::from_pem(&self.key_pem).map_err(|source| PkiError::ParseKey {
            what: "CA key",
            source,
        })
    }

    fn issuer<'k>(&self, key: &'k KeyPair) -> Result<Issuer<'static, &'k KeyPair>, PkiError> {
        Issuer::from_ca_cert_der(&CertificateDer::from(self.cert_der.as_slice()), key)
            .map_err(|_| PkiError::ParseCert { what: "CA" })
    }

    fn issue_with_new_key(
        &self,
        params: CertificateParams,
        what: &'static str,
    ) -> Result<IssuedCert, PkiError> {
        let leaf_key = KeyPair::generate().map_err(|source| PkiError::GenerateKey { source })?;
        let ca_key = self.key()?;
        let issuer = self.issuer(&ca_key)?;
        let cert = params
            .signed_by(&leaf_key, &issuer)
            .map_err(|source| PkiError::Sign { what, source })?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: leaf_key.serialize_pem(),
        })
    }
}

/// A node's private key; it never leaves the device.
pub struct NodeKey {
    key_pem: String,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeKey([redacted])")
    }
}

impl NodeKey {
    /// A new ECDSA P-256 key.
    pub fn generate() -> Result<NodeKey, PkiError> {
        let key = KeyPair::generate().map_err(|source| PkiError::GenerateKey { source })?;
        Ok(NodeKey {
            key_pem: key.serialize_pem(),
        })
    }

    /// A key loaded from the agent's data dir.
    pub fn from_pem(key_pem: &str) -> Result<NodeKey, PkiError> {
        KeyPair::from_pem(key_pem).map_err(|source| PkiError::ParseKey {
            what: "node key",
            source,
        })?;
        Ok(NodeKey {
            key_pem: key_pem.to_string(),
        })
    }

    /// PKCS#8 PEM of the key, for storing with mode 0600.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// A PEM CSR asking for CN=`node_name` (the hub decides the final subject anyway).
    pub fn csr_pem(&self, node_name: &str) -> Result<String, PkiError> {
        validate_node_name(node_name).map_err(|reason| PkiError::NodeName { reason })?;
        let key = KeyPair::from_pem(&self.key_pem).map_err(|source| PkiError::ParseKey {
            what: "node key",
            source,
        })?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, node_name);
        let csr = params
            .serialize_request(&key)
            .map_err(|source| PkiError::Sign {
                what: "CSR",
                source,
            })?;
        csr.pem().map_err(|source| PkiError::Sign {
            what: "CSR",
            source,
        })
    }
}

/// `"sha256:" + hex(sha256(DER))` of a certificate, like kubeadm's discovery hash.
pub fn ca_hash(cert_der: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(cert_der)))
}

/// [`ca_hash`] of the first certificate in a PEM string. The agent checks the CA the hub
/// hands out at join against its token's pin with this.
pub fn ca_hash_of_pem(cert_pem: &str) -> Result<String, PkiError> {
    Ok(ca_hash(&first_cert_der(cert_pem, "CA")?))
}

/// The node name of a node certificate: its CN, when the certificate carries
/// O=[`NODE_ORGANIZATION`] and the CN is a valid node name. `None` for anything else (a user
/// certificate, garbage). Does not verify the signature: call it on a chain TLS verified.
pub fn node_name_from_cert(der: &[u8]) -> Option<String> {
    let id = cert_identity(der)?;
    if !id.organizations.iter().any(|o| o == NODE_ORGANIZATION) {
        return None;
    }
    validate_node_name(&id.common_name).ok()?;
    Some(id.common_name)
}

/// Who a (verified) client certificate names, Kubernetes style: CN = user, O = groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertIdentity {
    pub common_name: String,
    pub organizations: Vec<String>,
}

/// Reads CN and O of a certificate; `None` when it does not parse or has no CN.
pub fn cert_identity(der: &[u8]) -> Option<CertIdentity> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let common_name = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    let organizations = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Some(CertIdentity {
        common_name,
        organizations,
    })
}

/// DER of the first certificate in a PEM string.
pub fn first_cert_der(pem: &str, what: &'static str) -> Result<Vec<u8>, PkiError> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|c| c.to_vec())
        .map_err(|source| PkiError::ParseCertPem { what, source })
}

fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let now = SystemTime::now();
    params.not_before = (now - BACKDATE).into();
    params.not_after = (now + CA_VALIDITY).into();
    params.serial_number = Some(random_serial());
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    // Design: path length 0, the CA signs leaves only; there are no intermediates.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn leaf_params(common_name: &str, organization: Option<&str>) -> CertificateParams {
    let mut params = CertificateParams::default();
    let now = SystemTime::now();
    params.not_before = (now - BACKDATE).into();
    params.not_after = (now + LEAF_VALIDITY).into();
    params.serial_number = Some(random_serial());
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    if let Some(org) = organization {
        params
            .distinguished_name
            .push(DnType::OrganizationName, org);
    }
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    params
}

/// A random 128-bit serial. The first byte has its top bit clear (a positive DER integer)
/// and is non-zero (no leading zero byte to strip), so the serial is exactly 16 bytes.
fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&bytes)
}

fn read_to_string(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(|source| PkiError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    let err = |source| PkiError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut f = fs::File::create(path).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)
}

/// Writes a secret file readable by its owner only (0600 from creation, never wider).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    let err = |source| PkiError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(err)?;
    #[cfg(unix)]
    {
        // An existing file keeps its old mode on open; tighten it explicitly.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(err)?;
    }
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(der: &[u8]) -> x509_parser::certificate::X509Certificate<'_> {
        x509_parser::parse_x509_certificate(der).expect("parses").1
    }

    #[test]
    fn generated_ca_is_a_ca_and_reloads() {
        let ca = CertAuthority::generate("test-ca").expect("ca");
        let cert = parse(&ca.cert_der);
        assert!(cert.is_ca());
        assert_eq!(
            cert.subject()
                .iter_common_name()
                .next()
                .and_then(|c| c.as_str().ok()),
            Some("test-ca")
        );
        let lifetime =
            cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp();
        assert!(
            lifetime > 9 * 365 * 86_400,
            "about ten years, got {lifetime}s"
        );
        let again = CertAuthority::from_pem(&ca.cert_pem, &ca.key_pem).expect("reload");
        assert_eq!(again.ca_hash(), ca.ca_hash());
        assert!(ca.ca_hash().starts_with("sha256:"));
        assert_eq!(ca.ca_hash().len(), "sha256:".len() + 64);
    }

    #[test]
    fn from_pem_rejects_mismatched_key_and_garbage() {
        let a = CertAuthority::generate("a").expect("ca");
        let b = CertAuthority::generate("b").expect("ca");
        assert!(matches!(
            CertAuthority::from_pem(&a.cert_pem, &b.key_pem),
            Err(PkiError::KeyMismatch)
        ));
        assert!(matches!(
            CertAuthority::from_pem("nope", &a.key_pem),
            Err(PkiError::ParseCertPem { .. })
        ));
        assert!(matches!(
            CertAuthority::from_pem(&a.cert_pem, "nope"),
            Err(PkiError::ParseKey { .. })
        ));
        let leaf = a.issue_client_cert("u", "g").expect("leaf");
        assert!(matches!(
            CertAuthority::from_pem(&leaf.cert_pem, &leaf.key_pem),
            Err(PkiError::NotACa)
        ));
    }

    #[test]
    fn load_or_generate_persists_with_private_key_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = dir.path().join("pki");
        let first = CertAuthority::load_or_generate(&pki).expect("generate");
        let second = CertAuthority::load_or_generate(&pki).expect("load");
        assert_eq!(first.cert_der, second.cert_der);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(pki.join(CA_KEY_FILE))
                .expect("key file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::remove_file(pki.join(CA_KEY_FILE)).expect("rm");
        assert!(matches!(
            CertAuthority::load_or_generate(&pki),
            Err(PkiError::HalfCa { .. })
        ));
    }

    #[test]
    fn server_cert_has_required_sans() {
        let ca = CertAuthority::generate("ca").expect("ca");
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        let issued = ca
            .issue_server_cert(&["hub.example".to_string(), "localhost".to_string()], &[ip])
            .expect("server cert");
        let der = first_cert_der(&issued.cert_pem, "server").expect("der");
        let cert = parse(&der);
        let san = cert
            .subject_alternative_name()
            .expect("san ext ok")
            .expect("san present");
        use x509_parser::extensions::GeneralName;
        let mut dns = Vec::new();
        let mut ips = Vec::new();
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => dns.push(d.to_string()),
                GeneralName::IPAddress(b) => ips.push(b.to_vec()),
                other => panic!("unexpected SAN {other:?}"),
            }
        }
        assert_eq!(
            dns,
            ["shoal-hub", "localhost", "hub.example"],
            "no duplicates, required first"
        );
        assert_eq!(ips, [vec![127u8, 0, 0, 1]]);
        assert!(!cert.is_ca());
    }

    #[test]
    fn node_csr_subject_is_overridden() {
        let ca = CertAuthority::generate("ca").expect("ca");
        let key = NodeKey::generate().expect("key");
        // The CSR asks for "evil"; the hub signs for "edge-1".
        let csr = key.csr_pem("evil").expect("csr");
        let pem = ca.sign_node_csr(&csr, "edge-1").expect("signed");
        let der = first_cert_der(&pem, "node").expect("der");
        assert_eq!(node_name_from_cert(&der).as_deref(), Some("edge-1"));
        let cert = parse(&der);
        let eku = cert
            .extended_key_usage()
            .expect("eku ok")
            .expect("eku present");
        assert!(eku.value.client_auth && !eku.value.server_auth);
        // The certified key is the node's key.
        let kp = KeyPair::from_pem(key.key_pem()).expect("key");
        assert_eq!(
            cert.public_key().subject_public_key.data.as_ref(),
            kp.public_key_raw()
        );
        assert!(matches!(
            ca.sign_node_csr(&csr, "Bad_Name"),
            Err(PkiError::NodeName { .. })
        ));
        assert!(matches!(
            ca.sign_node_csr("garbage", "edge-1"),
            Err(PkiError::Csr { .. })
        ));
    }

    #[test]
    fn user_certs_are_not_node_identities() {
        let ca = CertAuthority::generate("ca").expect("ca");
        let admin = ca
            .issue_client_cert("admin", "system:masters")
            .expect("admin");
        let der = first_cert_der(&admin.cert_pem, "admin").expect("der");
        assert_eq!(node_name_from_cert(&der), None);
        assert_eq!(
            cert_identity(&der),
            Some(CertIdentity {
                common_name: "admin".into(),
                organizations: vec!["system:masters".into()]
            })
        );
        assert_eq!(node_name_from_cert(b"not a cert"), None);
    }

    #[test]
    fn ca_hash_is_sha256_of_der() {
        // sha256("") is well known.
        assert_eq!(
            ca_hash(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
