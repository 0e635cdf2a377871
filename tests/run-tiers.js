#!/usr/bin/env node
// `npm test`: one line per gated tier that will be skipped here (why, and how to switch it on), then jest,
// then one plain summary line ("tests: N passed, N failed, N skipped").
// The offline tier always runs; gated suites skip themselves with the same reasons (tests/support/tiers.ts).
"use strict";
const { spawnSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { allTiers } = require("./support/tier-detect");

for (const tier of allTiers()) {
  console.log(tier.enabled ? `tier ${tier.name}: runs (${tier.reason})` : `tier ${tier.name}: skipped — ${tier.reason}`);
}
const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "jest-report-")), "report.json");
const jestBin = require.resolve("jest/bin/jest");
const result = spawnSync(process.execPath, [jestBin, "--json", `--outputFile=${report}`, ...process.argv.slice(2)], {
  stdio: "inherit",
  cwd: path.resolve(__dirname, ".."),
});
try {
  const r = JSON.parse(fs.readFileSync(report, "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
} catch {
  console.log("tests: the jest report could not be read (see jest's output above)");
}
process.exit(result.status === null ? 1 : result.status);
