// Which gated test tiers can run on this machine, and why not when they cannot.
// Plain JS so both tests/run-tiers.js (before jest starts) and the TypeScript suites use one definition.
"use strict";
const { execFileSync } = require("child_process");
const fs = require("fs");
const path = require("path");

function onPath(bin) {
  for (const dir of (process.env.PATH || "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, bin);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      /* not in this directory */
    }
  }
  return undefined;
}

function canResolve(id) {
  try {
    require.resolve(id);
    return true;
  } catch {
    return false;
  }
}

/** A mongod binary: MONGOMS_SYSTEM_BINARY or mongod on PATH; mongodb-memory-server-core then starts replica sets. */
function mongodTier() {
  const binary = process.env.MONGOMS_SYSTEM_BINARY || onPath("mongod");
  if (!binary) {
    return {
      name: "real-mongod",
      enabled: false,
      reason: "no mongod binary; set MONGOMS_SYSTEM_BINARY=/path/to/mongod (or put mongod on PATH) to run it",
    };
  }
  if (!canResolve("mongodb-memory-server-core")) {
    return {
      name: "real-mongod",
      enabled: false,
      reason: `mongod found at ${binary} but mongodb-memory-server-core is missing; run npm ci`,
    };
  }
  return { name: "real-mongod", enabled: true, reason: `mongod at ${binary}`, binary };
}

/**
 * A Pulumi CLI at least as new as our @pulumi/pulumi, for the Automation-API tier: what scripts/pulumi-cli.sh
 * finds without building (on PATH, or its cached build). `.ci/run` builds one first; `npm test` never builds.
 */
function pulumiCliTier() {
  const script = path.resolve(__dirname, "..", "..", "scripts", "pulumi-cli.sh");
  let binary;
  let why = "";
  try {
    binary = execFileSync("bash", [script], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 60000,
      env: { ...process.env, PULUMI_CLI_BUILD: "0" },
    }).trim();
  } catch (err) {
    why = String((err && err.stderr) || "").trim().split("\n").pop() || "";
  }
  if (!binary) {
    return {
      name: "pulumi-cli",
      enabled: false,
      reason:
        "no Pulumi CLI new enough (" + (why || "none found") + "); install Pulumi (https://www.pulumi.com/docs/install/) " +
        "or run scripts/pulumi-cli.sh once to build one from its Go module",
    };
  }
  let version = "";
  try {
    version = execFileSync(binary, ["version"], { encoding: "utf8", stdio: "pipe", timeout: 60000 }).trim();
  } catch {
    return { name: "pulumi-cli", enabled: false, reason: `\`${binary} version\` failed; fix the CLI install to run it` };
  }
  return { name: "pulumi-cli", enabled: true, reason: `pulumi ${version} at ${binary}`, binary };
}

/** Real Atlas, like terraform-provider-mongodbatlas' TF_ACC: ATLAS_ACC=1 plus API keys or a service account. */
function atlasTier() {
  const env = process.env;
  const keys = env.MONGODB_ATLAS_PUBLIC_KEY && env.MONGODB_ATLAS_PRIVATE_KEY;
  const serviceAccount = env.MONGODB_ATLAS_CLIENT_ID && env.MONGODB_ATLAS_CLIENT_SECRET;
  if (env.ATLAS_ACC !== "1" || !(keys || serviceAccount)) {
    return {
      name: "atlas-acceptance",
      enabled: false,
      reason:
        "no Atlas credentials; set ATLAS_ACC=1 and MONGODB_ATLAS_PUBLIC_KEY/MONGODB_ATLAS_PRIVATE_KEY " +
        "(or MONGODB_ATLAS_CLIENT_ID/MONGODB_ATLAS_CLIENT_SECRET) and ATLAS_ACC_ORG_ID to run it",
    };
  }
  return { name: "atlas-acceptance", enabled: true, reason: "ATLAS_ACC=1 with credentials" };
}

/** A real mongosync the user runs next to two clusters. */
function mongosyncTier() {
  if (!process.env.MONGOSYNC_URL) {
    return {
      name: "mongosync-acceptance",
      enabled: false,
      reason: "no mongosync; start one and set MONGOSYNC_URL=http://127.0.0.1:27182 to run it",
    };
  }
  return { name: "mongosync-acceptance", enabled: true, reason: `mongosync at ${process.env.MONGOSYNC_URL}` };
}

/** A ferretdb binary (FerretDB v1, SQLite backend): FERRETDB_BIN or ferretdb on PATH; scripts/ferretdb.sh builds one. */
function ferretdbTier() {
  const fromEnv = process.env.FERRETDB_BIN;
  const binary = fromEnv || onPath("ferretdb");
  if (!binary) {
    return {
      name: "ferretdb",
      enabled: false,
      reason: "no ferretdb binary; run `export FERRETDB_BIN=$(scripts/ferretdb.sh)` (builds FerretDB with Go) to run it",
    };
  }
  try {
    fs.accessSync(binary, fs.constants.X_OK);
  } catch {
    return { name: "ferretdb", enabled: false, reason: `FERRETDB_BIN=${binary} is not an executable file` };
  }
  return { name: "ferretdb", enabled: true, reason: `ferretdb at ${binary}`, binary };
}

function allTiers() {
  return [mongodTier(), ferretdbTier(), pulumiCliTier(), atlasTier(), mongosyncTier()];
}

module.exports = { mongodTier, ferretdbTier, pulumiCliTier, atlasTier, mongosyncTier, allTiers };
