//! `GET /api/v1/namespaces/{ns}/pods/{name}/log`: a container's log, from the agent that runs
//! the pod, as `text/plain` (streamed while `follow=true`).
//!
//! Query: `container`, `follow`, `tailLines`, `sinceSeconds` or `sinceTime`, `previous`,
//! `timestamps`, `limitBytes` (what kubectl and the Python client send). [`LogQuery::parse`]
//! checks them as the Kubernetes API server does; the hub resolves the container and turns
//! relative times into absolute ones, so the agent gets a complete [`LogsRequest`].
//!
//! Design: the response body reads the agent's stream directly: QUIC flow control paces the
//! agent to the HTTP client, and when the client goes away actix drops the body, which drops
//! the stream; the agent sees the stop and stops following.

use actix_web::web::Bytes;
use actix_web::HttpResponse;
use shoal_transport::wire::{LogsRequest, StreamRequest};

use super::error::ApiError;
use super::node_stream;
use super::request::{Query, Target};
use super::ApiState;
use crate::controllers::parse_time_ms;

/// Largest piece of the body read from the agent at once.
const READ_CHUNK: usize = 64 * 1024;

/// The log options of a request, checked.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LogQuery {
    pub container: String,
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<u64>,
    pub since_seconds: Option<u64>,
    pub since_time_ms: Option<u64>,
    pub limit_bytes: Option<u64>,
}

impl LogQuery {
    /// Parses and validates the query (400 with Kubernetes' wording on bad values).
    pub fn parse(q: &Query) -> Result<LogQuery, ApiError> {
        let int = |k: &str| -> Result<Option<i64>, ApiError> {
            match q.get(k) {
                None | Some("") => Ok(None),
                Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                    ApiError::bad_request(format!("invalid {k} {v:?}: must be an integer"))
                }),
            }
        };
        let tail_lines = match int("tailLines")? {
            Some(n) if n < 0 => {
                return Err(ApiError::bad_request(
                    "tailLines: must be greater than or equal to 0",
                ))
            }
            n => n.map(|n| n as u64),
        };
        let since_seconds = match int("sinceSeconds")? {
            Some(n) if n < 1 => {
                return Err(ApiError::bad_request(
                    "sinceSeconds: must be greater than 0",
                ))
            }
            n => n.map(|n| n as u64),
        };
        let limit_bytes = match int("limitBytes")? {
            Some(n) if n < 1 => {
                return Err(ApiError::bad_request("limitBytes: must be greater than 0"))
            }
            n => n.map(|n| n as u64),
        };
        let since_time_ms = match q.get("sinceTime") {
            None | Some("") => None,
            Some(t) => Some(parse_time_ms(t).ok_or_else(|| {
                ApiError::bad_request(format!("invalid sinceTime {t:?}: must be an RFC 3339 time"))
            })?),
        };
        if since_seconds.is_some() && since_time_ms.is_some() {
            return Err(ApiError::bad_request(
                "at most one of sinceTime or sinceSeconds may be specified",
            ));
        }
        Ok(LogQuery {
            container: q.get("container").unwrap_or_default().to_string(),
            follow: q.flag("follow"),
            previous: q.flag("previous"),
            timestamps: q.flag("timestamps"),
            tail_lines,
            since_seconds,
            since_time_ms,
            limit_bytes,
        })
    }

    /// The request for the agent; `now_ms` turns `sinceSeconds` into a time.
    pub fn to_request(
        &self,
        pod: shoal_transport::wire::PodRef,
        container: String,
        now_ms: u64,
    ) -> LogsRequest {
        let since_ms = self.since_time_ms.or_else(|| {
            self.since_seconds
                .map(|s| now_ms.saturating_sub(s.saturating_mul(1000)))
        });
        LogsRequest {
            pod,
            container,
            follow: self.follow,
            tail_lines: self.tail_lines,
            since_ms,
            previous: self.previous,
            timestamps: self.timestamps,
            limit_bytes: self.limit_bytes,
        }
    }
}

/// Serves `pods/log`.
pub async fn logs(state: &ApiState, target: &Target, q: &Query) -> Result<HttpResponse, ApiError> {
    let query = LogQuery::parse(q)?;
    let pod = node_stream::load_pod(state, target)?;
    let container = node_stream::resolve_container(&pod.pod, &query.container)?;
    if query.previous {
        node_stream::check_previous(&pod.pod, &container)?;
    }
    let request = query.to_request(
        pod.pod_ref.clone(),
        container,
        shoal_transport::status::now_ms(),
    );
    let (mut send, recv) =
        node_stream::open(&state.nodes, &pod, &StreamRequest::Logs(request)).await?;
    // Nothing more goes to the agent on a logs stream.
    let _ = send.finish();
    let body = futures::stream::unfold(Some((send, recv)), |st| async move {
        let (send, mut recv) = st?;
        match recv.read_chunk(READ_CHUNK, true).await {
            Ok(Some(chunk)) => Some((
                Ok::<Bytes, actix_web::Error>(chunk.bytes),
                Some((send, recv)),
            )),
            Ok(None) => None,
            Err(e) => {
                tracing::debug!(error = %e, "log stream from the agent broke off");
                None
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/plain")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(qs: &str) -> Result<LogQuery, ApiError> {
        LogQuery::parse(&Query::parse(qs))
    }

    #[test]
    fn parses_what_kubectl_sends() {
        let q = parse("container=app&follow=true&tailLines=5&timestamps=true&previous=false")
            .expect("valid");
        assert_eq!(
            q,
            LogQuery {
                container: "app".into(),
                follow: true,
                timestamps: true,
                tail_lines: Some(5),
                ..Default::default()
            }
        );
        let q = parse("sinceTime=2024-01-02T03%3A04%3A05Z&limitBytes=10").expect("valid");
        assert_eq!(q.since_time_ms, Some(1_704_164_645_000));
        assert_eq!(q.limit_bytes, Some(10));
        assert_eq!(parse("").expect("empty"), LogQuery::default());
    }

    #[test]
    fn refuses_bad_values() {
        for qs in [
            "tailLines=-1",
            "tailLines=x",
            "sinceSeconds=0",
            "sinceSeconds=5&sinceTime=2024-01-02T03:04:05Z",
            "sinceTime=yesterday",
            "limitBytes=0",
        ] {
            let e = parse(qs).expect_err(qs);
            assert_eq!(e.code, 400, "{qs}");
        }
    }

    #[test]
    fn since_seconds_becomes_a_time() {
        let q = parse("sinceSeconds=10").expect("valid");
        let pod = shoal_transport::wire::PodRef::default();
        let r = q.to_request(pod.clone(), "c".into(), 100_000);
        assert_eq!(r.since_ms, Some(90_000));
        assert_eq!(r.container, "c");
        let q = parse("sinceSeconds=1000").expect("valid");
        assert_eq!(q.to_request(pod, "c".into(), 5).since_ms, Some(0));
    }
}
