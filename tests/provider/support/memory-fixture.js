// Preloaded into the dynamic-provider host (`node -r memory-fixture.js …/cmd/dynamic-provider`): creates and
// seeds MemoryClusters inside the host process, so `memory://<name>` resolves there exactly as a real
// connection string would, and serves a tiny control API so the test (another process) can write to the
// source while the sync runs and read what arrived on the target.
//
// Plain JS on the compiled package (dist/): `node -r` loads it before the host, without ts-jest.
//
// Environment:
//   MEMORY_FIXTURE_CLUSTERS  JSON [{ name, historySeconds?, seed?: { db, coll, count, padBytes? } }]
//   MEMORY_FIXTURE_PORT_FILE where the control API's port is written (stdout belongs to the host's port line)
"use strict";
const fs = require("fs");
const http = require("http");
const path = require("path");

const { MemoryCluster } = require(path.join(__dirname, "..", "..", "..", "dist", "testing", "memory-cluster.js"));

const specs = JSON.parse(process.env.MEMORY_FIXTURE_CLUSTERS || "[]");
const ready = (async () => {
  for (const spec of specs) {
    // Seed "in the past": the source's change history then covers historySeconds, which the builtin
    // engine's preflight compares with the estimated copy time (an oplog window check).
    let offsetMs = -1000 * (spec.historySeconds ?? 0);
    const cluster = MemoryCluster.create(spec.name, { now: () => Date.now() + offsetMs });
    if (spec.seed) {
      const { db, coll, count, padBytes = 0 } = spec.seed;
      const pad = "x".repeat(padBytes);
      const docs = [];
      for (let i = 0; i < count; i++) docs.push({ _id: i, sku: `sku-${i}`, qty: i % 13, pad });
      for (let i = 0; i < docs.length; i += 1000) await cluster.db(db).collection(coll).insertMany(docs.slice(i, i + 1000));
    }
    offsetMs = 0;
  }
})();

/** A summary that proves what is on a cluster without shipping every document: count and an order-free hash. */
async function summarize(name, db, coll) {
  const cluster = MemoryCluster.get(name);
  if (!cluster) return { error: `no cluster ${name}` };
  const docs = await cluster.db(db).collection(coll).find({}).toArray();
  const ids = docs.map((d) => String(d._id)).sort();
  const hash = require("crypto").createHash("sha256");
  for (const d of docs.map((d) => JSON.stringify({ _id: String(d._id), sku: d.sku, qty: d.qty })).sort()) hash.update(d);
  return { count: docs.length, hash: hash.digest("hex"), firstIds: ids.slice(0, 3) };
}

const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", async () => {
    try {
      await ready;
      const args = body ? JSON.parse(body) : {};
      let out;
      if (req.url === "/summary") out = await summarize(args.cluster, args.db, args.coll);
      else if (req.url === "/insert") {
        await MemoryCluster.get(args.cluster).db(args.db).collection(args.coll).insertMany(args.docs);
        out = { inserted: args.docs.length };
      } else if (req.url === "/writesBlocked") out = { blocked: MemoryCluster.get(args.cluster).writesBlocked };
      else throw new Error(`unknown fixture command ${req.url}`);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(out));
    } catch (err) {
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: String((err && err.message) || err) }));
    }
  });
});
server.listen(0, "127.0.0.1", () => {
  if (process.env.MEMORY_FIXTURE_PORT_FILE) fs.writeFileSync(process.env.MEMORY_FIXTURE_PORT_FILE, String(server.address().port));
});
// The host must still exit when the test stops it.
server.unref();
