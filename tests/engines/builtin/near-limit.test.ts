// Documents at the 16 MiB limit (issue 8, finding 14). mongod stores a document of up to 16 MiB and accepts the
// update statement that overwrites it, which is larger (jstests/core/max_doc_size.js); the driver's bulk API does
// not (a statement of 16 MiB or more is refused before anything is sent), so MongoClusterPort sends such statements
// one by one (the conformance suite shows it on a real server). Here: the engine copies, replays (change stream,
// both overwrite shapes) and verifies them, and MemoryCluster refuses only what mongod refuses.
import { BSON } from "mongodb";
import { MemoryCluster } from "../../../testing/memory-cluster";
import { compare, expectIdentical, rig, syncUntilReady } from "./helpers";
import type { AnyDoc } from "./helpers";

afterEach(() => MemoryCluster.reset());

const LIMIT = 16 * 1024 * 1024;
const NS = { db: "media", coll: "blobs" };

function sized(id: number, total: number, fill: string, extra: AnyDoc = { _id: id }): AnyDoc {
  const doc: AnyDoc = { ...extra, _id: id, s: "" };
  doc.s = fill.repeat(total - BSON.calculateObjectSize(doc));
  return doc;
}

test("16 MiB - 1 B documents are copied, replaced, upserted and replayed (one with a top-level $ field), and verified", async () => {
  const r = rig();
  const blobs = r.source.db(NS.db).collection<AnyDoc>(NS.coll);
  await blobs.insertOne(sized(1, LIMIT - 1, "a"));
  const { handle, status } = await syncUntilReady(r);
  expect(status.phase).toBe("READY_FOR_CUTOVER");
  await blobs.replaceOne({ _id: 1 }, sized(1, LIMIT - 1, "b"));
  // A document with a top-level $ field is overwritten with the $replaceWith/$literal pipeline.
  await blobs.insertOne(sized(2, LIMIT - 1, "c", { _id: 2, $kind: "x" }));
  await blobs.replaceOne({ _id: 3 }, sized(3, LIMIT - 1, "d"), { upsert: true });
  const after = await r.engine.advance(r.spec, handle, r.ctx);
  expect(after.reason).toBeUndefined();
  const report = await r.engine.cutover(r.spec, handle, r.ctx);
  expect(report.verification.passed).toBe(true);
  expectIdentical(await compare(r.source, r.target, NS));
  const [one] = await r.target.db(NS.db).collection<AnyDoc>(NS.coll).find({ _id: 1 }).toArray();
  expect(String(one.s).slice(0, 3)).toBe("bbb");
  expect(BSON.calculateObjectSize(one)).toBe(LIMIT - 1);
});
