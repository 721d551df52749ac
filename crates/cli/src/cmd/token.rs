//! `shoalctl token create|list|revoke`: bearer tokens for people and scripts.
//!
//! A token is 48 random alphanumeric characters made here, from the operating system's
//! randomness, and shown once. The hub keeps only its SHA-256, in a Secret of type
//! `shoal.io/user-token` in `kube-system` named `shoal-token-<first 20 hex digits>` (the hub's
//! `api::auth` reads it). The Secret's `data` is what the hub enforces:
//!
//! | key            | value                                                        |
//! | -------------- | ------------------------------------------------------------ |
//! | `token-sha256` | the full lowercase hex digest                                |
//! | `user`         | the user name                                                |
//! | `groups`       | `system:masters`, or `shoal:ns:<ns>:<view/edit/admin>`, ...  |
//! | `expires-at`   | milliseconds since the Unix epoch, or `0` for never          |
//!
//! The same facts are repeated for people in a `shoal.io/token-user` label and annotations
//! (roles and expiry in readable form), which `token list` shows without decoding `data`;
//! Secrets made by hand without them are read from `data` instead.
//!
//! Managing tokens reads and writes Secrets in `kube-system`, which only a cluster admin may:
//! a 403 says so. Deleting the Secret revokes the token at once.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{report, CmdError, GlobalArgs, Outcome, Session};
use crate::client::{self, ClientError};
use crate::kubeconfig::Connection;
use crate::output::{self, Table};

/// Secret type of user tokens.
pub const SECRET_TYPE: &str = "shoal.io/user-token";
/// Where the token Secrets live.
pub const NAMESPACE: &str = "kube-system";
/// Label (and annotation) with the token's user.
pub const USER_LABEL: &str = "shoal.io/token-user";
/// Annotation with the roles, e.g. `cluster-admin` or `team-a:edit,team-b:edit`.
pub const ROLES_ANNOTATION: &str = "shoal.io/token-roles";
/// Annotation with the expiry, RFC 3339 or `never`.
pub const EXPIRES_ANNOTATION: &str = "shoal.io/token-expires-at";
/// Group of cluster admins.
pub const ADMIN_GROUP: &str = "system:masters";
/// Characters in a token.
pub const TOKEN_LEN: usize = 48;
/// Longest TTL accepted (100 years); `--ttl 0` is the way to say "never".
const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 86_400);

/// The collection of Secrets in `kube-system`.
fn secrets_path() -> String {
    format!("/api/v1/namespaces/{NAMESPACE}/secrets")
}

fn secret_path(name: &str) -> String {
    format!("{}/{}", secrets_path(), client::encode(name))
}

#[derive(Debug, clap::Args)]
pub struct Token {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TokenCommand {
    /// Issue a token for a user, print it once, and optionally write a kubeconfig with it.
    Create(Create),
    /// List the issued tokens: user, roles, expiry, Secret name, age.
    List(List),
    /// Revoke tokens by Secret name, or all of a user's.
    Revoke(Revoke),
}

impl Token {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        match &self.command {
            TokenCommand::Create(c) => c.run(g, out),
            TokenCommand::List(c) => c.run(g, out),
            TokenCommand::Revoke(c) => c.run(g, out),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Create {
    /// Make a join token for agents (`shoal-agent --token-file`) instead of a user token.
    #[arg(long, conflicts_with_all = ["user", "role", "kubeconfig_out", "namespace"])]
    join: bool,
    /// The user the token authenticates as.
    #[arg(long, value_name = "NAME", required_unless_present = "join")]
    user: Option<String>,
    /// cluster-admin, or view, edit or admin in the --namespace(s).
    #[arg(long, value_name = "ROLE", required_unless_present = "join")]
    role: Option<String>,
    /// A namespace the role applies in (repeatable); the first is the written kubeconfig's
    /// namespace.
    // Design: the same id as the global `-n/--namespace`, so this one takes its place here and
    // may be repeated.
    #[arg(short = 'n', long = "namespace", id = "namespace", value_name = "NS")]
    namespaces: Vec<String>,
    /// How long the token is valid: 30m, 24h, 7d, 1d12h; 0 never expires.
    #[arg(long, value_name = "DURATION", default_value = "0")]
    ttl: String,
    /// Also write a kubeconfig for the user to FILE (mode 0600; FILE must not exist): the
    /// current context's server and CA, the new token, the first --namespace.
    #[arg(long, value_name = "FILE")]
    kubeconfig_out: Option<PathBuf>,
}

impl Create {
    fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        if self.join {
            return self.create_join(g, out);
        }
        let user = check_user(self.user.as_deref().unwrap_or_default()).map_err(CmdError::Usage)?;
        let grant = Grant::parse(self.role.as_deref().unwrap_or_default(), &self.namespaces)
            .map_err(CmdError::Usage)?;
        let ttl = parse_ttl(&self.ttl).map_err(CmdError::Usage)?;
        let s = Session::connect(g)?;

