//! Kubeconfig loading and resolution.
//!
//! Where the file comes from, as kubectl decides it: `--kubeconfig FILE`, else the
//! `KUBECONFIG` list (files merged, the first to define a name or the current context wins,
//! missing files skipped), else `~/.kube/config`. [`resolve`] then picks the context
//! (`--context` or `current-context`) and turns it into a [`Connection`]: the server URL, the
//! CA certificates to trust (the only roots shoalctl uses), the bearer token, and the
//! namespace, with `--server`, `--token`, `--certificate-authority` and `-n` applied on top.
//!
//! Loading touches the file system; [`resolve`] is pure, so its rules are unit-tested.

use std::path::{Path, PathBuf};

use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde::Deserialize;

/// What can be wrong with a kubeconfig. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    #[error("cannot read kubeconfig {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("kubeconfig {path} is not a valid kubeconfig")]
    Parse {
        path: String,
        source: serde_yaml_ng::Error,
    },
    #[error("kubeconfig {path}: {problem}")]
    Invalid { path: String, problem: String },
    #[error("no kubeconfig: {tried} does not exist; pass --kubeconfig FILE, set KUBECONFIG, or pass --server and --token")]
    NotFound { tried: String },
    #[error("cannot read the certificate authority file {path}")]
    ReadCa {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read the token file {path}")]
    ReadToken {
        path: String,
        source: std::io::Error,
    },
}

/// Where to look for the kubeconfig, in kubectl's order of precedence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `--kubeconfig FILE`: must exist.
    Flag(PathBuf),
    /// `KUBECONFIG`: files merged in order; missing ones are skipped.
    Env(Vec<PathBuf>),
    /// `~/.kube/config`: may be absent when `--server` says where to go.
    Default(PathBuf),
}

impl Location {
    /// Picks the location from the flag, the `KUBECONFIG` value and `HOME`.
    pub fn choose(
        flag: Option<PathBuf>,
        env: Option<std::ffi::OsString>,
        home: Option<PathBuf>,
    ) -> Location {
        if let Some(f) = flag {
            return Location::Flag(f);
        }
        if let Some(list) = env.filter(|v| !v.is_empty()) {
            let paths: Vec<PathBuf> = std::env::split_paths(&list)
                .filter(|p| !p.as_os_str().is_empty())
                .collect();
            if !paths.is_empty() {
                return Location::Env(paths);
            }
        }
        Location::Default(home.unwrap_or_default().join(".kube").join("config"))
    }

    /// The file or files, for messages: `/k`, or `KUBECONFIG (/a, /b)`.
    pub fn describe(&self) -> String {
        match self {
            Location::Flag(p) | Location::Default(p) => p.display().to_string(),
            Location::Env(ps) => {
                let names: Vec<String> = ps.iter().map(|p| p.display().to_string()).collect();
                format!("KUBECONFIG ({})", names.join(", "))
            }
        }
    }

    /// The file `config use-context` writes: the flag's, else the first existing file of
    /// the `KUBECONFIG` list (else its first), else the default.
    pub fn file_to_write(&self) -> PathBuf {
        match self {
            Location::Flag(p) | Location::Default(p) => p.clone(),
            Location::Env(ps) => ps
                .iter()
                .find(|p| p.exists())
                .or(ps.first())
                .cloned()
                .unwrap_or_default(),
        }
    }
}

