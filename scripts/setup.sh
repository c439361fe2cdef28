#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine, as root: Debian packages, the
# Python venv with the moto emulator (scripts/setup-python.sh) and helm (scripts/setup-helm.sh).
# Idempotent: each step checks first, so a run on a prepared machine takes a second or two.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# awscli: AWS CLI v2 as packaged by Debian, at /usr/bin/aws (tests call that path, since a pip-installed
# v1 `aws` may come first on PATH). python3-venv: for .venv. curl: a real HTTP client in tests.
packages=(awscli ca-certificates curl python3-venv)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} > 0)); then
  if ((EUID != 0)); then
    echo "setup: missing Debian packages (${missing[*]}); run this script as root" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: Debian packages present (${packages[*]})"
fi

if ! /usr/bin/aws --version 2>/dev/null | grep -q '^aws-cli/2\.'; then
  echo "setup: /usr/bin/aws is not AWS CLI v2: $(/usr/bin/aws --version 2>&1 || true)" >&2
  exit 1
fi

bash "$repo/scripts/setup-python.sh"
bash "$repo/scripts/setup-helm.sh"