        let token = generate_token();
        let expires_at_ms = ttl.map(|d| now_ms().saturating_add(d.as_millis() as u64));
        let secret = token_secret(&token, user, &grant, expires_at_ms);
        let name = secret_name(&digest_hex(&token));

        // The kubeconfig is written before the token exists, so a file that cannot be written
        // leaves no token behind; it is removed again if the hub refuses the token.
        let written = match &self.kubeconfig_out {
            Some(path) => {
                let text = kubeconfig_for(&s.conn, user, &token, grant.default_namespace())?;
                write_private(path, &text)?;
                Some(path)
            }
            None => None,
        };
        if let Err(e) = s.client.post(&secrets_path(), &secret) {
            if let Some(p) = written {
                let _ = std::fs::remove_file(p);
            }
            return Err(admin_only(e).into());
        }
        // The token alone on stdout (`TOKEN=$(shoalctl token create ...)`); the rest on stderr.
        writeln!(out, "{token}")?;
        out.flush()?;
        eprintln!(
            "token \"{name}\" created for user \"{user}\" ({}; {})",
            grant.describe(),
            match expires_at_ms {
                Some(ms) => format!("expires {}", rfc3339_ms(ms)),
                None => "never expires".into(),
            }
        );
        if let Some(p) = written {
            eprintln!("kubeconfig for \"{user}\" written to {}", p.display());
        }
        Ok(Outcome::Done)
    }
}

impl Create {
    /// `--join`: a join token with the TTL, stored as its digest (see [`super::join_token`]).
    fn create_join(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        use super::join_token;
        let ttl = parse_ttl(&self.ttl).map_err(CmdError::Usage)?;
        let s = Session::connect(g)?;
        let Some(ca) = s.conn.ca.first() else {
            return Err(CmdError::Usage(
                "a join token pins the hub's CA, and this connection has none (use the hub's kubeconfig)".into(),
            ));
        };
        let secret = join_token::generate_secret();
        let expires_at_ms = ttl.map(|d| now_ms().saturating_add(d.as_millis() as u64));
        s.client
            .post(
                &secrets_path(),
                &join_token::join_secret(&secret, expires_at_ms),
            )
            .map_err(admin_only)?;
        writeln!(out, "{}", join_token::token_string(ca.as_ref(), &secret))?;
        out.flush()?;
        eprintln!(
            "join token \"{}\" created ({})",
            join_token::secret_name(&secret),
            match expires_at_ms {
                Some(ms) => format!("expires {}", rfc3339_ms(ms)),
                None => "never expires".into(),
            }
        );
        Ok(Outcome::Done)
    }
}

#[derive(Debug, clap::Args)]
pub struct List {}

impl List {
    fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        let s = Session::connect(g)?;
        let tokens = list_tokens(&s)?;
        if tokens.is_empty() {
            eprintln!("No tokens found.");
            return Ok(Outcome::Done);
        }
        let mut infos: Vec<TokenInfo> = tokens.iter().map(TokenInfo::from_secret).collect();
        infos.sort_by(|a, b| (&a.user, a.created, &a.name).cmp(&(&b.user, b.created, &b.name)));
        out.write_all(token_table(&infos, now_ms()).render(true).as_bytes())?;
        Ok(Outcome::Done)
    }
}

#[derive(Debug, clap::Args)]
pub struct Revoke {
    /// Secret name(s) of the tokens, as `token list` shows them.
    #[arg(
        value_name = "NAME",
        required_unless_present = "user",
        conflicts_with = "user"
    )]
    names: Vec<String>,
    /// Revoke every token of this user.
    #[arg(long, value_name = "USER")]
    user: Option<String>,
}

impl Revoke {
    fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        let s = Session::connect(g)?;
        if let Some(user) = &self.user {
            let names: Vec<String> = list_tokens(&s)?
                .iter()
                .filter(|t| TokenInfo::belongs_to(t, user))
                .filter_map(|t| t.pointer("/metadata/name").and_then(Value::as_str))
                .map(str::to_string)
                .collect();
            if names.is_empty() {
                return Err(CmdError::Usage(format!("no tokens for user \"{user}\"")));
            }
            let mut outcome = Outcome::Done;
            for name in &names {
                outcome = outcome.and(revoke_one(&s, name, out)?);
            }
            return Ok(outcome);
        }
        let mut outcome = Outcome::Done;
        for name in &self.names {
            outcome = outcome.and(revoke_one_checked(&s, name, out)?);
        }
        Ok(outcome)
    }
}

