#!/usr/bin/env node
// Mutation testing for the verifier, the replay pipeline and the copy, by hand-written textual mutants (issue 8).
//
//   node scripts/mutate.js                 every mutant
//   node scripts/mutate.js V1 R4           only these
//   node scripts/mutate.js --list          the mutants, without running anything
//
// Each mutant replaces one exact piece of source text (which must occur exactly once, or the mutant is reported
// STALE: the code moved on and the list needs updating), runs the jest suites that should notice, and restores
// the file. A mutant is KILLED when a suite fails, SURVIVED when they all pass. The suites are first run on the
// unmutated code; a red baseline stops the run. Edits files in place (restored after each mutant, and on
// Ctrl-C): do not edit the mutated files while it runs. Not part of `npm test` (it runs the suites once per mutant).
"use strict";

const { spawnSync } = require("child_process");
const fs = require("fs");
const path = require("path");

const ROOT = path.resolve(__dirname, "..");
const VERIFY = "provider/engines/builtin/verify.ts";
const RAW = "provider/cluster/raw-bson.ts";
const REPLAY = "provider/engines/builtin/replay.ts";
const COPY = "provider/engines/builtin/copy.ts";

const VERIFY_SUITES = [
  "tests/engines/builtin/mutants.test.ts",
  "tests/engines/builtin/verify-stored.test.ts",
  "tests/engines/builtin/documents.test.ts",
  "tests/engines/builtin/cutover.test.ts",
];
const REPLAY_SUITES = [
  "tests/engines/builtin/mutants.test.ts",
  "tests/engines/builtin/ddl.test.ts",
  "tests/engines/builtin/engine.test.ts",
  "tests/engines/builtin/resume.test.ts",
  "tests/engines/builtin/large-events.test.ts",
  "tests/engines/builtin/namespaces.test.ts",
  "tests/engines/builtin/documents.test.ts",
  "tests/engines/builtin/replay-mutants.test.ts",
  "tests/engines/builtin/replay-pipeline.test.ts",
];

const COPY_SUITES = [
  "tests/engines/builtin/copy-round-trips.test.ts",
  "tests/engines/builtin/copy-pipeline.test.ts",
  "tests/engines/builtin/engine.test.ts",
  "tests/engines/builtin/resume.test.ts",
  "tests/engines/builtin/collections.test.ts",
];

