#!/usr/bin/env bash
# Creates .venv (git-ignored) with the pinned test tools from requirements-test.txt: the moto emulator
# (.venv/bin/moto_server) and boto3. Skips the install when the stamp file records the same
# requirements hash and interpreter, so a second run takes well under a second.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
requirements="$repo/requirements-test.txt"
stamp="$venv/.errand-requirements.sha256"

# Debian's interpreter (python3-venv comes from scripts/setup.sh): the same on every machine of this
# kind, whatever version manager sits first on PATH.
python=/usr/bin/python3
if [[ ! -x "$python" ]]; then
  python="$(command -v python3)"
fi

want="$(sha256sum "$requirements" | cut -d' ' -f1) $("$python" -c 'import sys; print(sys.version.split()[0])')"
if [[ -f "$stamp" && -x "$venv/bin/moto_server" && "$(cat "$stamp")" == "$want" ]]; then
  echo "setup-python: .venv is up to date"
  exit 0
fi

start=$SECONDS
# A fresh venv each time the pins change, so no package of an older set lingers.
rm -rf "$venv"
"$python" -m venv "$venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
# --no-deps: requirements-test.txt is the complete set; `pip check` proves nothing is missing.
"$venv/bin/pip" install --quiet --no-deps -r "$requirements"
"$venv/bin/pip" check
echo "$want" > "$stamp"
echo "setup-python: installed requirements-test.txt into .venv in $((SECONDS - start))s"