/// Checks that `name` is a token Secret and deletes it; `Ok(false)` when that failed and was
/// reported. `Err` only for what stops everything (unreachable hub, refused credentials,
/// stdout).
fn revoke_one_checked(s: &Session, name: &str, out: &mut dyn Write) -> Result<bool, CmdError> {
    match check_token_secret(s, name) {
        Ok(()) => revoke_one(s, name, out),
        Err(e) => fail_item(e),
    }
}

fn revoke_one(s: &Session, name: &str, out: &mut dyn Write) -> Result<bool, CmdError> {
    match delete_token(s, name, out) {
        Ok(()) => Ok(true),
        Err(e) => fail_item(e),
    }
}

/// Reports a per-item failure, or passes on what must stop the command.
fn fail_item(e: CmdError) -> Result<bool, CmdError> {
    match e {
        // A 403 holds for every token: stop there.
        CmdError::Client(ClientError::Status { code: 403, .. }) => Err(e),
        CmdError::Usage(_) | CmdError::Client(ClientError::Status { .. }) => {
            report(e);
            Ok(false)
        }
        other => Err(other),
    }
}

/// `Ok` when `name` is a user-token Secret; "no such token" otherwise.
fn check_token_secret(s: &Session, name: &str) -> Result<(), CmdError> {
    match s.client.get(&secret_path(name), client::JSON) {
        Ok(v) if is_token_type(&v) => Ok(()),
        Ok(_) => Err(CmdError::Usage(format!(
            "secret \"{name}\" in {NAMESPACE} is not a user token (type {SECRET_TYPE}); not deleting it"
        ))),
        Err(e) if e.is_not_found() => Err(no_such_token(name)),
        Err(e) => Err(admin_only(e).into()),
    }
}

fn delete_token(s: &Session, name: &str, out: &mut dyn Write) -> Result<(), CmdError> {
    match s.client.delete(&secret_path(name)) {
        Ok(_) => {
            writeln!(out, "token \"{name}\" revoked")?;
            Ok(())
        }
        Err(e) if e.is_not_found() => Err(no_such_token(name)),
        Err(e) => Err(admin_only(e).into()),
    }
}

fn no_such_token(name: &str) -> CmdError {
    CmdError::Usage(format!(
        "token \"{name}\" not found (see shoalctl token list)"
    ))
}

/// The user-token Secrets in `kube-system`.
fn list_tokens(s: &Session) -> Result<Vec<Value>, CmdError> {
    let list = s
        .client
        .get(&secrets_path(), client::JSON)
        .map_err(admin_only)?;
    Ok(list
        .get("items")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|i| is_token_type(i))
        .cloned()
        .collect())
}

/// User tokens and join tokens.
fn is_token_type(v: &Value) -> bool {
    matches!(
        v.get("type").and_then(Value::as_str),
        Some(SECRET_TYPE | super::join_token::JOIN_SECRET_TYPE)
    )
}

/// A 403 on token Secrets means the caller is not a cluster admin: say so.
fn admin_only(e: ClientError) -> ClientError {
    match e {
        ClientError::Status {
            code: 403,
            reason,
            message,
        } => ClientError::Status {
            code: 403,
            reason,
            message: format!(
                "{message} (managing tokens takes a cluster admin, group {ADMIN_GROUP})"
            ),
        },
        other => other,
    }
}

// ---- What a token grants ----------------------------------------------------------------

/// A namespace role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NsRole {
    View,
    Edit,
    Admin,
}

impl NsRole {
    fn as_str(self) -> &'static str {
        match self {
            NsRole::View => "view",
            NsRole::Edit => "edit",
            NsRole::Admin => "admin",
        }
    }
}

/// The roles a token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    ClusterAdmin,
    /// `role` in each namespace (at least one, no repeats, in the order given).
    Namespaced {
        role: NsRole,
        namespaces: Vec<String>,
    },
}

