// MongoClusterPort pieces that need no server: error translation, URI description, the connect failure
// path, and the query shapes scan/splitPoints send (checked on a recording stand-in for the driver's
// Collection). The full behaviour is checked by the conformance suite on a real mongod (tests/conformance).
import { BSON, Int32, MongoServerError, ReadPreference, type Document } from "mongodb";
import { MongoClusterPort, describeUri, translateDriverError } from "../../provider/cluster/mongo";
import { openCluster } from "../../provider/cluster/open";
import { HistoryLostError } from "../../provider/errors";

describe("errors and descriptions", () => {
  test.each([286, 280, 136])("server code %i becomes HistoryLostError", (code) => {
    const err = new MongoServerError({ message: "resume point gone", code });
    const translated = translateDriverError(err, "memory://x: change stream");
    expect(translated).toBeInstanceOf(HistoryLostError);
    expect(translated.message).toContain("resume point gone");
  });

  test("other errors keep their class and code, with secrets masked and bulk codes surfaced", () => {
    const err = new MongoServerError({ message: "failed for mongodb://app:s3cretpw@h1:27017", code: 13 });
    const translated = translateDriverError(err, "ctx");
    expect(translated).toBe(err);
    expect((translated as MongoServerError).code).toBe(13);
    expect(translated.message).not.toContain("s3cretpw");
    const bulk = Object.assign(new Error("bulk"), { writeErrors: [{ code: 11000 }] });
    expect((translateDriverError(bulk, "ctx") as Error & { code?: number }).code).toBe(11000);
  });

  test("describeUri keeps scheme and hosts only", () => {
    expect(describeUri("mongodb+srv://u:p@cluster0.example.net/db?tlsCertificateKeyFilePassword=x")).toBe("mongodb+srv://cluster0.example.net");
    expect(describeUri("mongodb://h1:1,h2:2/?replicaSet=rs")).toBe("mongodb://h1:1,h2:2");
  });

  test("a deployment that does not answer fails to open with a redacted message", async () => {
    const uri = "mongodb://app:n0tsh0wn@127.0.0.1:9/?serverSelectionTimeoutMS=300&connectTimeoutMS=300";
    let message = "";
    try {
      await openCluster(uri);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain("cannot connect to mongodb://127.0.0.1:9");
    expect(message).not.toContain("n0tsh0wn");
  });
});

describe("query shapes on a recording collection", () => {
  interface ServerBehaviour {
    /** mongod honours find's min/max on the hinted index; FerretDB v1 ignores both (and the hint). */
    honoursBounds?: boolean;
    /** `$type` aliases the server refuses: FerretDB v1 answers BadValue (2) "Unknown type name alias: minKey". */
    refusedAliases?: string[];
    /** Hold every refusal until this many `$type` queries have been sent (two scans racing). */
    refuseAfterQueries?: number;
    /** A broken server: refuses every `$type` query naming this alias, whether the query named it or not. */
    alwaysRefuse?: string;
    /** The stored bytes of the document with this `_id` (default `{_id: Int32(id)}`), as a raw read hands them out. */
    rawOf?: (id: number) => Uint8Array;
  }

  /**
   * Does an Int32 `_id` match the filter shapes MongoClusterPort sends ({}, $and, $or, $gt/$gte/$lt, $type, $in,
   * equality)? `$type` lists hold aliases: an Int32 is "int".
   */
  function matches(id: number, filter: Document): boolean {
    return Object.entries(filter).every(([key, cond]) => {
      if (key === "$and") return (cond as Document[]).every((f) => matches(id, f));
      if (key === "$or") return (cond as Document[]).some((f) => matches(id, f));
      if (key !== "_id") throw new Error(`unexpected filter key ${key}`);
      if (typeof cond !== "object" || cond instanceof Int32) return id === Number(cond);
      return Object.entries(cond as Document).every(([op, v]) => {
        if (op === "$gt") return id > Number(v);
        if (op === "$gte") return id >= Number(v);
        if (op === "$lt") return id < Number(v);
        if (op === "$type") return (v as string[]).includes("int");
        if (op === "$in") return (v as unknown[]).some((x) => Number(x) === id);
        if (op === "$eq") return Number(v) === id;
        throw new Error(`unexpected operator ${op}`);
      });
    });
  }

  function aliasesIn(filter: unknown): string[] {
    if (Array.isArray(filter)) return filter.flatMap(aliasesIn);
    if (filter === null || typeof filter !== "object" || filter instanceof Int32) return [];
    return Object.entries(filter as Document).flatMap(([k, v]) => (k === "$type" ? (v as string[]) : aliasesIn(v)));
  }

  /** A stand-in for MongoClient that answers find() from a sorted in-memory list, as the server described would. */
  function recordingClient(ids: number[], behaviour: ServerBehaviour = {}) {
    const honoursBounds = behaviour.honoursBounds ?? true;
    const calls: Document[] = [];
    let typeQueries = 0;
    let releaseRefusals: () => void = () => undefined;
    const refusalsReleased = new Promise<void>((resolve) => (releaseRefusals = resolve));
    const collection = {
      find: (filter: Document, options: Document) => {
        calls.push({ filter, options });
        const named = aliasesIn(filter);
        const refused = named.find((a) => behaviour.refusedAliases?.includes(a)) ?? (named.length > 0 ? behaviour.alwaysRefuse : undefined);
        if (named.length > 0 && ++typeQueries >= (behaviour.refuseAfterQueries ?? 0)) releaseRefusals();
        let docs = ids.filter((id) => matches(id, filter)).map((id) => ({ _id: new Int32(id) }));
        if (honoursBounds && options.min) docs = docs.filter((d) => d._id.value >= Number(options.min._id));
        if (honoursBounds && options.max) docs = docs.filter((d) => d._id.value < Number(options.max._id));
        docs = docs.slice(options.skip ?? 0);
        if (options.limit) docs = docs.slice(0, options.limit);
        // With `raw: true` the driver hands out each document as its BSON bytes (mongodb 7.x
        // lib/cmap/wire_protocol/responses.js CursorResponse.shift → OnDemandDocument.toBytes), never decoded.
        const out: Array<Document | Uint8Array> = options.raw ? docs.map((d) => behaviour.rawOf?.(d._id.value) ?? BSON.serialize(d)) : docs;
        let at = 0;
        const fail = async () => {
          if (behaviour.refuseAfterQueries) await refusalsReleased;
          throw new MongoServerError({ message: `Unknown type name alias: ${refused}`, code: 2, codeName: "BadValue" });
        };
        return {
          toArray: async () => (refused ? fail() : out),
          next: async () => (refused ? fail() : (out[at++] ?? null)),
          close: async () => undefined,
        };
      },
      countDocuments: async () => ids.length,
    };
    const collectionOptions: Array<Document | undefined> = [];
    const client = {
      db: () => ({
        collection: (_name: string, options?: Document) => {
          collectionOptions.push(options);
          return { ...collection, findOne: async () => null };
        },
      }),
      close: async () => undefined,
    };
    return { client, calls, collectionOptions };
  }

  async function scanIds(port: MongoClusterPort, range: Document, batchSize: number): Promise<number[][]> {
    const batches: number[][] = [];
    for await (const batch of port.scan({ db: "d", coll: "c" }, range, batchSize)) batches.push(batch.map((d) => d._id.value));
    return batches;
  }

  // Finding 4: with readPreference=secondary* in the source URI the copy read lagging secondaries while T0 came
  // from the primary, so writes just before T0 could be in neither the copy nor the change stream.
  test("reads of migrated data go to the primary whatever the URI's readPreference", async () => {
    const { client, collectionOptions } = recordingClient([1, 2, 3]);
    const port = MongoClusterPort.fromClient(client as never);
    for await (const _batch of port.scan({ db: "d", coll: "c" }, {}, 10)) void _batch;
    await port.countDocuments({ db: "d", coll: "c" });
    await port.findById({ db: "d", coll: "c" }, 1);
    await port.splitPoints({ db: "d", coll: "c" }, 2);
    expect(collectionOptions.length).toBeGreaterThanOrEqual(4);
    for (const options of collectionOptions) expect(options?.readPreference).toEqual(ReadPreference.primary);
  });

  // The port first asks whether find honours max (capabilities.ts probeIndexBounds: any _id X, then `{_id: X}`
  // with `max: {_id: X}`, which mongod answers with nothing); once per connection, and without a sort (FerretDB
  // sorts the whole collection for one).
  function expectBoundsProbe(calls: Document[]): void {
    expect(calls[0]).toEqual({ filter: {}, options: expect.objectContaining({ limit: 1, projection: { _id: 1 } }) });
    const x = calls[1].options.max._id;
    expect(calls[1]).toEqual({ filter: { _id: { $eq: x } }, options: expect.objectContaining({ hint: { _id: 1 }, max: { _id: x }, limit: 1 }) });
    expect(calls.slice(0, 2).every((c) => c.options.sort === undefined)).toBe(true);
  }

  test("scan walks the _id index with min/max and a hint, dropping an exclusive lower bound", async () => {
    const { client, calls } = recordingClient([1, 2, 3, 4, 5, 6, 7]);
    const port = MongoClusterPort.fromClient(client as never);
    expect(await scanIds(port, { after: 2, before: 7 }, 2)).toEqual([[3, 4], [5, 6]]);
    expectBoundsProbe(calls);
    const scans = calls.slice(2);
    expect(scans[0].options).toMatchObject({ hint: { _id: 1 }, sort: { _id: 1 }, min: { _id: 2 }, max: { _id: 7 }, limit: 3, raw: true });
    // Later batches continue after the last `_id` returned.
    expect(scans[1].options.min).toEqual({ _id: new Int32(4) });
    expect(scans.every((c) => Object.keys(c.filter).length === 0 && c.options.skip === undefined)).toBe(true);
    // The answer is kept: a second scan does not ask again.
    const before = calls.length;
    expect((await scanIds(port, {}, 10)).flat()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // One find: it returned fewer than its limit, so the range has ended and no empty find is sent to say so.
    expect(calls.slice(before).map((c) => c.options.min)).toEqual([undefined]);
  });

  test("scan reads raw BSON: each batch carries every document's size in bytes, and types decode exactly", async () => {
    const { client } = recordingClient([1, 2, 3, 4, 5]);
    const port = MongoClusterPort.fromClient(client as never);
    const batches: Array<{ ids: unknown[]; sizes?: number[] }> = [];
    for await (const batch of port.scan({ db: "d", coll: "c" }, { after: 1 }, 2)) batches.push({ ids: batch.map((d) => d._id), sizes: batch.bsonSizes });
    const size = BSON.calculateObjectSize({ _id: new Int32(2) });
    expect(batches).toEqual([
      { ids: [new Int32(2), new Int32(3)], sizes: [size, size] },
      { ids: [new Int32(4), new Int32(5)], sizes: [size, size] },
    ]);
  });

  test("scan names the documents that may hold BSON undefined (a 0x06 byte), and only those", async () => {
    // { _id: Int32(id), a: undefined } as a legacy driver stored it: element type 0x06 (bsonspec.org, deprecated).
    const withUndefined = (id: number): Uint8Array => {
      const idElement = Buffer.from(BSON.serialize({ _id: new Int32(id) })).subarray(4, -1);
      const doc = Buffer.concat([Buffer.alloc(4), idElement, Buffer.from([0x06, 0x61, 0x00, 0x00])]);
      doc.writeInt32LE(doc.length, 0);
      return doc;
    };
    const rawOf = (id: number) => (id === 3 ? withUndefined(id) : BSON.serialize({ _id: new Int32(id), s: "text" })); // no 0x06 byte anywhere ("text" has length 5)
    const { client } = recordingClient([1, 2, 3, 4], { rawOf });
    const port = MongoClusterPort.fromClient(client as never);
    const batches = [];
    for await (const batch of port.scan({ db: "d", coll: "c" }, {}, 10)) batches.push(batch);
    expect(batches).toHaveLength(1);
    expect(batches[0].undefinedSuspects).toEqual([2]);
    expect(batches[0][2]).toEqual({ _id: new Int32(3), a: undefined });
  });

  // FerretDB v1 ignores min/max (tests/ferretdb: the probe answers "max is ignored"), and sorts a collection in
  // memory per query: one cursor with an `_id` range filter serves the whole pass, no skip, no bounds.
  test("where find ignores min/max, one filtered cursor per pass serves the range, in batches", async () => {
    const { client, calls } = recordingClient([1, 2, 3, 4, 5, 6, 7], { honoursBounds: false });
    const port = MongoClusterPort.fromClient(client as never);
    expect(await scanIds(port, { after: 2, before: 7 }, 2)).toEqual([[3, 4], [5, 6]]);
    expectBoundsProbe(calls);
    const scans = calls.slice(2);
    expect(scans).toHaveLength(1);
    expect(scans[0].options).toMatchObject({ sort: { _id: 1 }, batchSize: 2, raw: true });
    expect(scans[0].options).not.toHaveProperty("min");
    expect(scans[0].options).not.toHaveProperty("max");
    expect(scans[0].options).not.toHaveProperty("skip");
    expect(aliasesIn(scans[0].filter)).toContain("string"); // later brackets are in range too
    expect(await scanIds(port, { from: 6 }, 10)).toEqual([[6, 7]]);
  });

  // Seen on FerretDB (builtin.test.ts, four partitions copied at once): a scan whose query went out before
  // another one learnt that "maxKey" is refused got the same refusal and gave up, failing the copy.
  test("scans running at once each retry a `$type` alias the server refuses, whoever learnt it first", async () => {
    const refusedAliases = ["minKey", "maxKey", "javascriptWithScope"];
    const { client, calls } = recordingClient([1, 2, 3, 4, 5, 6, 7], { honoursBounds: false, refusedAliases, refuseAfterQueries: 2 });
    const port = MongoClusterPort.fromClient(client as never);
    // Both ranged scans name the same refused aliases (every bracket after numbers) and send their first query
    // before either hears the refusal; a pass over everything needs no filter.
    const results = await Promise.all([scanIds(port, { from: 4 }, 10), scanIds(port, { after: 5 }, 10), scanIds(port, {}, 3)]);
    expect(results).toEqual([[[4, 5, 6, 7]], [[6, 7]], [[1, 2, 3], [4, 5, 6], [7]]]);
    const last = calls[calls.length - 1];
    for (const alias of refusedAliases) expect(aliasesIn(last.filter)).not.toContain(alias);
    // Each retry names fewer aliases, so a server that refuses an alias it was never sent still fails.
    const broken = recordingClient([1], { honoursBounds: false, alwaysRefuse: "int" });
    await expect(scanIds(MongoClusterPort.fromClient(broken.client as never), { from: "a" }, 10)).rejects.toThrow(/Unknown type name alias: int/);
    expect(broken.calls).toHaveLength(3); // the probe's two queries and one scan query: no retry
  });

  // Issue 8 finding 14: a `skip` per split point re-walks the index from its start (O(documents × parts)); on
  // FerretDB each such query sorted the whole collection. One covered walk of the `_id` index serves all points.
  test("splitPoints reads evenly spaced _ids in one walk of the index, without skip", async () => {
    const { client, calls } = recordingClient(Array.from({ length: 100 }, (_, i) => i));
    const port = MongoClusterPort.fromClient(client as never);
    const points = await port.splitPoints({ db: "d", coll: "c" }, 4);
    expect(points).toEqual([new Int32(25), new Int32(50), new Int32(75)]);
    expectBoundsProbe(calls);
    const walks = calls.slice(2);
    expect(walks).toHaveLength(1);
    expect(walks[0].options).toMatchObject({ hint: { _id: 1 }, sort: { _id: 1 }, projection: { _id: 1 } });
    expect(walks[0].options.skip).toBeUndefined();
    expect(await port.splitPoints({ db: "d", coll: "c" }, 200)).toHaveLength(99); // at most one point per document
  });

  // Where min/max are ignored each range costs a read and sort of the whole collection (FerretDB: a 100 000-document
  // copy took 36 s in one range, 316 s in four), so there is one range.
  test("splitPoints gives no points where find ignores min/max, asking only the probe", async () => {
    const { client, calls } = recordingClient(Array.from({ length: 100 }, (_, i) => i), { honoursBounds: false });
    const port = MongoClusterPort.fromClient(client as never);
    expect(await port.splitPoints({ db: "d", coll: "c" }, 4)).toEqual([]);
    expectBoundsProbe(calls);
    expect(calls).toHaveLength(2);
  });
});
