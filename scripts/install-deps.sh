#!/usr/bin/env bash
# Installs what hive needs on a Debian or Ubuntu machine (the controller), and starts dockerd.
# As root it does the work; otherwise it prints the exact commands to run.
set -euo pipefail

PACKAGES=(docker.io ansible debootstrap drbd-utils sshpass openssh-client openssl curl
  python3-docker python3-passlib python3-jmespath apt-cacher-ng ansible-lint python3-flake8 chromium
  bind9-dnsutils qemu-system-x86 qemu-utils)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "$(id -u)" -ne 0 ]; then
  if [ ${#missing[@]} -gt 0 ]; then
    echo "hive needs these packages; run as root:"
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}"
  fi
  if ! docker info >/dev/null 2>&1; then
    echo "no docker engine answers; start one as root:"
    echo "  sudo dockerd >/var/log/dockerd.log 2>&1 &    # or: sudo systemctl start docker"
    echo "and let your user talk to it: sudo usermod -aG docker $USER (then log in again)"
  fi
  [ ${#missing[@]} -eq 0 ] && docker info >/dev/null 2>&1 && exit 0
  exit 1
fi

if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # apt-cacher-ng asks a debconf question; answer it ahead
  echo "apt-cacher-ng apt-cacher-ng/tunnelenable boolean false" | debconf-set-selections
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# apt cache for the local site's hosts (the local provider uses it when it answers on :3142).
# Its default upstream may be unreachable: point it at the mirror this machine's apt uses.
if dpkg-query -W -f='${Status}' apt-cacher-ng 2>/dev/null | grep -q "install ok installed"; then
  # Only files that exist: sed exits 2 on a missing one, which `set -e` would turn into a failure.
  sources=()
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && sources+=("$f")
  done
  mirror=""
  if [ ${#sources[@]} -gt 0 ]; then
    mirror=$(sed -nE 's#^(URIs:[[:space:]]*|deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)(https?://[^[:space:]]+/debian)/?([[:space:]].*)?$#\3#p' \
      "${sources[@]}" | head -1 || true)
  fi
  echo "${mirror:-http://deb.debian.org/debian}/" > /etc/apt-cacher-ng/backends_debian
  if systemctl is-system-running >/dev/null 2>&1; then systemctl restart apt-cacher-ng; else /etc/init.d/apt-cacher-ng restart >/dev/null; fi
fi

if ! docker info >/dev/null 2>&1; then
  if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
    systemctl start docker
  else
    nohup dockerd >/var/log/dockerd.log 2>&1 &
  fi
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/dockerd.log" >&2; exit 1; }
fi
