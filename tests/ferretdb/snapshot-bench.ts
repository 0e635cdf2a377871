// Wall time of a builtin snapshot migration FerretDB → FerretDB over the wire (issue 12's figure). Prints, never
// asserts; not a jest suite. Run it with a ferretdb binary:
//
//   export FERRETDB_BIN="$(bash scripts/ferretdb.sh)"
//   node -r ./tests/ferretdb/register-ts.js tests/ferretdb/snapshot-bench.ts [documents=100000] [batchBytes] [parallelCollections]
//
// Two fresh FerretDB processes (SQLite, each its own directory); the source gets `documents` order-like
// documents (ObjectId `_id`, ~245 bytes of BSON) and two secondary indexes; the engine runs preflight, start,
// advance (the copy) and cutover (reconcile, indexes, full verification by counts and hashes) with the product's
// defaults unless batchBytes / parallelCollections are given. Phases are timed on the wall clock and printed with documents/s, plus
// a bare scan of the source through MongoClusterPort (what reading costs without writing anything).
import { Int32, MongoClient, ObjectId, type Document } from "mongodb";
import { MongoClusterPort } from "../../provider/cluster/mongo";
import { createBuiltinEngine } from "../../provider/engines/builtin";
import { makeContext } from "../support/context";
import { makeSpec } from "../support/spec";
import { startFerretDB, stopAll, type FerretInstance } from "./ferretdb-server";

function order(i: number): Document {
  return {
    _id: new ObjectId(i.toString(16).padStart(24, "0")),
    customer: `customer-${i % 997}`,
    email: `user${i}@example.com`,
    total: new Int32(i % 10_000),
    status: ["new", "paid", "shipped", "closed"][i % 4],
    createdAt: new Date(1_700_000_000_000 + i * 1000),
    items: [{ sku: `sku-${i % 101}`, qty: new Int32(1 + (i % 3)) }],
    note: "n".repeat(60),
  };
}

async function main(): Promise<void> {
  const binary = process.env.FERRETDB_BIN;
  if (!binary) throw new Error('set FERRETDB_BIN (export FERRETDB_BIN="$(bash scripts/ferretdb.sh)")');
  const documents = Number(process.argv[2] ?? 100_000);
  const batchBytes = process.argv[3] && process.argv[3] !== "-" ? Number(process.argv[3]) : undefined;
  const parallelCollections = process.argv[4] ? Number(process.argv[4]) : undefined;
  let source: FerretInstance | undefined;
  let target: FerretInstance | undefined;
  const client: { c?: MongoClient } = {};
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const rate = (n: number, ms: number) => `${Math.round((n * 1000) / Math.max(1, ms))} docs/s`;
  try {
    source = await startFerretDB({ binary, replSetName: "rs0", label: "bench-source" });
    target = await startFerretDB({ binary, label: "bench-target" });
    client.c = new MongoClient(source.uri);
    await client.c.connect();
    const orders = client.c.db("bench").collection("orders");
    let t = Date.now();
    for (let at = 0; at < documents; at += 5000) {
      await orders.insertMany(Array.from({ length: Math.min(5000, documents - at) }, (_, k) => order(at + k)), { ordered: false });
    }
    await orders.createIndex({ customer: 1, createdAt: -1 });
    await orders.createIndex({ email: 1 }, { unique: true });
    console.log(`seed: ${documents} documents into the source in ${seconds(Date.now() - t)} (${rate(documents, Date.now() - t)})`);

    const port = await MongoClusterPort.connect(source.uri);
    t = Date.now();
    let scanned = 0;
    for await (const batch of port.scan({ db: "bench", coll: "orders" }, {}, 1000)) scanned += batch.length;
    const scanMs = Date.now() - t;
    await port.close();
    console.log(`bare scan of the source through MongoClusterPort: ${scanned} documents in ${seconds(scanMs)} (${rate(scanned, scanMs)})`);

    const base = makeSpec({
      migrationId: `bench-${process.pid}`,
      source: { uri: source.uri },
      target: { uri: target.uri },
      namespaces: { include: ["bench.*"], exclude: [] },
      writeBlocking: "none",
      verification: "full",
    });
    const spec = {
      ...base,
      builtin: { ...base.builtin, ...(batchBytes ? { batchBytes } : {}), ...(parallelCollections ? { parallelCollections } : {}) },
    };
    console.log(`builtin settings: ${JSON.stringify(spec.builtin)}`);
    const engine = createBuiltinEngine();
    const ctx = makeContext({ deadlineMs: 24 * 3600_000, realTime: true });
    const all = Date.now();
    t = Date.now();
    const preflight = await engine.preflight(spec, ctx);
    if (preflight.errors.length > 0) throw new Error(`preflight: ${JSON.stringify(preflight.errors)}`);
    const handle = await engine.start(spec, ctx);
    let status = await engine.advance(spec, handle, ctx);
    while (status.phase === "COPYING") status = await engine.advance(spec, handle, ctx);
    const copyMs = Date.now() - t;
    console.log(`copy (preflight, start, advance → ${status.phase}): ${seconds(copyMs)} (${rate(documents, copyMs)})`);
    t = Date.now();
    const report = await engine.cutover(spec, handle, ctx);
    const cutoverMs = Date.now() - t;
    console.log(`cutover (reconcile, unique indexes, full verification): ${seconds(cutoverMs)}; ${report.verification.summary}`);
    console.log(`total: ${documents} documents FerretDB → FerretDB in snapshot mode, ${seconds(Date.now() - all)} (${rate(documents, Date.now() - all)})`);
    if (!report.verification.passed) process.exitCode = 1;
  } finally {
    await client.c?.close().catch(() => undefined);
    await stopAll([source, target]);
  }
}

main().catch((err) => {
  console.error((err as Error).stack ?? String(err));
  process.exit(1);
});