impl Grant {
    /// `--role` and the `--namespace`s.
    pub fn parse(role: &str, namespaces: &[String]) -> Result<Grant, String> {
        let role = match role {
            "cluster-admin" => {
                if !namespaces.is_empty() {
                    return Err("--namespace does not go with --role cluster-admin (a cluster admin reaches every namespace)".into());
                }
                return Ok(Grant::ClusterAdmin);
            }
            "view" => NsRole::View,
            "edit" => NsRole::Edit,
            "admin" => NsRole::Admin,
            other => {
                return Err(format!(
                    "unknown role \"{other}\": use cluster-admin, or view, edit or admin with --namespace NS"
                ))
            }
        };
        if namespaces.is_empty() {
            return Err(format!(
                "--role {} needs --namespace NS (the namespace it applies in; repeat for more)",
                role.as_str()
            ));
        }
        let mut list: Vec<String> = Vec::new();
        for ns in namespaces {
            if !is_dns_label(ns) {
                return Err(format!("invalid namespace \"{ns}\": a namespace name is lower-case letters, digits and '-', at most 63 characters"));
            }
            // Secrets there include the token Secrets: writing them is minting cluster admins.
            if ns == NAMESPACE && role != NsRole::View {
                return Err(format!(
                    "--role {} in {NAMESPACE} could issue itself any token; use --role cluster-admin for that",
                    role.as_str()
                ));
            }
            if !list.contains(ns) {
                list.push(ns.clone());
            }
        }
        Ok(Grant::Namespaced {
            role,
            namespaces: list,
        })
    }

    /// The groups the hub reads.
    pub fn groups(&self) -> Vec<String> {
        match self {
            Grant::ClusterAdmin => vec![ADMIN_GROUP.to_string()],
            Grant::Namespaced { role, namespaces } => namespaces
                .iter()
                .map(|ns| format!("shoal:ns:{ns}:{}", role.as_str()))
                .collect(),
        }
    }

    /// `cluster-admin` or `team-a:edit,team-b:edit`.
    pub fn describe(&self) -> String {
        describe_groups(&self.groups())
    }

    /// The namespace a kubeconfig for this grant starts in.
    pub fn default_namespace(&self) -> Option<&str> {
        match self {
            Grant::ClusterAdmin => None,
            Grant::Namespaced { namespaces, .. } => namespaces.first().map(String::as_str),
        }
    }
}

/// Groups as people read them: `system:masters` is `cluster-admin`, `shoal:ns:a:edit` is
/// `a:edit`, anything else as it is.
pub fn describe_groups<S: AsRef<str>>(groups: &[S]) -> String {
    let parts: Vec<String> = groups
        .iter()
        .map(AsRef::as_ref)
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(|g| match g {
            ADMIN_GROUP => "cluster-admin".to_string(),
            g => g.strip_prefix("shoal:ns:").unwrap_or(g).to_string(),
        })
        .collect();
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(",")
    }
}

/// A user name: not empty, no surrounding blanks, no control characters.
fn check_user(user: &str) -> Result<&str, String> {
    if user.trim().is_empty() {
        return Err("--user must not be empty".into());
    }
    if user.trim() != user || user.chars().any(char::is_control) {
        return Err(format!(
            "invalid user name {user:?}: no surrounding blanks or control characters"
        ));
    }
    Ok(user)
}

/// An RFC 1123 label: what namespace names are.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Whether `s` may be a label value (so the user label is set only when it can be).
fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

// ---- TTLs, times and ages ----------------------------------------------------------------

/// `--ttl`: `30s`, `30m`, `24h`, `7d` or sums like `1d12h`; `0` (in any unit) is `None`,
/// never expiring.
pub fn parse_ttl(s: &str) -> Result<Option<Duration>, String> {
    let bad = || {
        format!("invalid --ttl {s:?}: give a duration like 30m, 24h or 7d, or 0 for a token that never expires")
    };
    let t = s.trim();
    if t == "0" {
        return Ok(None);
    }
    if t.is_empty() {
        return Err(bad());
    }
    let mut secs: u64 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit = match rest.chars().next() {
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86_400,
            _ => return Err(bad()),
        };
        rest = &rest[1..];
        secs = n
            .checked_mul(unit)
            .and_then(|x| secs.checked_add(x))
            .ok_or_else(bad)?;
    }
    let d = Duration::from_secs(secs);
    if d > MAX_TTL {
        return Err(format!(
            "--ttl {s} is longer than 100 years; use --ttl 0 for a token that never expires"
        ));
    }
    Ok((!d.is_zero()).then_some(d))
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A time in milliseconds as RFC 3339, rounded up to the second (the token is refused from
/// that second on).
pub fn rfc3339_ms(ms: u64) -> String {
    let secs = ms.div_ceil(1000).min(i64::MAX as u64) as i64;
    match jiff::Timestamp::from_second(secs) {
        Ok(t) => t.to_string(),
        Err(_) => format!("{ms}ms"),
    }
}

/// kubectl's `HumanDuration` (`5s`, `3m20s`, `4h30m`, `2d3h`, `1y10d`).
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        return match secs % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{}d", hours / 24),
            h => format!("{}d{h}h", hours / 24),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        return match (hours / 24) % 365 {
            0 => format!("{}y", hours / 24 / 365),
            d => format!("{}y{d}d", hours / 24 / 365),
        };
    }
    format!("{}y", hours / 24 / 365)
}

