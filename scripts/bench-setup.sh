#!/usr/bin/env bash
# Installs what the side-by-side benchmarks compare against (run as root, Debian):
# etcd (single node, started by `shoal-bench store` itself, never as a service) and Mosquitto.
set -euo pipefail
need=()
for p in etcd-server etcd-client mosquitto; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The benchmarks start their own etcd and Mosquitto on loopback ports; no system services.
systemctl disable --now etcd >/dev/null 2>&1 || true
systemctl disable --now mosquitto >/dev/null 2>&1 || true
