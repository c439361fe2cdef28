#!/usr/bin/env node
// Runs the TypeScript sources directly: Node strips the types (Node >= 22.18 / 24).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `errand: Node ${process.versions.node} is too old; run it with Node 24 (npx errand uses the pinned one)\n`,
  );
  process.exit(2);
}
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