/** id, what it breaks, file, exact text, its replacement, suites. */
const MUTANTS = [
  ["V1", "verification compares counts only", VERIFY, "const match = s.count === t.count && s.hash === t.hash;", "const match = s.count === t.count;", VERIFY_SUITES],
  ["V2", "verification hashes only each _id", VERIFY, "      h.update(bytes);", "      h.update(BSON.serialize({ id: storedId(bytes) }));", VERIFY_SUITES],
  [
    "V3",
    "verification hashes the driver's re-encoding (finding 14's normalisation)",
    VERIFY,
    "      h.update(bytes);",
    "      h.update(BSON.serialize(BSON.deserialize(bytes, EXACT_BSON), { ignoreUndefined: false }));",
    VERIFY_SUITES,
  ],
  ["V4", "verification hashes relaxed Extended JSON", VERIFY, "      h.update(bytes);", "      h.update(EJSON.stringify(BSON.deserialize(bytes), { relaxed: true }));", VERIFY_SUITES],
  ["V5", "every document counts as expiring (left out)", VERIFY, "      if (skip?.(bytes)) {", "      if (skip?.(bytes) || true) {", VERIFY_SUITES],
  ["V6", "the TTL horizon looks back instead of ahead", VERIFY, "const horizon = ttl.now() + EXPIRY_HORIZON_MS;", "const horizon = ttl.now() - EXPIRY_HORIZON_MS;", VERIFY_SUITES],
  ["V7", "the report always passes", VERIFY, "    passed: bad.length === 0,", "    passed: true,", VERIFY_SUITES],
  ["V8", "sampled differences compare sizes, not bytes", VERIFY, "!sameBytes(s.bytes, t.bytes)", "s.bytes.byteLength !== t.bytes.byteLength", VERIFY_SUITES],
  ["V9", "the first namespace is not verified", VERIFY, "  for (const ns of namespaces) {", "  for (const ns of namespaces.slice(1)) {", VERIFY_SUITES],
  ["V10", "the sample does not say what the driver could not write", VERIFY, "ids.push(reason ? `${id} (the source stores ${reason}, which the Node.js driver cannot write as it is)` : id);", "ids.push(id);", VERIFY_SUITES],
  ["V11", "DBPointer not detected", RAW, "if (type === 0x0c) return", "if (type === 0x0c && false) return", VERIFY_SUITES],
  ["V12", "duplicate field names not detected", RAW, "if (keyEnds[k] - keyStarts[k] === len && bytes[keyStarts[k]] === first && sameKey(", "if (false && sameKey(", VERIFY_SUITES],
  ["V14", "numeric field names out of JS object order not detected", RAW, "if (otherKeySeen || index < lastIndex) {", "if (false) {", VERIFY_SUITES],
  ["V15", "array elements stored under other names not detected", RAW, "if (isArray && arrayIndex(bytes, keyStart, keyEnd) !== position) {", "if (false) {", VERIFY_SUITES],
  ["V16", "duplicates past the 16th field of a level not detected", RAW, "if (names.has(key)) return", "if (false) return", VERIFY_SUITES],
  ["V13", "a DBRef the driver reorders is not detected", RAW, "  if (dbRefLike) {", "  if (dbRefLike && false) {", VERIFY_SUITES],

  [
    "R1",
    "the first operation per key wins within a batch",
    REPLAY,
    "    if (at === undefined) this.count++;\n    else entry.ops[at] = undefined;\n    entry.slot.set(key, entry.ops.length);",
    "    if (at !== undefined) return;\n    this.count++;\n    entry.slot.set(key, entry.ops.length);",
    REPLAY_SUITES,
  ],
  ["R2", "no lease fencing before a replay write", REPLAY, "const write = Promise.all([this.tails.get(key), lease])", "const write = Promise.all([this.tails.get(key)])", REPLAY_SUITES],
  ["R3", "no lease check on idle polls", REPLAY, "          // Idle: nothing to write, but keep the lease alive and notice a takeover (cutover, cancel) promptly.\n          await env.session.assertLease();", "", REPLAY_SUITES],
  ["R4", "NamespaceNotFound not tolerated", REPLAY, "    if ((err as { code?: unknown }).code !== 26) throw err;", "    throw err;", REPLAY_SUITES],
  ["R5", "a rename out of scope keeps the old name on the target", REPLAY, "      } else if (included) {\n        await tolerateMissing(", "      } else if (included && false) {\n        await tolerateMissing(", REPLAY_SUITES],
  ["R6", "a document deleted since its update is not deleted", REPLAY, "  if (!doc) return { deleteOne: { filter: { _id: id } } };", "  if (!doc) return undefined;", REPLAY_SUITES],
  ["R7", "DDL exactly at T0 is applied again", REPLAY, "compareTimestamps(ev.clusterTime, t0) <= 0", "compareTimestamps(ev.clusterTime, t0) < 0", REPLAY_SUITES],
  ["R8", "drained after a single empty poll", REPLAY, "if (until === \"drained\" && emptyPolls >= 2 && idleFor >= DRAIN_QUIET_MS) {", "if (until === \"drained\" && emptyPolls >= 1) {", REPLAY_SUITES],
  ["R9", "endOfTransaction taken for DDL", REPLAY, "} else if (ev.operationType === \"endOfTransaction\") {", "} else if (ev.operationType === \"endOfTransaction-\") {", REPLAY_SUITES],
  ["R10", "replay batches applied unordered", REPLAY, "env.target.bulkWrite(ns, chunk, true, CARRY_AS_STORED)", "env.target.bulkWrite(ns, chunk, false, CARRY_AS_STORED)", REPLAY_SUITES],
  ["R11", "the resume token is not checkpointed", REPLAY, "            if (encodedToken) s.replay.resumeToken = encodedToken;", "", REPLAY_SUITES],
  ["R12", "updateDescription kept in the stream", REPLAY, "const STREAM_SHAPE = { omitUpdateDescription: true,", "const STREAM_SHAPE = { omitUpdateDescription: false,", REPLAY_SUITES],
  ["R14", "a lane's writes overtake its writes of the apply before", REPLAY, "const write = Promise.all([this.tails.get(key), lease])", "const write = Promise.all([undefined, lease])", REPLAY_SUITES],
  ["R15", "the checkpoint is written before its writes are acknowledged", REPLAY, "        await acked;\n        await fence?.settle();", "        await fence?.settle();", REPLAY_SUITES],
  ["R13", "a drop in scope is not mirrored", REPLAY, "      if (included) await tolerateMissing(() => withRetry(\"drop\"", "      if (included && false) await tolerateMissing(() => withRetry(\"drop\"", REPLAY_SUITES],

  ["C1", "copy writes go out without a lease check", COPY, "        await Promise.all([shared.ready, shared.lease()]);\n        if (inserting) {", "        await shared.ready;\n        if (inserting) {", COPY_SUITES],
  ["C2", "split points past the last _id are kept", COPY, "splits.filter((b) => compareBson(b, last) <= 0)", "splits", COPY_SUITES],
  [
    "C3",
    "a partition is marked done before its bound's write has landed",
    COPY,
    "if (finishing && (tailPending || entries.some((e) => !e.done))) return;",
    "if (finishing && entries.some((e) => !e.done)) return;",
    COPY_SUITES,
    "const finished = finishing && !tailPending && entries.length === 0 && !p.done;",
    "const finished = finishing && entries.length === 0 && !p.done;",
  ],
  ["C4", "copy writes do not wait for the target's collections", COPY, "        await Promise.all([shared.ready, shared.lease()]);\n        if (inserting) {", "        await shared.lease();\n        if (inserting) {", COPY_SUITES],
].map(([id, what, file, find, replace, suites, find2, replace2]) => ({ id, what, file, find, replace, suites, find2, replace2 }));

