// MongoClusterPort pieces that need no server: error translation, URI description, the connect failure
// path, and the query shapes scan/splitPoints send (checked on a recording stand-in for the driver's
// Collection). The full behaviour is checked by the conformance suite on a real mongod (tests/conformance).
import { Int32, MongoServerError, ReadPreference, type Document } from "mongodb";
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
  /** A stand-in for MongoClient that answers find() from a sorted in-memory list, honouring min/max/skip/limit. */
  function recordingClient(ids: number[]) {
    const calls: Document[] = [];
    const collection = {
      find: (filter: Document, options: Document) => {
        calls.push({ filter, options });
        let docs = ids.map((id) => ({ _id: new Int32(id) }));
        if (options.min) docs = docs.filter((d) => d._id.value >= Number(options.min._id));
        if (options.max) docs = docs.filter((d) => d._id.value < Number(options.max._id));
        docs = docs.slice(options.skip ?? 0);
        if (options.limit) docs = docs.slice(0, options.limit);
        return { toArray: async () => docs };
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

  test("scan walks the _id index with min/max and a hint, dropping an exclusive lower bound", async () => {
    const { client, calls } = recordingClient([1, 2, 3, 4, 5, 6, 7]);
    const port = MongoClusterPort.fromClient(client as never);
    const seen: number[] = [];
    for await (const batch of port.scan({ db: "d", coll: "c" }, { after: 2, before: 7 }, 2)) seen.push(...batch.map((d) => d._id.value));
    expect(seen).toEqual([3, 4, 5, 6]);
    expect(calls[0].options).toMatchObject({ hint: { _id: 1 }, sort: { _id: 1 }, min: { _id: 2 }, max: { _id: 7 }, limit: 3, promoteValues: false, bsonRegExp: true });
    // Later batches continue after the last `_id` returned.
    expect(calls[1].options.min).toEqual({ _id: new Int32(4) });
    expect(calls[0].filter).toEqual({});
  });

  test("splitPoints reads evenly spaced _ids from the index", async () => {
    const { client, calls } = recordingClient(Array.from({ length: 100 }, (_, i) => i));
    const port = MongoClusterPort.fromClient(client as never);
    const points = await port.splitPoints({ db: "d", coll: "c" }, 4);
    expect(points).toEqual([new Int32(25), new Int32(50), new Int32(75)]);
    expect(calls.every((c) => c.options.hint?._id === 1 && c.options.projection?._id === 1)).toBe(true);
  });
});