// ---- Secrets -----------------------------------------------------------------------------

/// A new token: 48 alphanumeric characters from the operating system's randomness.
pub fn generate_token() -> String {
    use rand::distributions::Alphanumeric;
    use rand::Rng;
    rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(TOKEN_LEN)
        .map(char::from)
        .collect()
}

/// Lower-case hex SHA-256 of a token.
pub fn digest_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The Secret's name for a token digest.
pub fn secret_name(digest_hex: &str) -> String {
    format!("shoal-token-{}", &digest_hex[..digest_hex.len().min(20)])
}

pub fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn unb64(s: &str) -> Option<String> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// The Secret that makes `token` valid (the token itself is not in it).
pub fn token_secret(token: &str, user: &str, grant: &Grant, expires_at_ms: Option<u64>) -> Value {
    let hex = digest_hex(token);
    let mut metadata = json!({
        "name": secret_name(&hex),
        "namespace": NAMESPACE,
        "annotations": {
            USER_LABEL: user,
            ROLES_ANNOTATION: grant.describe(),
            EXPIRES_ANNOTATION: expires_at_ms.map_or_else(|| "never".to_string(), rfc3339_ms),
        },
    });
    if is_label_value(user) {
        metadata["labels"] = json!({ USER_LABEL: user });
    }
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": SECRET_TYPE,
        "data": {
            "token-sha256": b64(&hex),
            "user": b64(user),
            "groups": b64(&grant.groups().join(",")),
            "expires-at": b64(&expires_at_ms.unwrap_or(0).to_string()),
        },
    })
}

/// When a token stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expiry {
    Never,
    At(jiff::Timestamp),
}

/// One row of `token list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub name: String,
    pub user: String,
    pub roles: String,
    pub expires: Expiry,
    pub created: Option<jiff::Timestamp>,
}

impl TokenInfo {
    /// Reads the label and annotations, or `data` where they are missing.
    pub fn from_secret(v: &Value) -> TokenInfo {
        let meta = |kind: &str, key: &str| -> Option<String> {
            v.get("metadata")
                .and_then(|m| m.get(kind))
                .and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let data = |key: &str| -> Option<String> {
            v.pointer(&format!("/data/{key}"))
                .and_then(Value::as_str)
                .and_then(unb64)
        };
        let user = meta("labels", USER_LABEL)
            .or_else(|| meta("annotations", USER_LABEL))
            .or_else(|| data("user"))
            .unwrap_or_default();
        let roles = meta("annotations", ROLES_ANNOTATION).unwrap_or_else(|| {
            let groups = data("groups").unwrap_or_default();
            describe_groups(&groups.split(',').collect::<Vec<_>>())
        });
        let from_annotation = meta("annotations", EXPIRES_ANNOTATION).and_then(|e| {
            if e == "never" {
                Some(Expiry::Never)
            } else {
                e.parse().ok().map(Expiry::At)
            }
        });
        // As the hub reads `expires-at`: no number, or 0, never expires.
        let expires = from_annotation.unwrap_or_else(|| {
            match data("expires-at").and_then(|e| e.trim().parse::<i64>().ok()) {
                Some(ms) if ms > 0 => jiff::Timestamp::from_millisecond(ms)
                    .map(Expiry::At)
                    .unwrap_or(Expiry::Never),
                _ => Expiry::Never,
            }
        });
        TokenInfo {
            name: v
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            user,
            roles,
            expires,
            created: v
                .pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
                .and_then(|t| t.parse().ok()),
        }
    }

    /// Whether the token Secret is `user`'s, by its label, annotation or `data`.
    pub fn belongs_to(v: &Value, user: &str) -> bool {
        let at = |p: &str| v.pointer(p).and_then(Value::as_str);
        // `~1` is `/` in a JSON pointer.
        let key = USER_LABEL.replace('/', "~1");
        at(&format!("/metadata/labels/{key}")) == Some(user)
            || at(&format!("/metadata/annotations/{key}")) == Some(user)
            || at("/data/user").and_then(unb64).as_deref() == Some(user)
    }

    fn expires_cell(&self, now_ms: u64) -> String {
        match &self.expires {
            Expiry::Never => "never".into(),
            Expiry::At(t) if t.as_millisecond() <= now_ms as i64 => "expired".into(),
            Expiry::At(t) => t.to_string(),
        }
    }

    fn age_cell(&self, now_ms: u64) -> String {
        match self.created {
            Some(t) => {
                let ms = (now_ms as i64).saturating_sub(t.as_millisecond()).max(0);
                human_duration(Duration::from_millis(ms as u64))
            }
            None => "<unknown>".into(),
        }
    }
}

/// USER, ROLES, EXPIRES, NAME, AGE.
pub fn token_table(infos: &[TokenInfo], now_ms: u64) -> Table {
    Table {
        headers: ["USER", "ROLES", "EXPIRES", "NAME", "AGE"]
            .map(String::from)
            .to_vec(),
        rows: infos
            .iter()
            .map(|i| {
                vec![
                    i.user.clone(),
                    i.roles.clone(),
                    i.expires_cell(now_ms),
                    i.name.clone(),
                    i.age_cell(now_ms),
                ]
            })
            .collect(),
    }
}

// ---- Kubeconfig for the new user ---------------------------------------------------------

/// A kubeconfig with the connection's server and CA, the token, and `namespace`.
pub fn kubeconfig_for(
    conn: &Connection,
    user: &str,
    token: &str,
    namespace: Option<&str>,
) -> Result<String, CmdError> {
    let cluster_name = "shoal";
    let context_name = format!("{user}@{cluster_name}");
    let mut cluster = json!({ "server": conn.server });
    if !conn.ca.is_empty() {
        let pem: String = conn
            .ca
            .iter()
            .map(|c| pem_certificate(c.as_ref()))
            .collect();
        cluster["certificate-authority-data"] = json!(b64(&pem));
    }
    let mut context = json!({ "cluster": cluster_name, "user": user });
    if let Some(ns) = namespace {
        context["namespace"] = json!(ns);
    }
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": cluster_name, "cluster": cluster }],
        "users": [{ "name": user, "user": { "token": token } }],
        "contexts": [{ "name": context_name, "context": context }],
        "current-context": context_name,
        "preferences": {},
    });
    Ok(output::to_yaml(&doc)?)
}

