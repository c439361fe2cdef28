#!/usr/bin/env bash
# Installs the tools `npm run bench` measures with or against, on Debian, as root: wrk (throughput),
# tinyproxy and mitmproxy (baselines), util-linux (taskset, to pin each process to a core).
# Not part of `npm test`: the benchmarks are run by hand (docs/benchmarks.md). Idempotent: a package
# already installed is not touched, so a run on a prepared machine takes a second.
set -euo pipefail

packages=(wrk tinyproxy mitmproxy util-linux)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup-bench: Debian packages present (${packages[*]})"
  exit 0
fi
if ((EUID != 0)); then
  echo "setup-bench: missing Debian packages (${missing[*]}); run this script as root" >&2
  exit 1
fi
echo "setup-bench: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian tinyproxy package starts a system service on port 8888; the benchmark starts its own
# tinyproxy with its own configuration, so the service is stopped if one was started.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet tinyproxy 2>/dev/null; then
  systemctl stop tinyproxy || true
fi
echo "setup-bench: done"