function runSuites(suites) {
  const r = spawnSync("npx", ["jest", ...suites, "-w", "1", "--silent", "--bail"], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 20 * 60 * 1000,
    env: { ...process.env, CI: "1" },
  });
  const summary = /Tests:.*$/m.exec(`${r.stdout}\n${r.stderr}`)?.[0] ?? (r.error ? String(r.error) : "no summary");
  return { passed: r.status === 0, summary };
}

const originals = new Map();
function restoreAll() {
  for (const [file, text] of originals) fs.writeFileSync(path.join(ROOT, file), text);
}
process.on("SIGINT", () => {
  restoreAll();
  process.exit(130);
});

function main() {
  const args = process.argv.slice(2);
  if (args.includes("--list")) {
    for (const m of MUTANTS) console.log(`${m.id.padEnd(4)} ${m.file}: ${m.what}`);
    return;
  }
  const chosen = args.length > 0 ? MUTANTS.filter((m) => args.includes(m.id)) : MUTANTS;
  const groups = [...new Set(chosen.map((m) => m.suites.join(" ")))];
  for (const g of groups) {
    const base = runSuites(g.split(" "));
    console.log(`baseline ${base.passed ? "green" : "RED"}: ${base.summary}`);
    if (!base.passed) {
      console.log("the suites fail on unmutated code; fix that first");
      process.exit(2);
    }
  }
  const results = [];
  for (const m of chosen) {
    const full = path.join(ROOT, m.file);
    const text = fs.readFileSync(full, "utf8");
    const at = text.indexOf(m.find);
    // A mutant may make a second replacement in the same file (find2/replace2), each text occurring once.
    const once = (find) => text.indexOf(find) >= 0 && text.indexOf(find, text.indexOf(find) + 1) < 0;
    if (!once(m.find) || (m.find2 !== undefined && !once(m.find2))) {
      results.push({ ...m, outcome: "STALE", summary: "a text is not found, or occurs more than once" });
      console.log(`${m.id.padEnd(4)} STALE     ${m.what}`);
      continue;
    }
    originals.set(m.file, text);
    let outcome;
    let summary;
    try {
      let mutated = text.slice(0, at) + m.replace + text.slice(at + m.find.length);
      if (m.find2 !== undefined) mutated = mutated.replace(m.find2, () => m.replace2);
      fs.writeFileSync(full, mutated);
      const r = runSuites(m.suites);
      outcome = r.passed ? "SURVIVED" : "KILLED";
      summary = r.summary;
    } finally {
      fs.writeFileSync(full, text);
      originals.delete(m.file);
    }
    results.push({ ...m, outcome, summary });
    console.log(`${m.id.padEnd(4)} ${outcome.padEnd(9)} ${m.what} (${summary})`);
  }
  const live = results.filter((r) => r.outcome !== "STALE");
  const killed = live.filter((r) => r.outcome === "KILLED").length;
  console.log(`\nscore: ${killed}/${live.length} killed` + (live.length < results.length ? `, ${results.length - live.length} stale` : ""));
  for (const r of results.filter((x) => x.outcome !== "KILLED")) console.log(`  ${r.outcome} ${r.id}: ${r.what}`);
}

main();
