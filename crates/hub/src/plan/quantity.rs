//! Kubernetes resource quantities as the agent needs them: CPU in millicores, memory in bytes.

/// Kubernetes CPU quantity to millicores ("500m", "1", "0.5").
pub fn cpu_millis(q: &str) -> u64 {
    let q = q.trim();
    if let Some(m) = q.strip_suffix('m') {
        return m.parse().unwrap_or(0);
    }
    q.parse::<f64>()
        .map(|c| (c * 1000.0).round().max(0.0) as u64)
        .unwrap_or(0)
}

/// Kubernetes memory quantity to bytes ("128Mi", "1G", "1e6", "1024").
pub fn memory_bytes(q: &str) -> u64 {
    let q = q.trim();
    const SUFFIXES: &[(&str, u64)] = &[
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("Pi", 1 << 50),
        ("Ei", 1 << 60),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
        ("P", 1_000_000_000_000_000),
        ("E", 1_000_000_000_000_000_000),
    ];
    for (s, mult) in SUFFIXES {
        if let Some(n) = q.strip_suffix(s) {
            return n
                .parse::<f64>()
                .map(|v| (v * *mult as f64) as u64)
                .unwrap_or(0);
        }
    }
    q.parse::<f64>().map(|v| v.max(0.0) as u64).unwrap_or(0)
}
