//! The DNS server's pure core: parse a query, answer cluster names from the Services, say
//! when a query must go upstream instead.
//!
//! Names answered (`<domain>` is the cluster domain, `cluster.local` by default):
//! - `<service>.<namespace>.svc.<domain>` A: the ClusterIP; for a headless Service, the ready
//!   endpoints' pod IPs.
//! - `_<port>._<proto>.<service>.<namespace>.svc.<domain>` SRV: the named port, target the
//!   Service name.
//! - an ExternalName Service: a CNAME to its `externalName`.
//! - anything else under `<domain>`: NXDOMAIN. Other names: [`Answer::Forward`].
//!
//! Only what a stub resolver sends is understood (one question, no compression in the
//! question); anything else gets FORMERR. Answers carry a 5 s TTL, so endpoint changes show
//! quickly.

use std::net::Ipv4Addr;

use shoal_transport::wire::ServicePlan;

/// TTL of every answer, seconds.
pub const TTL: u32 = 5;
const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_SRV: u16 = 33;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;

/// What to do with a query.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Not a cluster name: relay the query to the upstream resolver.
    Forward,
    /// Not even a DNS query: drop it.
    Drop,
}

struct Question {
    /// Lower-case labels joined by '.', no trailing dot.
    name: String,
    qtype: u16,
    qclass: u16,
    /// Byte offset just past the question.
    end: usize,
}

fn parse_question(q: &[u8]) -> Option<Question> {
    if q.len() < 12 || u16::from_be_bytes([q[4], q[5]]) != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None; // compression or garbage
        }
        let label = q.get(i..i + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        i += len;
        if labels.len() > 127 {
            return None;
        }
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    let qclass = u16::from_be_bytes([*q.get(i + 2)?, *q.get(i + 3)?]);
    Some(Question {
        name: labels.join("."),
        qtype,
        qclass,
        end: i + 4,
    })
}

fn encode_name(out: &mut Vec<u8>, name: &str) {
    for l in name.split('.').filter(|l| !l.is_empty()) {
        let b = &l.as_bytes()[..l.len().min(63)];
        out.push(b.len() as u8);
        out.extend_from_slice(b);
    }
    out.push(0);
}

/// A reply with `rcode` and `answers` (each `(type, rdata)` for the question's name).
fn reply(query: &[u8], qend: usize, rcode: u8, answers: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(qend + answers.len() * 32);
    out.extend_from_slice(&query[0..2]); // id
    let rd = query[2] & 0x01;
    out.push(0x80 | 0x04 | rd); // QR, AA, RD copied
    out.push(0x80 | (rcode & 0x0f)); // RA
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&query[12..qend]);
    for (ty, rdata) in answers {
        out.extend_from_slice(&[0xc0, 12]); // pointer to the question's name
        out.extend_from_slice(&ty.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(rdata);
    }
    out
}

