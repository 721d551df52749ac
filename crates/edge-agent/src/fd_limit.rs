//! Raising the process's open-file limit at start.
//!
//! Design: a hub holds a socket per MQTT-connected node and a hollow-node simulator one per
//! simulated agent, so the default soft limit (often 1,024) would cap a fleet long before
//! anything else does. An unprivileged process may raise its soft limit up to the hard one,
//! which is what this does; the hard limit itself needs privileges (CAP_SYS_RESOURCE) and is
//! left alone.

/// The soft and hard `RLIMIT_NOFILE` after raising the soft limit to the hard one (`None` for
/// no limit). On failure the limits stay as they were and the error is returned.
pub fn raise_to_hard() -> std::io::Result<(Option<u64>, Option<u64>)> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        setrlimit(Resource::Nofile, limit.clone()).map_err(std::io::Error::from)?;
    }
    let now = getrlimit(Resource::Nofile);
    Ok((now.current, now.maximum))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_soft_limit_ends_at_the_hard_one() {
        let (soft, hard) = super::raise_to_hard().expect("raising the soft limit is unprivileged");
        assert_eq!(soft, hard);
    }
}