/// One kubeconfig file as written on disk (fields shoalctl does not use are ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct File {
    #[serde(default)]
    clusters: Vec<NamedCluster>,
    #[serde(default)]
    users: Vec<NamedUser>,
    #[serde(default)]
    contexts: Vec<NamedContext>,
    #[serde(default)]
    current_context: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NamedCluster {
    name: String,
    #[serde(default)]
    cluster: Cluster,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Cluster {
    server: Option<String>,
    certificate_authority_data: Option<String>,
    certificate_authority: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NamedUser {
    name: String,
    #[serde(default)]
    user: Option<User>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct User {
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<String>,
    client_certificate_data: Option<String>,
    exec: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Deserialize)]
struct NamedContext {
    name: String,
    #[serde(default)]
    context: Context,
}

#[derive(Debug, Default, Clone, Deserialize)]
struct Context {
    #[serde(default)]
    cluster: String,
    #[serde(default)]
    user: String,
    namespace: Option<String>,
}

/// An entry together with the file it came from, for error messages.
#[derive(Debug, Clone)]
struct Sourced<T> {
    name: String,
    value: T,
    path: PathBuf,
}

/// The merged kubeconfig.
#[derive(Debug, Default)]
pub struct Kubeconfig {
    clusters: Vec<Sourced<Cluster>>,
    users: Vec<Sourced<Option<User>>>,
    contexts: Vec<Sourced<Context>>,
    current_context: Option<(String, PathBuf)>,
    /// The files that were read, for messages ("in FILE").
    paths: Vec<PathBuf>,
}

impl Kubeconfig {
    /// Reads the kubeconfig from `location`. `Ok(None)` when the default file is absent
    /// (flags alone may be enough).
    pub fn load(location: &Location) -> Result<Option<Kubeconfig>, KubeconfigError> {
        match location {
            Location::Flag(p) => Ok(Some(Self::parse_files(&[(p.clone(), read(p)?)])?)),
            Location::Env(paths) => {
                let mut texts = Vec::new();
                for p in paths {
                    match std::fs::read_to_string(p) {
                        Ok(t) => texts.push((p.clone(), t)),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(source) => {
                            return Err(KubeconfigError::Read {
                                path: p.display().to_string(),
                                source,
                            })
                        }
                    }
                }
                if texts.is_empty() {
                    return Err(KubeconfigError::NotFound {
                        tried: location.describe(),
                    });
                }
                Ok(Some(Self::parse_files(&texts)?))
            }
            Location::Default(p) => match std::fs::read_to_string(p) {
                Ok(t) => Ok(Some(Self::parse_files(&[(p.clone(), t)])?)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(KubeconfigError::Read {
                    path: p.display().to_string(),
                    source,
                }),
            },
        }
    }

    /// Parses and merges files given as `(path, text)`, first definition wins.
    fn parse_files(files: &[(PathBuf, String)]) -> Result<Kubeconfig, KubeconfigError> {
        let mut kc = Kubeconfig::default();
        for (path, text) in files {
            let f: File = if text.trim().is_empty() {
                File::default()
            } else {
                serde_yaml_ng::from_str(text).map_err(|source| KubeconfigError::Parse {
                    path: path.display().to_string(),
                    source,
                })?
            };
            kc.paths.push(path.clone());
            let src = |name: String| (name, path.clone());
            for c in f.clusters {
                let (name, path) = src(c.name);
                kc.clusters.push(Sourced {
                    name,
                    value: c.cluster,
                    path,
                });
            }
            for u in f.users {
                let (name, path) = src(u.name);
                kc.users.push(Sourced {
                    name,
                    value: u.user,
                    path,
                });
            }
            for c in f.contexts {
                let (name, path) = src(c.name);
                kc.contexts.push(Sourced {
                    name,
                    value: c.context,
                    path,
                });
            }
            if kc.current_context.is_none() {
                kc.current_context = f
                    .current_context
                    .filter(|c| !c.is_empty())
                    .map(|c| (c, path.clone()));
            }
        }
        Ok(kc)
    }

    /// Parses one kubeconfig text.
    #[cfg(test)]
    pub fn from_text(path: &Path, text: &str) -> Result<Kubeconfig, KubeconfigError> {
        Self::parse_files(&[(path.to_path_buf(), text.to_string())])
    }

    fn label(&self) -> String {
        let names: Vec<String> = self.paths.iter().map(|p| p.display().to_string()).collect();
        names.join(", ")
    }
}

fn read(p: &Path) -> Result<String, KubeconfigError> {
    std::fs::read_to_string(p).map_err(|source| KubeconfigError::Read {
        path: p.display().to_string(),
        source,
    })
}

/// Command-line overrides of the kubeconfig.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub context: Option<String>,
    pub namespace: Option<String>,
    pub server: Option<String>,
    pub token: Option<String>,
    pub certificate_authority: Option<PathBuf>,
}

/// Everything needed to talk to the hub.
#[derive(Clone)]
pub struct Connection {
    /// `https://host:port`, without a trailing slash.
    pub server: String,
    /// The only roots the client trusts.
    pub ca: Vec<CertificateDer<'static>>,
    /// Where the CA came from, for TLS error hints.
    pub ca_origin: String,
    pub token: Option<String>,
    /// What to tell the user when the hub refuses the credentials.
    pub credentials_hint: String,
    pub namespace: String,
    /// Whether `-n` chose the namespace (a manifest's own namespace must then agree).
    pub namespace_from_flag: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Design: the token never appears in debug output or logs.
        f.debug_struct("Connection")
            .field("server", &self.server)
            .field("ca", &self.ca.len())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("namespace", &self.namespace)
            .finish()
    }
}

/// Turns the kubeconfig (if any) and the flags into a [`Connection`].
///
/// `read_file` reads files the kubeconfig refers to (`certificate-authority`, `tokenFile`);
/// relative paths are resolved against the directory of the kubeconfig that named them.
pub fn resolve(
    kc: Option<&Kubeconfig>,
    location: &Location,
    o: &Overrides,
    read_file: &dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<Connection, KubeconfigError> {
    let empty = Kubeconfig::default();
    let kc = match kc {
        Some(kc) => kc,
        None if o.server.is_some() => &empty,
        None => {
            return Err(KubeconfigError::NotFound {
                tried: location.describe(),
            })
        }
    };
    let label = kc.label();
    let invalid = |path: &Path, problem: String| KubeconfigError::Invalid {
        path: path.display().to_string(),
        problem,
    };

    // The context: --context, else current-context. None at all is fine with --server.
    let context_name = o
        .context
        .clone()
        .or_else(|| kc.current_context.as_ref().map(|(c, _)| c.clone()));
    let context = match &context_name {
        Some(name) => match kc.contexts.iter().find(|c| &c.name == name) {
            Some(c) => Some(c),
            None => {
                let known: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
                let known = if known.is_empty() {
                    "none are defined".to_string()
                } else {
                    format!("defined: {}", known.join(", "))
                };
                return Err(KubeconfigError::Invalid {
                    path: label,
                    problem: format!("context \"{name}\" is not defined ({known})"),
                });
            }
        },
        None if o.server.is_some() => None,
        None => {
            return Err(KubeconfigError::Invalid {
                path: label,
                problem: "no current-context is set; pass --context NAME".into(),
            });
        }
    };

    let cluster = match context {
        Some(ctx) if !ctx.value.cluster.is_empty() => {
            match kc.clusters.iter().find(|c| c.name == ctx.value.cluster) {
                Some(c) => Some(c),
                None if o.server.is_some() => None,
                None => {
                    return Err(invalid(
                        &ctx.path,
                        format!(
                            "context \"{}\" refers to cluster \"{}\", which is not defined",
                            ctx.name, ctx.value.cluster
                        ),
                    ));
                }
            }
        }
        _ => None,
    };
    let user = match context {
        Some(ctx) if !ctx.value.user.is_empty() => {
            match kc.users.iter().find(|u| u.name == ctx.value.user) {
                Some(u) => Some(u),
                None if o.token.is_some() => None,
                None => {
                    return Err(invalid(
                        &ctx.path,
                        format!(
                            "context \"{}\" refers to user \"{}\", which is not defined",
                            ctx.name, ctx.value.user
                        ),
                    ))
                }
            }
        }
        _ => None,
    };

    // Server.
    let server = match (&o.server, cluster) {
        (Some(s), _) => s.clone(),
        (None, Some(c)) => match c.value.server.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => s.to_string(),
            None => {
                return Err(invalid(
                    &c.path,
                    format!("cluster \"{}\" has no server", c.name),
                ))
            }
        },
        (None, None) => match context {
            Some(ctx) => {
                return Err(invalid(
                    &ctx.path,
                    format!("context \"{}\" names no cluster; pass --server", ctx.name),
                ))
            }
            None => {
                return Err(KubeconfigError::Invalid {
                    path: label,
                    problem: "no cluster to talk to; pass --server".into(),
                })
            }
        },
    };
    let server = server.trim_end_matches('/').to_string();
    if !(server.starts_with("https://") || server.starts_with("http://")) {
        let origin = cluster
            .map(|c| c.path.display().to_string())
            .unwrap_or_else(|| "--server".into());
        return Err(KubeconfigError::Invalid {
            path: origin,
            problem: format!("server {server:?} is not an https:// URL"),
        });
    }

    // CA: --certificate-authority, else certificate-authority-data, else certificate-authority.
    let (ca, ca_origin) = if let Some(p) = &o.certificate_authority {
        let certs = read_ca_file(p, read_file)?;
        (certs, format!("--certificate-authority {}", p.display()))
    } else if let Some(c) = cluster {
        let origin = format!(
            "the certificate-authority-data of cluster \"{}\" in {}",
            c.name,
            c.path.display()
        );
        if let Some(data) = c
            .value
            .certificate_authority_data
            .as_deref()
            .filter(|d| !d.trim().is_empty())
        {
            let pem = base64::engine::general_purpose::STANDARD
                .decode(data.split_whitespace().collect::<String>())
                .map_err(|e| {
                    invalid(
                        &c.path,
                        format!(
                            "cluster \"{}\": certificate-authority-data is not valid base64 ({e})",
                            c.name
                        ),
                    )
                })?;
            let certs = parse_pem(&pem).map_err(|p| {
                invalid(
                    &c.path,
                    format!("cluster \"{}\": certificate-authority-data: {p}", c.name),
                )
            })?;
            (certs, origin)
        } else if let Some(file) = c
            .value
            .certificate_authority
            .as_deref()
            .filter(|d| !d.is_empty())
        {
            let p = relative_to(&c.path, file);
            let certs = read_ca_file(&p, read_file)?;
            (
                certs,
                format!(
                    "the certificate-authority {} of cluster \"{}\" in {}",
                    p.display(),
                    c.name,
                    c.path.display()
                ),
            )
        } else {
            (Vec::new(), origin)
        }
    } else {
        (
            Vec::new(),
            "no certificate authority (pass --certificate-authority)".into(),
        )
    };
    if ca.is_empty() && server.starts_with("https://") {
        let problem = match cluster {
            Some(c) => invalid(&c.path, format!("cluster \"{}\" has no certificate-authority-data; shoalctl trusts only the cluster's own CA", c.name)),
            None => KubeconfigError::Invalid { path: "--server".into(), problem: "no CA to trust for this server; pass --certificate-authority FILE".into() },
        };
        return Err(problem);
    }

    // Token.
    let (token, credentials_hint) = if let Some(t) = &o.token {
        (Some(t.clone()), "check the --token flag".to_string())
    } else if let Some(u) = user {
        let hint = format!("check the token in {}", u.path.display());
        let value = u.value.clone().unwrap_or_default();
        if let Some(t) = value.token.filter(|t| !t.is_empty()) {
            (Some(t), hint)
        } else if let Some(f) = value.token_file.filter(|f| !f.is_empty()) {
            let p = relative_to(&u.path, &f);
            let raw = read_file(&p).map_err(|source| KubeconfigError::ReadToken {
                path: p.display().to_string(),
                source,
            })?;
            (
                Some(String::from_utf8_lossy(&raw).trim().to_string()),
                format!("check the token in {}", p.display()),
            )
        } else if value.client_certificate_data.is_some() || value.exec.is_some() {
            (None, format!("user \"{}\" in {} has no token; shoalctl authenticates with bearer tokens only", u.name, u.path.display()))
        } else {
            (
                None,
                format!("user \"{}\" in {} has no token", u.name, u.path.display()),
            )
        }
    } else {
        (
            None,
            "no token is configured; pass --token or use a kubeconfig with a user token"
                .to_string(),
        )
    };

    let (namespace, namespace_from_flag) = match &o.namespace {
        Some(n) if !n.is_empty() => (n.clone(), true),
        _ => (
            context
                .and_then(|c| c.value.namespace.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "default".into()),
            false,
        ),
    };
    Ok(Connection {
        server,
        ca,
        ca_origin,
        token,
        credentials_hint,
        namespace,
        namespace_from_flag,
    })
}

fn relative_to(kubeconfig: &Path, file: &str) -> PathBuf {
    let p = PathBuf::from(file);
    if p.is_absolute() {
        p
    } else {
        kubeconfig.parent().unwrap_or(Path::new(".")).join(p)
    }
}

/// The certificates of a CA file, read with `read_file`.
fn read_ca_file(
    p: &Path,
    read_file: &dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<Vec<CertificateDer<'static>>, KubeconfigError> {
    let pem = read_file(p).map_err(|source| KubeconfigError::ReadCa {
        path: p.display().to_string(),
        source,
    })?;
    parse_pem(&pem).map_err(|problem| KubeconfigError::Invalid {
        path: p.display().to_string(),
        problem,
    })
}

/// The certificates in a PEM bundle; an error when there are none.
fn parse_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not a PEM certificate bundle ({e})"))?;
    if certs.is_empty() {
        return Err("contains no PEM certificate".into());
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real self-signed test certificate (openssl req -x509, P-256, CN=shoal-test).
    const CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBgDCCASWgAwIBAgIUe843rc74UaxPthNXRcHy8hPqVQ4wCgYIKoZIzj0EAwIw\nFTETMBEGA1UEAwwKc2hvYWwtdGVzdDAeFw0yNjExMjgxNDE3NTFaFw0zNjExMjUx\nNDE3NTFaMBUxEzARBgNVBAMMCnNob2FsLXRlc3QwWTATBgcqhkjOPQIBBggqhkjO\nPQMBBwNCAAQTf0LnxBcni/ZTkuVM3+NQHA+Vrdbd/08SZCndomUBEptk5q/hSEG7\n89d8vHnqHvjtzQunRmO6CrLAYlCSxVj1o1MwUTAdBgNVHQ4EFgQUWJWnPskAnF8N\nJ39r5nrmWWj/x2kwHwYDVR0jBBgwFoAUWJWnPskAnF8NJ39r5nrmWWj/x2kwDwYD\nVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEAi0GmpfXiyEpmaOnlpZyf\nKoq3oF1axM53KV5cc9gE5xMCIQCTflopmAMjjG08kE3W89rksYsaKJLUhi34XTpU\nWPR2Kg==\n-----END CERTIFICATE-----\n";

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn config() -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: shoal\n  cluster:\n    server: https://127.0.0.1:6443/\n    certificate-authority-data: {}\nusers:\n- name: admin\n  user:\n    token: secret-token\n- name: certonly\n  user:\n    client-certificate-data: abc\ncontexts:\n- name: shoal\n  context:\n    cluster: shoal\n    user: admin\n    namespace: edge\n- name: other\n  context:\n    cluster: shoal\n    user: certonly\ncurrent-context: shoal\n",
            b64(CA_PEM)
        )
    }

    fn no_files(_: &Path) -> std::io::Result<Vec<u8>> {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no files in this test",
        ))
    }

    fn path() -> PathBuf {
        PathBuf::from("/home/me/.kube/config")
    }

    fn resolve_with(text: &str, o: &Overrides) -> Result<Connection, KubeconfigError> {
        let kc = Kubeconfig::from_text(&path(), text)?;
        resolve(Some(&kc), &Location::Default(path()), o, &no_files)
    }

    #[test]
    fn current_context_gives_server_ca_token_and_namespace() {
        let c = resolve_with(&config(), &Overrides::default()).expect("resolves");
        assert_eq!(c.server, "https://127.0.0.1:6443", "trailing slash trimmed");
        assert_eq!(c.ca.len(), 1);
        assert_eq!(c.token.as_deref(), Some("secret-token"));
        assert_eq!(c.namespace, "edge");
        assert!(!c.namespace_from_flag);
        assert_eq!(
            c.credentials_hint,
            "check the token in /home/me/.kube/config"
        );
        assert!(
            !format!("{c:?}").contains("secret-token"),
            "debug output hides the token"
        );
    }

    #[test]
    fn flags_override_the_kubeconfig() {
        let o = Overrides {
            context: Some("other".into()),
            namespace: Some("kube-system".into()),
            server: Some("https://10.0.0.1:443".into()),
            token: Some("flag-token".into()),
            certificate_authority: None,
        };
        let c = resolve_with(&config(), &o).expect("resolves");
        assert_eq!(c.server, "https://10.0.0.1:443");
        assert_eq!(c.token.as_deref(), Some("flag-token"));
        assert_eq!(c.namespace, "kube-system");
        assert!(c.namespace_from_flag);
        assert_eq!(c.credentials_hint, "check the --token flag");
    }

    #[test]
    fn context_without_namespace_defaults_to_default_and_cert_users_are_explained() {
        let o = Overrides {
            context: Some("other".into()),
            ..Default::default()
        };
        let c = resolve_with(&config(), &o).expect("resolves");
        assert_eq!(c.namespace, "default");
        assert!(c.token.is_none());
        assert!(
            c.credentials_hint.contains("bearer tokens only"),
            "{}",
            c.credentials_hint
        );
    }

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let err = resolve_with(
            &config(),
            &Overrides {
                context: Some("nope".into()),
                ..Default::default()
            },
        )
        .expect_err("unknown context");
        assert_eq!(err.to_string(), "kubeconfig /home/me/.kube/config: context \"nope\" is not defined (defined: shoal, other)");

        let err = resolve_with("clusters: [1, 2", &Overrides::default()).expect_err("bad yaml");
        assert!(matches!(err, KubeconfigError::Parse { .. }));
        assert!(err.to_string().contains("/home/me/.kube/config"));

        let no_current = config().replace("current-context: shoal\n", "");
        let err = resolve_with(&no_current, &Overrides::default()).expect_err("no current context");
        assert!(err.to_string().contains("no current-context"), "{err}");

        let bad_ca = config().replace(&b64(CA_PEM), "not*base64");
        let err = resolve_with(&bad_ca, &Overrides::default()).expect_err("bad base64");
        assert!(
            err.to_string()
                .contains("certificate-authority-data is not valid base64"),
            "{err}"
        );

        let not_pem = config().replace(&b64(CA_PEM), &b64("hello"));
        let err = resolve_with(&not_pem, &Overrides::default()).expect_err("not pem");
        assert!(
            err.to_string().contains("contains no PEM certificate"),
            "{err}"
        );

        let dangling = config().replace(
            "    cluster: shoal\n    user: admin",
            "    cluster: gone\n    user: admin",
        );
        let err = resolve_with(&dangling, &Overrides::default()).expect_err("missing cluster");
        assert!(
            err.to_string().contains("refers to cluster \"gone\""),
            "{err}"
        );

        let http = config().replace("https://127.0.0.1:6443/", "127.0.0.1:6443");
        let err = resolve_with(&http, &Overrides::default()).expect_err("no scheme");
        assert!(err.to_string().contains("is not an https:// URL"), "{err}");
    }

    #[test]
    fn missing_default_kubeconfig_is_an_error_unless_server_is_given() {
        let loc = Location::Default(path());
        let err =
            resolve(None, &loc, &Overrides::default(), &no_files).expect_err("nothing to go on");
        assert!(
            err.to_string()
                .contains("/home/me/.kube/config does not exist"),
            "{err}"
        );
        let o = Overrides {
            server: Some("https://h:1".into()),
            ..Default::default()
        };
        let err = resolve(None, &loc, &o, &no_files).expect_err("no CA");
        assert!(err.to_string().contains("--certificate-authority"), "{err}");
    }

    #[test]
    fn ca_and_token_files_resolve_relative_to_the_kubeconfig() {
        let text = "clusters:\n- name: c\n  cluster:\n    server: https://h:1\n    certificate-authority: ca.crt\nusers:\n- name: u\n  user:\n    tokenFile: /etc/tok\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n";
        let kc = Kubeconfig::from_text(&path(), text).expect("parses");
        let files = |p: &Path| -> std::io::Result<Vec<u8>> {
            match p.to_str() {
                Some("/home/me/.kube/ca.crt") => Ok(CA_PEM.as_bytes().to_vec()),
                Some("/etc/tok") => Ok(b"file-token\n".to_vec()),
                _ => Err(std::io::Error::new(std::io::ErrorKind::NotFound, "nope")),
            }
        };
        let c = resolve(
            Some(&kc),
            &Location::Default(path()),
            &Overrides::default(),
            &files,
        )
        .expect("resolves");
        assert_eq!(c.token.as_deref(), Some("file-token"));
        assert_eq!(c.ca.len(), 1);
    }

    #[test]
    fn merged_files_first_definition_wins() {
        let a = "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c1, user: u}\nclusters:\n- name: c1\n  cluster: {server: 'http://one:1'}\nusers:\n- name: u\n  user: {token: t1}\n";
        let b = "current-context: b\nclusters:\n- name: c1\n  cluster: {server: 'http://two:2'}\n";
        let kc = Kubeconfig::parse_files(&[
            (PathBuf::from("/a"), a.into()),
            (PathBuf::from("/b"), b.into()),
        ])
        .expect("parses");
        let c = resolve(
            Some(&kc),
            &Location::Env(vec![]),
            &Overrides::default(),
            &no_files,
        )
        .expect("resolves");
        assert_eq!(c.server, "http://one:1");
        assert_eq!(c.token.as_deref(), Some("t1"));
    }

    #[test]
    fn location_precedence() {
        let home = Some(PathBuf::from("/home/me"));
        assert_eq!(
            Location::choose(Some("/f".into()), Some("/e".into()), home.clone()),
            Location::Flag("/f".into())
        );
        assert_eq!(
            Location::choose(None, Some("/e1:/e2".into()), home.clone()),
            Location::Env(vec!["/e1".into(), "/e2".into()])
        );
        assert_eq!(
            Location::choose(None, Some("".into()), home),
            Location::Default("/home/me/.kube/config".into())
        );
    }
}