/// One DER certificate as PEM.
fn pem_certificate(der: &[u8]) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE-----\n");
    s
}

/// Writes a new file readable by its owner only; an existing file is never replaced.
fn write_private(path: &Path, text: &str) -> Result<(), CmdError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let write_err = |source| CmdError::WriteFile {
        path: path.display().to_string(),
        source,
    };
    let mut f = match opts.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(CmdError::Usage(format!(
                "{} already exists; a kubeconfig with a token is only written to a new file",
                path.display()
            )))
        }
        Err(e) => return Err(write_err(e)),
    };
    let written = f.write_all(text.as_bytes()).and_then(|()| f.sync_all());
    if let Err(e) = written {
        drop(f);
        let _ = std::fs::remove_file(path);
        return Err(write_err(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ttls() {
        let h = |n: u64| Some(Duration::from_secs(n * 3600));
        assert_eq!(parse_ttl("24h"), Ok(h(24)));
        assert_eq!(parse_ttl("30m"), Ok(Some(Duration::from_secs(1800))));
        assert_eq!(parse_ttl("7d"), Ok(h(168)));
        assert_eq!(parse_ttl("1s"), Ok(Some(Duration::from_secs(1))));
        assert_eq!(parse_ttl("1d12h"), Ok(h(36)));
        assert_eq!(parse_ttl(" 2h30m "), Ok(Some(Duration::from_secs(9000))));
        assert_eq!(parse_ttl("0"), Ok(None));
        assert_eq!(parse_ttl("0h"), Ok(None));
        for bad in [
            "", "24", "h", "5x", "-1h", "1.5h", "24H", "1h30", "forever", "1 h",
        ] {
            let e = parse_ttl(bad).expect_err(bad);
            assert!(e.starts_with("invalid --ttl"), "{bad}: {e}");
            assert!(!e.contains('\n'));
        }
        assert!(parse_ttl("99999999999999999999d").is_err(), "overflow");
        assert!(parse_ttl("36500d").is_ok());
        assert!(parse_ttl("36501d")
            .expect_err("too long")
            .contains("longer than 100 years"));
    }

    #[test]
    fn grants() {
        assert_eq!(Grant::parse("cluster-admin", &[]), Ok(Grant::ClusterAdmin));
        assert_eq!(Grant::ClusterAdmin.groups(), ["system:masters"]);
        assert_eq!(Grant::ClusterAdmin.describe(), "cluster-admin");
        assert_eq!(Grant::ClusterAdmin.default_namespace(), None);

        let g = Grant::parse("edit", &strings(&["team-a", "team-b", "team-a"])).expect("edit");
        assert_eq!(g.groups(), ["shoal:ns:team-a:edit", "shoal:ns:team-b:edit"]);
        assert_eq!(g.describe(), "team-a:edit,team-b:edit");
        assert_eq!(g.default_namespace(), Some("team-a"));
        for (role, want) in [("view", "x:view"), ("admin", "x:admin")] {
            assert_eq!(
                Grant::parse(role, &strings(&["x"])).expect(role).describe(),
                want
            );
        }

        let e = Grant::parse("edit", &[]).expect_err("no namespace");
        assert!(e.contains("needs --namespace"), "{e}");
        let e = Grant::parse("owner", &[]).expect_err("unknown");
        assert!(e.starts_with("unknown role \"owner\""), "{e}");
        assert!(Grant::parse("cluster-admin", &strings(&["a"])).is_err());
        assert!(Grant::parse("view", &strings(&["Team_A"])).is_err());
        assert!(Grant::parse("view", &strings(&["a:b"])).is_err());
        assert!(Grant::parse("edit", &strings(&["kube-system"])).is_err());
        assert!(Grant::parse("view", &strings(&["kube-system"])).is_ok());
    }

    #[test]
    fn user_names() {
        assert_eq!(check_user("alice"), Ok("alice"));
        assert_eq!(check_user("alice@example.com"), Ok("alice@example.com"));
        assert!(check_user("").is_err());
        assert!(check_user(" alice").is_err());
        assert!(check_user("a\nb").is_err());
        assert!(is_label_value("alice.b_c-1"));
        assert!(!is_label_value("alice@example.com"));
        assert!(!is_label_value("-a"));
    }

    #[test]
    fn tokens_are_48_random_alphanumerics() {
        let a = generate_token();
        let b = generate_token();
        assert_eq!(a.len(), TOKEN_LEN);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn the_secret_holds_the_digest_and_readable_facts() {
        let token = "secret-token-value-1234";
        let hex = digest_hex(token);
        assert_eq!(hex.len(), 64);
        assert_eq!(
            digest_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            secret_name(&digest_hex("abc")),
            "shoal-token-ba7816bf8f01cfea4141"
        );
        let grant = Grant::parse("edit", &strings(&["team-a", "team-b"])).expect("grant");
        // 2030-01-01T00:00:00Z, plus 1 ms: rounded up to the next second.
        let exp = 1_893_456_000_001;
        let s = token_secret(token, "alice", &grant, Some(exp));
        assert_eq!(s["kind"], "Secret");
        assert_eq!(s["type"], SECRET_TYPE);
        assert_eq!(s["metadata"]["namespace"], "kube-system");
        assert_eq!(s["metadata"]["name"], format!("shoal-token-{}", &hex[..20]));
        assert_eq!(s["metadata"]["labels"][USER_LABEL], "alice");
        assert_eq!(
            s["metadata"]["annotations"][ROLES_ANNOTATION],
            "team-a:edit,team-b:edit"
        );
        assert_eq!(
            s["metadata"]["annotations"][EXPIRES_ANNOTATION],
            "2030-01-01T00:00:01Z"
        );
        let data = |k: &str| unb64(s["data"][k].as_str().expect(k)).expect(k);
        assert_eq!(data("token-sha256"), hex);
        assert_eq!(data("user"), "alice");
        assert_eq!(data("groups"), "shoal:ns:team-a:edit,shoal:ns:team-b:edit");
        assert_eq!(data("expires-at"), "1893456000001");
        assert!(
            !s.to_string().contains(token),
            "the token itself is not stored"
        );

        let s = token_secret(token, "bob@example.com", &Grant::ClusterAdmin, None);
        assert!(
            s["metadata"].get("labels").is_none(),
            "not a label value: no label"
        );
        assert_eq!(s["metadata"]["annotations"][USER_LABEL], "bob@example.com");
        assert_eq!(s["metadata"]["annotations"][EXPIRES_ANNOTATION], "never");
        assert_eq!(
            s["metadata"]["annotations"][ROLES_ANNOTATION],
            "cluster-admin"
        );
        assert_eq!(
            unb64(s["data"]["expires-at"].as_str().expect("exp")).expect("b64"),
            "0"
        );
        assert_eq!(
            unb64(s["data"]["groups"].as_str().expect("groups")).expect("b64"),
            "system:masters"
        );
    }

    #[test]
    fn list_rows_from_annotations_or_data() {
        let grant = Grant::parse("view", &strings(&["a"])).expect("grant");
        let mut s = token_secret("t1", "alice", &grant, Some(2_000_000));
        s["metadata"]["creationTimestamp"] = json!("1970-01-01T00:00:00Z");
        let info = TokenInfo::from_secret(&s);
        assert_eq!(info.user, "alice");
        assert_eq!(info.roles, "a:view");
        assert!(TokenInfo::belongs_to(&s, "alice"));
        assert!(!TokenInfo::belongs_to(&s, "bob"));

        // A Secret made by hand, as in the hub's own tests: no label, no annotations.
        let by_hand = json!({"type": SECRET_TYPE, "metadata": {"name": "shoal-token-x"}, "data": {
            "user": b64("bob"), "groups": b64("shoal:ns:b:edit,system:masters"), "expires-at": b64("0")}});
        let hand = TokenInfo::from_secret(&by_hand);
        assert_eq!(
            (hand.user.as_str(), hand.roles.as_str(), &hand.expires),
            ("bob", "b:edit,cluster-admin", &Expiry::Never)
        );
        assert!(TokenInfo::belongs_to(&by_hand, "bob"));
        let mut later = by_hand.clone();
        later["data"]["expires-at"] = json!(b64("4000000"));
        assert_eq!(
            TokenInfo::from_secret(&later).expires_cell(0),
            "1970-01-01T01:06:40Z"
        );

        let t = token_table(&[info, hand], 1_000_000);
        assert_eq!(t.headers, ["USER", "ROLES", "EXPIRES", "NAME", "AGE"]);
        assert_eq!(t.rows[0][2], "1970-01-01T00:33:20Z");
        assert_eq!(t.rows[0][4], "16m");
        assert_eq!(t.rows[1][2], "never");
        assert_eq!(t.rows[1][4], "<unknown>");
        let t = token_table(&[TokenInfo::from_secret(&s)], 2_000_000);
        assert_eq!(t.rows[0][2], "expired", "expired at that very millisecond");
    }

    #[test]
    fn ages_read_like_kubectl() {
        let s = Duration::from_secs;
        for (secs, want) in [
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (200, "3m20s"),
            (600, "10m"),
            (179 * 60, "179m"),
            (3 * 3600, "3h"),
            (4 * 3600 + 30 * 60, "4h30m"),
            (47 * 3600, "47h"),
            (51 * 3600, "2d3h"),
            (8 * 86_400, "8d"),
            (800 * 86_400, "2y70d"),
            (3000 * 86_400, "8y"),
        ] {
            assert_eq!(human_duration(s(secs)), want, "{secs}s");
        }
    }

    #[test]
    fn kubeconfig_for_the_new_user() {
        let conn = Connection {
            server: "https://127.0.0.1:6443".into(),
            ca: vec![rustls_pki_types::CertificateDer::from(vec![1u8; 100])],
            ca_origin: String::new(),
            token: Some("admin-token".into()),
            credentials_hint: String::new(),
            namespace: "default".into(),
            namespace_from_flag: false,
        };
        let text = kubeconfig_for(&conn, "alice", "TOKEN123", Some("team-a")).expect("yaml");
        let v: Value = serde_yaml_ng::from_str(&text).expect("parses");
        assert_eq!(v["current-context"], "alice@shoal");
        assert_eq!(
            v["clusters"][0]["cluster"]["server"],
            "https://127.0.0.1:6443"
        );
        assert_eq!(v["users"][0]["name"], "alice");
        assert_eq!(v["users"][0]["user"]["token"], "TOKEN123");
        assert_eq!(v["contexts"][0]["context"]["namespace"], "team-a");
        assert_eq!(v["contexts"][0]["context"]["user"], "alice");
        let pem = unb64(
            v["clusters"][0]["cluster"]["certificate-authority-data"]
                .as_str()
                .expect("ca"),
        )
        .expect("b64");
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"), "{pem}");
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert!(!text.contains("admin-token"));
        let text = kubeconfig_for(&conn, "root", "T", None).expect("yaml");
        let v: Value = serde_yaml_ng::from_str(&text).expect("parses");
        assert!(v["contexts"][0]["context"].get("namespace").is_none());
    }

    #[test]
    fn kubeconfig_files_are_private_and_never_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("alice.kubeconfig");
        write_private(&p, "x: 1\n").expect("writes");
        assert_eq!(std::fs::read_to_string(&p).expect("reads"), "x: 1\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let e = write_private(&p, "y: 2\n").expect_err("exists");
        assert!(e.render().contains("already exists"), "{}", e.render());
        assert_eq!(std::fs::read_to_string(&p).expect("reads"), "x: 1\n");
    }

    #[test]
    fn forbidden_says_who_may() {
        let e = admin_only(ClientError::Status {
            code: 403,
            reason: "Forbidden".into(),
            message: "secrets is forbidden: User \"alice\" cannot create resource \"secrets\""
                .into(),
        });
        assert_eq!(e.to_string(), "Error from server (Forbidden): secrets is forbidden: User \"alice\" cannot create resource \"secrets\" (managing tokens takes a cluster admin, group system:masters)");
    }
}