/// Answers `query` from `services` for `domain` (e.g. `cluster.local`).
pub fn answer(query: &[u8], services: &[ServicePlan], domain: &str) -> Answer {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return Answer::Drop; // too short, or a response
    }
    let Some(q) = parse_question(query) else {
        let mut out = query[..12].to_vec();
        out[2] |= 0x80;
        out[3] = (out[3] & 0xf0) | 1; // FORMERR
        return Answer::Reply(out);
    };
    let domain = domain.trim_matches('.').to_ascii_lowercase();
    let suffix = format!(".svc.{domain}");
    let Some(head) = q.name.strip_suffix(&suffix) else {
        if q.name == domain || q.name.ends_with(&format!(".{domain}")) {
            return Answer::Reply(reply(query, q.end, 3, &[]));
        }
        return Answer::Forward;
    };
    if q.qclass != CLASS_IN {
        return Answer::Reply(reply(query, q.end, 3, &[]));
    }
    let parts: Vec<&str> = head.split('.').collect();
    let (srv, svc_name, ns) = match parts.as_slice() {
        [svc, ns] => (None, *svc, *ns),
        [port, proto, svc, ns] if port.starts_with('_') && proto.starts_with('_') => {
            (Some((&port[1..], &proto[1..])), *svc, *ns)
        }
        _ => return Answer::Reply(reply(query, q.end, 3, &[])),
    };
    let Some(s) = services
        .iter()
        .find(|s| s.namespace == ns && s.name == svc_name)
    else {
        return Answer::Reply(reply(query, q.end, 3, &[]));
    };
    let mut answers = Vec::new();
    if srv.is_none() && s.service_type == "ExternalName" && !s.external_name.is_empty() {
        // The alias only: the client's resolver follows it upstream.
        let mut rd = Vec::new();
        encode_name(&mut rd, &s.external_name);
        answers.push((TYPE_CNAME, rd));
        return Answer::Reply(reply(query, q.end, 0, &answers));
    }
    match (srv, q.qtype) {
        (None, TYPE_A) => {
            if s.cluster_ip == "None" {
                for e in s.endpoints.iter().filter(|e| e.ready) {
                    if let Ok(ip) = e.ip.parse::<Ipv4Addr>() {
                        let rd = ip.octets().to_vec();
                        if !answers.iter().any(|(_, r)| r == &rd) {
                            answers.push((TYPE_A, rd));
                        }
                    }
                }
            } else if let Ok(ip) = s.cluster_ip.parse::<Ipv4Addr>() {
                answers.push((TYPE_A, ip.octets().to_vec()));
            }
        }
        (Some((port, proto)), TYPE_SRV) => {
            let target = format!("{svc_name}.{ns}{suffix}");
            for p in s.ports.iter().filter(|p| {
                p.name.eq_ignore_ascii_case(port) && p.protocol.eq_ignore_ascii_case(proto)
            }) {
                let mut rd = Vec::new();
                rd.extend_from_slice(&0u16.to_be_bytes()); // priority
                rd.extend_from_slice(&100u16.to_be_bytes()); // weight
                rd.extend_from_slice(&p.port.to_be_bytes());
                encode_name(&mut rd, &target);
                answers.push((TYPE_SRV, rd));
            }
        }
        // The name exists (AAAA and other types): an empty answer, not NXDOMAIN, so resolvers
        // go on to use the A record.
        (None, _) | (Some(_), _) => {
            let _ = TYPE_AAAA;
        }
    }
    Answer::Reply(reply(query, q.end, 0, &answers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_transport::wire::{EndpointPlan, ServicePortPlan};

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        encode_name(&mut q, name);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&CLASS_IN.to_be_bytes());
        q
    }

    fn services() -> Vec<ServicePlan> {
        let ep = |ip: &str, ready| EndpointPlan {
            ip: ip.into(),
            ready,
            ..Default::default()
        };
        vec![
            ServicePlan {
                namespace: "default".into(),
                name: "web".into(),
                cluster_ip: "10.43.0.7".into(),
                ports: vec![ServicePortPlan {
                    name: "http".into(),
                    protocol: "TCP".into(),
                    port: 80,
                    node_port: 0,
                }],
                ..Default::default()
            },
            ServicePlan {
                namespace: "default".into(),
                name: "db".into(),
                cluster_ip: "None".into(),
                endpoints: vec![
                    ep("10.88.0.4", true),
                    ep("10.88.0.5", false),
                    ep("10.88.0.6", true),
                ],
                ..Default::default()
            },
        ]
    }

    fn reply_of(a: Answer) -> Vec<u8> {
        match a {
            Answer::Reply(r) => r,
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    fn rcode(r: &[u8]) -> u8 {
        r[3] & 0x0f
    }

    fn ancount(r: &[u8]) -> u16 {
        u16::from_be_bytes([r[6], r[7]])
    }

    #[test]
    fn a_records_for_cluster_ips_and_headless_services() {
        let q = query("web.default.svc.cluster.local", TYPE_A);
        let r = reply_of(answer(&q, &services(), "cluster.local"));
        assert_eq!((r[0], r[1]), (0x12, 0x34), "id echoed");
        assert_eq!(rcode(&r), 0);
        assert_eq!(ancount(&r), 1);
        assert_eq!(&r[r.len() - 4..], &[10, 43, 0, 7]);
        let q = query("DB.default.svc.cluster.local.", TYPE_A);
        let r = reply_of(answer(&q, &services(), "cluster.local"));
        assert_eq!(ancount(&r), 2, "ready pod addresses only");
        assert_eq!(&r[r.len() - 4..], &[10, 88, 0, 6]);
    }

    #[test]
    fn srv_nxdomain_and_forwarding() {
        let q = query("_http._tcp.web.default.svc.cluster.local", TYPE_SRV);
        let r = reply_of(answer(&q, &services(), "cluster.local"));
        assert_eq!(ancount(&r), 1);
        let q = query("nope.default.svc.cluster.local", TYPE_A);
        assert_eq!(
            rcode(&reply_of(answer(&q, &services(), "cluster.local"))),
            3
        );
        let q = query("web.default.svc.cluster.local", TYPE_AAAA);
        let r = reply_of(answer(&q, &services(), "cluster.local"));
        assert_eq!((rcode(&r), ancount(&r)), (0, 0), "exists, no AAAA");
        let ext = vec![ServicePlan {
            namespace: "default".into(),
            name: "ext".into(),
            service_type: "ExternalName".into(),
            external_name: "db.example.org".into(),
            ..Default::default()
        }];
        let q = query("ext.default.svc.cluster.local", TYPE_A);
        let r = reply_of(answer(&q, &ext, "cluster.local"));
        assert_eq!(ancount(&r), 1);
        assert!(
            r.windows(8).any(|w| w == b"\x07example"),
            "CNAME target in the answer"
        );
        let q = query("example.org", TYPE_A);
        assert_eq!(answer(&q, &services(), "cluster.local"), Answer::Forward);
        assert_eq!(
            answer(&[1, 2, 3], &services(), "cluster.local"),
            Answer::Drop
        );
        let mut bad = query("web.default.svc.cluster.local", TYPE_A);
        bad.truncate(20);
        assert_eq!(
            rcode(&reply_of(answer(&bad, &services(), "cluster.local"))),
            1
        );
    }
}
