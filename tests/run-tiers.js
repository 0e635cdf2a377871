#!/usr/bin/env node
// `npm test`: one line per gated tier that will be skipped here (why, and how to switch it on), then jest.
// The offline tier always runs; gated suites skip themselves with the same reasons (tests/support/tiers.ts).
"use strict";
const { spawnSync } = require("child_process");
const path = require("path");
const { allTiers } = require("./support/tier-detect");

for (const tier of allTiers()) {
  console.log(tier.enabled ? `tier ${tier.name}: runs (${tier.reason})` : `tier ${tier.name}: skipped — ${tier.reason}`);
}
const jestBin = require.resolve("jest/bin/jest");
const result = spawnSync(process.execPath, [jestBin, ...process.argv.slice(2)], {
  stdio: "inherit",
  cwd: path.resolve(__dirname, ".."),
});
process.exit(result.status === null ? 1 : result.status);
