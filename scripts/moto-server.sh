#!/usr/bin/env bash
# Starts the test emulator by hand, for trying Errand locally: moto with authentication on and the
# same identities and fixtures the integration tests get (test/helpers/moto.ts). Prints `export` lines
# for Errand's own environment (the source credentials), then runs until Ctrl-C or SIGTERM.
#   bash scripts/moto-server.sh            # needs `bash scripts/setup.sh` once
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

node=node_modules/.bin/node # the pinned Node 24, which runs .ts directly
if [[ ! -x "$node" ]]; then
  echo "moto-server: $node is missing; run 'npm ci' first" >&2
  exit 1
fi

exec "$node" --input-type=module -e '
import { startMoto } from "./test/helpers/moto.ts";
const moto = await startMoto();
for (const [name, value] of Object.entries(moto.env())) console.log(`export ${name}=${value}`);
console.log(`# role to assume: ${moto.roleArn}`);
console.log(`# direct (data) credentials: ${moto.directCredentials.accessKeyId} ${moto.directCredentials.secretAccessKey}`);
console.log(`# moto ready in ${moto.startupMs} ms; Ctrl-C stops it`);
const keepAlive = setInterval(() => {}, 1 << 30);
const stop = async () => {
  clearInterval(keepAlive);
  await moto.stop();
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
'
