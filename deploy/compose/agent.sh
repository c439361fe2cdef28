#!/usr/bin/env bash
# The scripted agent of `docker compose up`: it holds placeholder keys only, and its network is internal,
# so Errand is its only way out. One allowed call, a refused second use, a refused neighbouring object,
# a refused delete, and a request to a host the manifest does not name.
# It runs in the AWS CLI image; --endpoint-url is passed explicitly so AWS CLI v2 releases older than
# AWS_ENDPOINT_URL support (2.13) behave the same.
set -u

out="${AGENT_OUT_DIR:-/tmp}"
endpoint="${AWS_ENDPOINT_URL:?AWS_ENDPOINT_URL must point at Errand}"
failures=0

step() {
  local want="$1" what="$2"
  shift 2
  local output
  if output="$("$@" 2>&1)"; then
    got=allowed
  else
    got=refused
  fi
  printf '%-8s %s\n         %s\n' "$got" "$what" "$(printf '%s' "$output" | tr '\n' ' ' | cut -c1-200)"
  if [[ "$got" != "$want" ]]; then
    printf '         UNEXPECTED: wanted %s\n' "$want"
    failures=$((failures + 1))
  fi
}

s3() { aws --endpoint-url "$endpoint" s3api "$@"; }

step allowed "read the granted report" \
  s3 get-object --bucket acme-uploads --key users/alice/report.pdf "$out/report.pdf"
step refused "read it a second time (uses: 1)" \
  s3 get-object --bucket acme-uploads --key users/alice/report.pdf "$out/again.pdf"
step refused "read bob's file next to it" \
  s3 get-object --bucket acme-uploads --key users/bob/secret.txt "$out/bob.txt"
step refused "delete the report" \
  s3 delete-object --bucket acme-uploads --key users/alice/report.pdf
if [[ -n "${HTTPS_PROXY:-}" ]] && command -v curl >/dev/null; then
  step refused "reach a host the manifest does not name, through the proxy" \
    curl --silent --show-error --fail --max-time 10 https://example.com/
fi

if ((failures > 0)); then
  echo "agent: $failures step(s) did not go as the manifest says"
  exit 1
fi
echo "agent: every call went as the manifest says"
