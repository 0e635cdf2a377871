// MongoClusterPort's change-stream reads, with the real `mongodb` driver over a socket to a wire-protocol
// stand-in (wire-stand-in.ts: mongod's awaitData getMore, which waits maxTimeMS on a quiet stream). What is
// checked is what the driver sends — each getMore's maxTimeMS — never how long anything took.
//
// Before: the stream's await was fixed at 250 ms, so opening a stream on a quiet source (the getMore the driver
// sends right after an empty first batch) and every `nextBatch(0)` waited 250 ms on a real server: `create` on
// an empty source waited ~0.5 s where every double answered at once.
import type { ChangeCursor } from "../../provider/cluster/port";
import { MongoClusterPort } from "../../provider/cluster/mongo";
import { ChangeStreamWireStandIn } from "./wire-stand-in";

let server: ChangeStreamWireStandIn;
let port: MongoClusterPort | undefined;
let cursor: ChangeCursor | undefined;

beforeEach(async () => {
  server = new ChangeStreamWireStandIn();
  port = await MongoClusterPort.connect(await server.start());
});

afterEach(async () => {
  await cursor?.close().catch(() => undefined);
  cursor = undefined;
  await port?.close();
  await server.stop();
});

const sentSince = (from: number) => server.getMores.slice(from).map((g) => g.maxTimeMS);

describe("MongoClusterPort change streams on the wire", () => {
  test("opening a stream on a quiet source sends no getMore that waits", async () => {
    cursor = await port!.watch({ startAtOperationTime: server.now() });
    expect(server.aggregates).toHaveLength(1);
    const sent = sentSince(0);
    expect(sent.length).toBeGreaterThan(0); // the driver's getMore after the empty first batch
    for (const ms of sent) expect(ms).toBe(1);
  });

  test("nextBatch(0) asks the server for what it has now, and nextBatch(n) never for more than n ms", async () => {
    cursor = await port!.watch({ startAtOperationTime: server.now() });
    let from = server.getMores.length;
    expect(await cursor.nextBatch(0)).toEqual([]);
    expect(sentSince(from).length).toBeGreaterThan(0);
    for (const ms of sentSince(from)) expect(ms).toBe(1);

    from = server.getMores.length;
    expect(await cursor.nextBatch(120)).toEqual([]);
    const sent = sentSince(from);
    expect(sent.length).toBeGreaterThan(0);
    for (const ms of sent) {
      expect(ms).toBeGreaterThanOrEqual(1); // never 0 or absent: mongod would wait its default 1 s
      expect(ms).toBeLessThanOrEqual(120);
    }
  });

  test("an event logged while a getMore awaits is returned by that read", async () => {
    cursor = await port!.watch({ startAtOperationTime: server.now() });
    const read = cursor.nextBatch(60_000);
    // Once the getMore is out (the stand-in has recorded it), the write arrives.
    const from = server.getMores.length;
    while (server.getMores.length === from) await new Promise((r) => setImmediate(r));
    server.insert("shop", "orders", { _id: 7, qty: 1 });
    const events = await read;
    expect(events.map((e) => Number(e.documentKey?._id))).toEqual([7]);
    expect(events[0].operationType).toBe("insert");
  });

  test("events already logged come in the first batch, with no await", async () => {
    const start = server.now();
    server.insert("shop", "orders", { _id: 1 });
    server.insert("shop", "orders", { _id: 2 });
    cursor = await port!.watch({ startAtOperationTime: start });
    const events = await cursor.nextBatch(0);
    expect(events.map((e) => Number(e.documentKey?._id))).toEqual([1, 2]);
    expect(cursor.resumeToken()).toEqual({ _data: "0000000000000002" });
  });
});
