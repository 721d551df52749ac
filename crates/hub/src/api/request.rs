//! Parsing a Kubernetes REST path and query into what it addresses.
//!
//! ```text
//! /api/v1/{plural}[/{name}[/{sub}]]                                cluster-scoped, or all namespaces
//! /api/v1/namespaces/{ns}/{plural}[/{name}[/{sub}]]                namespaced
//! /apis/{group}/{version}/...                                      same shapes for named groups
//! ```

use std::collections::HashMap;

use super::error::ApiError;
use crate::resources::{self, ResourceInfo};

#[derive(Debug)]
pub struct Target {
    pub res: &'static ResourceInfo,
    /// Namespace from the path; `None` for cluster-scoped resources and all-namespace lists.
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Resolves an API path (already split on '/', without the leading `api`/`apis` parts).
pub fn parse_target(group: &str, version: &str, rest: &[&str]) -> Result<Target, ApiError> {
    let find = |plural: &str| -> Result<&'static ResourceInfo, ApiError> {
        resources::find(group, plural)
            .filter(|r| r.version == version)
            .ok_or_else(|| {
                let gv = if group.is_empty() {
                    version.to_string()
                } else {
                    format!("{group}/{version}")
                };
                ApiError::not_found(format!(
                    "the server could not find the requested resource ({plural} in {gv})"
                ))
            })
    };
    match rest {
        // /namespaces/{ns}/{plural}[/{name}[/{sub}]] where plural is a namespaced resource.
        ["namespaces", ns, plural, tail @ ..]
            if resources::find(group, plural).is_some_and(|r| r.namespaced) =>
        {
            let res = find(plural)?;
            let (name, sub) = name_and_sub(tail)?;
            Ok(Target {
                res,
                namespace: Some(ns.to_string()),
                name,
                subresource: sub,
            })
        }
        [plural, tail @ ..] => {
            let res = find(plural)?;
            let (name, sub) = name_and_sub(tail)?;
            if res.namespaced && name.is_some() {
                return Err(ApiError::not_found(format!(
                    "the server could not find the requested resource: {plural} are namespaced; use /namespaces/{{namespace}}/{plural}/{{name}}"
                )));
            }
            Ok(Target {
                res,
                namespace: None,
                name,
                subresource: sub,
            })
        }
        [] => Err(ApiError::not_found(
            "the server could not find the requested resource",
        )),
    }
}

fn name_and_sub(tail: &[&str]) -> Result<(Option<String>, Option<String>), ApiError> {
    match tail {
        [] => Ok((None, None)),
        [name] if !name.is_empty() => Ok((Some(name.to_string()), None)),
        [name, sub] if !name.is_empty() && !sub.is_empty() => {
            Ok((Some(name.to_string()), Some(sub.to_string())))
        }
        _ => Err(ApiError::not_found(
            "the server could not find the requested resource",
        )),
    }
}

/// Query parameters, decoded.
#[derive(Debug, Default)]
pub struct Query {
    params: HashMap<String, String>,
}

impl Query {
    pub fn parse(qs: &str) -> Query {
        let mut params = HashMap::new();
        for pair in qs.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            params.insert(percent_decode(k), percent_decode(v));
        }
        Query { params }
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.params.get(k).map(String::as_str)
    }

    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1"))
    }

    pub fn u64(&self, k: &str) -> Result<Option<u64>, ApiError> {
        match self.get(k) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("invalid {k} {v:?}: must be a non-negative integer"))
            }),
        }
    }
}

/// Decodes `%XX` escapes and `+` (as spaces) of a query string part.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths() {
        let t = parse_target(
            "",
            "v1",
            &["namespaces", "default", "pods", "web", "status"],
        )
        .expect("ok");
        assert_eq!(t.res.plural, "pods");
        assert_eq!(t.namespace.as_deref(), Some("default"));
        assert_eq!(t.name.as_deref(), Some("web"));
        assert_eq!(t.subresource.as_deref(), Some("status"));
        let t = parse_target("", "v1", &["pods"]).expect("ok");
        assert!(t.namespace.is_none() && t.name.is_none());
        let t = parse_target("", "v1", &["namespaces", "default"]).expect("ok");
        assert_eq!(t.res.plural, "namespaces");
        assert_eq!(t.name.as_deref(), Some("default"));
        let t = parse_target("", "v1", &["namespaces", "default", "status"]).expect("ok");
        assert_eq!(t.subresource.as_deref(), Some("status"));
        assert!(parse_target("", "v1", &["widgets"]).is_err());
        assert!(parse_target("", "v1", &["pods", "x"]).is_err());
    }

    #[test]
    fn decodes_queries() {
        let q = Query::parse("labelSelector=app%3Dweb%2Ctier+in+(a)&watch=1&limit=5&bad=%zz");
        assert_eq!(q.get("labelSelector"), Some("app=web,tier in (a)"));
        assert!(q.flag("watch"));
        assert_eq!(q.u64("limit").expect("ok"), Some(5));
        assert_eq!(q.get("bad"), Some("%zz"));
        assert!(Query::parse("limit=x").u64("limit").is_err());
        assert_eq!(Query::parse("a=%4").get("a"), Some("%4"));
    }
}
