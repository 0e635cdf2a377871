// Run by ferretdb-capabilities.ts in a child process (jest registers tests synchronously, the probes are
// async): starts a throwaway FerretDB, asks it provider/cluster/capabilities.ts' questions plus which BSON
// types it stores, prints one JSON line, stops it. The TypeScript sources are transpiled on the fly.
"use strict";
const path = require("path");
require("./register-ts");

const { MongoClient, MinKey, MaxKey, Decimal128, Code, Double, BSONRegExp } = require("mongodb");
const { probeCapabilities, errorAnswer } = require(path.join(__dirname, "../../provider/cluster/capabilities.ts"));
const { startFerretDB } = require(path.join(__dirname, "ferretdb-server.ts"));

async function storesType(coll, id, value, check) {
  try {
    await coll.insertOne({ _id: id, v: value });
    const back = await coll.findOne({ _id: id }, { promoteValues: false, promoteLongs: false, bsonRegExp: true });
    if (!back) return { supported: false, answer: "inserted but not found again" };
    const why = check ? check(back.v) : undefined;
    return why ? { supported: false, answer: why } : { supported: true, answer: "ok: stored and read back" };
  } catch (err) {
    // FerretDB closes the connection on a type it cannot decode: say so in words.
    return { supported: false, answer: err && err.name === "MongoNetworkError" ? `the server closed the connection (${errorAnswer(err)})` : errorAnswer(err) };
  }
}

(async () => {
  const server = await startFerretDB({ binary: process.argv[2], replSetName: "rs0", label: "probe" });
  const client = new MongoClient(server.uri);
  try {
    await client.connect();
    const coll = client.db("probe").collection("types");
    await coll.insertOne({ _id: 0 });
    const caps = await probeCapabilities(client, { sample: { db: "probe", coll: "types" } });
    // One fresh client per type: a closed connection must not poison the next probe.
    const each = async (id, value, check) => {
      const c = new MongoClient(server.uri);
      try {
        await c.connect();
        return await storesType(c.db("probe").collection("types"), id, value, check);
      } finally {
        await c.close().catch(() => undefined);
      }
    };
    const types = {
      minMaxKeys: await each(1, new MinKey()),
      decimal128: await each(2, Decimal128.fromString("1.10")),
      javascript: await each(3, new Code("x")),
      nestedArrays: await each(4, [[1]]),
      negativeZero: await each(5, new Double(-0), (v) => (Object.is(v.valueOf(), -0) ? undefined : `-0 came back as ${v.valueOf()}`)),
      regexFlags: await each(6, new BSONRegExp("a", "imsx"), (v) => (v.options === "imsx" ? undefined : `flags imsx came back as "${v.options}"`)),
      infinity: await each(7, new Double(-Infinity)),
      // A top-level field named "$p" (MongoDB 5.0+ stores it; docs: "Field Names with Periods and Dollar Signs").
      dollarFields: await (async () => {
        const c = new MongoClient(server.uri);
        try {
          await c.connect();
          const types = c.db("probe").collection("types");
          await types.insertOne({ _id: 8, $p: 1 });
          const back = await types.findOne({ _id: 8 });
          return back && back.$p === 1 ? { supported: true, answer: "ok: stored and read back" } : { supported: false, answer: "inserted but $p did not come back" };
        } catch (err) {
          return { supported: false, answer: errorAnswer(err) };
        } finally {
          await c.close().catch(() => undefined);
        }
      })(),
      // mongod refuses an update whose result exceeds 16 MiB (BSONObjMaxUserSize; code 17419).
      documentSizeLimit: await (async () => {
        const c = new MongoClient(server.uri);
        try {
          await c.connect();
          const big = c.db("probe").collection("big");
          await big.insertOne({ _id: 1, a: "x".repeat(9 * 1024 * 1024) });
          await big.updateOne({ _id: 1 }, { $set: { b: "y".repeat(8 * 1024 * 1024) } });
          return { supported: false, answer: "an update to a ~17 MiB document was accepted" };
        } catch (err) {
          return err && err.code === 17419 ? { supported: true, answer: "ok: refused with 17419" } : { supported: false, answer: errorAnswer(err) };
        } finally {
          await c.close().catch(() => undefined);
        }
      })(),
    };
    // Collection options a target must accept to receive a source's catalog (a throwaway database).
    const catalogDb = client.db("probe_catalog");
    const creates = async (name, options) => {
      try {
        await catalogDb.createCollection(name, options);
        return { supported: true, answer: "ok: created" };
      } catch (err) {
        return { supported: false, answer: errorAnswer(err) };
      }
    };
    await catalogDb.createCollection("base");
    const catalog = {
      validators: await creates("validated", { validator: { $jsonSchema: { bsonType: "object" } } }),
      collations: await creates("collated", { collation: { locale: "fr", strength: 2 } }),
      views: await creates("view", { viewOn: "base", pipeline: [] }),
      cappedCollections: await creates("capped", { capped: true, size: 65536, max: 100 }),
      timeseries: await creates("series", { timeseries: { timeField: "t" } }),
      ttlIndexes: await (async () => {
        try {
          await catalogDb.collection("base").createIndex({ at: 1 }, { expireAfterSeconds: 3600 });
          return { supported: true, answer: "ok: created" };
        } catch (err) {
          return { supported: false, answer: errorAnswer(err) };
        }
      })(),
    };
    await catalogDb.dropDatabase().catch(() => undefined);
    process.stdout.write(JSON.stringify({ caps, types, catalog }) + "\n");
  } finally {
    await client.close().catch(() => undefined);
    await server.stop();
  }
})().catch((err) => {
  process.stderr.write(String((err && err.stack) || err) + "\n");
  process.exit(1);
});
