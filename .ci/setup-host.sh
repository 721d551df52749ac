#!/usr/bin/env bash
# Installs and configures what shoal's tests need on a fresh Debian machine (run as root).
#
# Design: everything here is a quirk of the CI/dev VM, not something a real device needs.
#  - /etc/containers/policy.json must exist for podman to pull/import anything.
#  - the VM lacks CAP_SYS_RESOURCE, so every OCI runtime's setrlimit fails: we run runc
#    through a wrapper that strips the rlimits from the bundle (and from `runc exec`'s
#    process spec, for podman exec) before calling runc.
#  - cgroups are hybrid here; crun rejects that, runc accepts it.
#  - catatonit lets Podman build its own pause image for pod infra containers (Debian only
#    recommends it).
#  - no registry is reachable: the test image is busybox-static imported as
#    localhost/busybox:latest.
set -euo pipefail

need_pkgs=()
for p in podman runc netavark aardvark-dns iptables catatonit busybox-static mosquitto mosquitto-clients jq iproute2 curl openssl python3-venv; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
# Mosquitto is started by the tests that need it, never as a system service.
systemctl disable --now mosquitto >/dev/null 2>&1 || true
if [ -f /run/mosquitto/mosquitto.pid ]; then kill "$(cat /run/mosquitto/mosquitto.pid)" 2>/dev/null || true; fi

mkdir -p /etc/containers
[ -f /etc/containers/policy.json ] || echo '{"default":[{"type":"insecureAcceptAnything"}]}' > /etc/containers/policy.json

# Written aside and moved into place, so a runc call running meanwhile never sees half a file.
cat > /usr/local/bin/runc-norlimit.new <<'WRAP'
#!/bin/sh
# runc wrapper: drop rlimits from the OCI bundle (create) and from the process spec of
# `runc exec --process FILE` (podman exec): this VM cannot raise rlimits.
bundle=""
process=""
prev=""
for a in "$@"; do
  case "$prev" in --bundle|-b) bundle="$a" ;; --process) process="$a" ;; esac
  case "$a" in --bundle=*) bundle="${a#--bundle=}" ;; --process=*) process="${a#--process=}" ;; esac
  prev="$a"
done
if [ -n "$bundle" ] && [ -f "$bundle/config.json" ]; then
  tmp="$bundle/config.json.norlimit"
  if jq 'del(.process.rlimits)' "$bundle/config.json" > "$tmp"; then mv "$tmp" "$bundle/config.json"; fi
fi
if [ -n "$process" ] && [ -f "$process" ]; then
  tmp="$process.norlimit"
  if jq 'del(.rlimits)' "$process" > "$tmp"; then mv "$tmp" "$process"; fi
fi
exec /usr/bin/runc "$@"
WRAP
chmod +x /usr/local/bin/runc-norlimit.new
mv /usr/local/bin/runc-norlimit.new /usr/local/bin/runc-norlimit

conf=/etc/containers/containers.conf
if ! grep -q 'runc-norlimit' "$conf" 2>/dev/null; then
  cat >> "$conf" <<'CONF'

[network]
network_backend = "netavark"

[engine]
runtime = "runc"

[engine.runtimes]
runc = ["/usr/local/bin/runc-norlimit"]
CONF
fi

# The test image: busybox-static in a scratch rootfs, every applet linked. The label says
# which recipe built it, so a machine with an older image gets the new one (importing under
# the same tag leaves containers that still use the old image alone).
image_recipe=2
have=$(podman image inspect --format '{{index .Labels "io.shoal.test-image"}}' localhost/busybox:latest 2>/dev/null || true)
if [ "$have" != "$image_recipe" ]; then
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/www" "$root/etc"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
  echo 'root:x:0:' > "$root/etc/group"
  tar -C "$root" -cf "$root.tar" .
  podman import --change 'CMD ["/bin/sh"]' --change "LABEL io.shoal.test-image=$image_recipe" \
    "$root.tar" localhost/busybox:latest >/dev/null
  rm -rf "$root" "$root.tar"
fi
# The official Python Kubernetes client, for the API compatibility tests.
pyenv_dir=/opt/shoal-pyenv
if ! "$pyenv_dir/bin/python" -c 'import kubernetes' 2>/dev/null; then
  python3 -m venv "$pyenv_dir"
  "$pyenv_dir/bin/pip" install -q --disable-pip-version-check 'kubernetes==37.0.2'
fi
echo "host setup done: $(podman --version), $(runc --version | head -1), python kubernetes $("$pyenv_dir/bin/python" -c 'import kubernetes; print(kubernetes.__version__)')"
