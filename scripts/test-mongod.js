#!/usr/bin/env node
// `npm run test:mongod [-- 6.0|7.0|8.0|<x.y.z>]`: the real-mongod tier in one command, for machines with internet.
// Never part of `npm test` (offline). Steps:
//   1. a mongod of the chosen series: MONGOMS_SYSTEM_BINARY if set, else mongodb-memory-server-core downloads
//      the pinned build below for this OS into its cache (~/.cache/mongodb-binaries) once;
//   2. the suites gated on a mongod, with MONGOMS_SYSTEM_BINARY pointing at it: the ClusterPort conformance suite
//      on MongoClusterPort (tests/conformance/mongo.test.ts) and the builtin engine on two replica sets
//      (tests/engines/builtin/mongod.test.ts); each starts single-node replica sets itself;
//   3. the benchmark (`npm run bench`), whose mongod section then runs.
// Exit status: the first step that failed (1 = no mongod could be had, with the reason).
"use strict";
const { spawnSync } = require("child_process");
const path = require("path");

/** One pinned build per series (all published at fastdl.mongodb.org); a full x.y.z is taken as given. */
const SERIES = { "6.0": "6.0.19", "7.0": "7.0.14", "8.0": "8.0.4" };
const SUITES = ["tests/conformance/mongo.test.ts", "tests/engines/builtin/mongod.test.ts"];
const root = path.resolve(__dirname, "..");

function run(command, args, env) {
  console.log(`test:mongod: ${command} ${args.join(" ")}`);
  const r = spawnSync(command, args, { stdio: "inherit", cwd: root, env });
  return r.status === null ? 1 : r.status;
}

async function mongodBinary(wanted) {
  if (process.env.MONGOMS_SYSTEM_BINARY) {
    console.log(`test:mongod: using MONGOMS_SYSTEM_BINARY=${process.env.MONGOMS_SYSTEM_BINARY} (the series argument is ignored)`);
    return process.env.MONGOMS_SYSTEM_BINARY;
  }
  const version = SERIES[wanted] ?? (/^\d+\.\d+\.\d+$/.test(wanted) ? wanted : undefined);
  if (!version) {
    console.error(`test:mongod: unknown MongoDB version "${wanted}": give one of ${Object.keys(SERIES).join(", ")} or a full x.y.z`);
    process.exit(2);
  }
  const { MongoBinary } = require("mongodb-memory-server-core");
  console.log(`test:mongod: MongoDB ${version} (downloaded once into mongodb-memory-server's cache if it is not there)`);
  return MongoBinary.getPath({ version });
}

async function main() {
  const wanted = process.argv[2] ?? process.env.MONGODB_SERIES ?? "7.0";
  let binary;
  try {
    binary = await mongodBinary(wanted);
  } catch (err) {
    console.error(`test:mongod: no mongod could be had: ${(err && err.message) || err}`);
    console.error("test:mongod: this tier downloads MongoDB (internet access to fastdl.mongodb.org), or set MONGOMS_SYSTEM_BINARY=/path/to/mongod");
    return 1;
  }
  console.log(`test:mongod: mongod at ${binary}`);
  const env = { ...process.env, MONGOMS_SYSTEM_BINARY: binary };
  const tests = run(process.execPath, [path.join("tests", "run-tiers.js"), "--runInBand", ...SUITES], env);
  if (tests !== 0) return tests;
  return run("npm", ["run", "bench"], env);
}

main().then(
  (status) => process.exit(status),
  (err) => {
    console.error(err && err.stack ? err.stack : String(err));
    process.exit(1);
  },
);
