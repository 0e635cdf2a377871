// The demo's data set and its "application": the same code seeds a MemoryCluster (offline mode) or a local
// mongod through the driver (full mode), because both expose db(name).collection(name) with the driver's
// method names.
//
// The documents mix BSON types on purpose (ObjectId, Int32, Long, Double, Decimal128, Date, Binary, UUID,
// Timestamp, regular expressions, null, nested documents and arrays, and three kinds of _id), so the demo can
// show that what arrives on the target is byte-for-byte the same BSON, not a JSON round trip.
import * as crypto from "crypto";
import { Binary, BSON, BSONRegExp, Decimal128, Double, Int32, Long, ObjectId, Timestamp, UUID } from "mongodb";

/** The part of a collection this demo uses; the driver's Collection and MemoryCollection both fit. */
export interface DemoCollection {
  insertMany(docs: any[]): Promise<unknown>;
  insertOne(doc: any): Promise<unknown>;
  updateOne(filter: any, update: any): Promise<unknown>;
  deleteOne(filter: any): Promise<unknown>;
  countDocuments(filter?: any): Promise<number>;
  createIndex(keys: any, options?: any): Promise<string>;
  find(filter: any, options?: any): { sort(sort: any): AsyncIterable<any> };
}

export interface DemoCluster {
  db(name: string): { collection(name: string): DemoCollection };
}

/** Collections of the demo, in the order the report lists them. `migrated: false` ones are excluded. */
export const NAMESPACES = [
  { db: "shop", coll: "customers", migrated: true },
  { db: "shop", coll: "orders", migrated: true },
  { db: "crm", coll: "events", migrated: true },
  { db: "scratch", coll: "cache", migrated: false },
] as const;

/** The namespace filter the demo program uses: everything except the scratch database. */
export const EXCLUDED = ["scratch.*"];

export const SEED_COUNTS = { customers: 500, orders: 2400, events: 900, cache: 200 };

/** Deterministic pseudo-random numbers, so every run seeds the same documents. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 0x1_0000_0000;
  };
}

const DAY = 86_400_000;
const EPOCH = Date.UTC(2024, 0, 1);

function customerId(i: number): ObjectId {
  return new ObjectId(i.toString(16).padStart(24, "0"));
}

export function customer(i: number, random: () => number): Record<string, unknown> {
  return {
    _id: customerId(i),
    email: `customer${i}@example.com`,
    name: `Customer ${i}`,
    since: new Date(EPOCH + Math.floor(random() * 400) * DAY),
    vip: random() < 0.1,
    credit: Decimal128.fromString((random() * 1000).toFixed(2)),
    visits: new Int32(Math.floor(random() * 50)),
    phone: random() < 0.3 ? null : `+1-555-${String(i).padStart(4, "0")}`,
    address: { city: ["Lisbon", "Osaka", "Lagos", "Quito"][i % 4], zip: String(10000 + i) },
    tags: i % 3 === 0 ? ["wholesale", "eu"] : [],
  };
}

export function order(n: number, random: () => number, customers = SEED_COUNTS.customers): Record<string, unknown> {
  const lines = 1 + Math.floor(random() * 3);
  return {
    _id: Long.fromNumber(n),
    customerId: customerId(Math.floor(random() * customers)),
    placedAt: new Date(EPOCH + Math.floor(random() * 500 * DAY)),
    total: new Double(Math.round(random() * 100_000) / 100),
    tax: Decimal128.fromString((random() * 20).toFixed(4)),
    items: Array.from({ length: lines }, (_, k) => ({ sku: `SKU-${(n * 7 + k) % 997}`, qty: new Int32(1 + k) })),
    receipt: new Binary(crypto.createHash("md5").update(`order-${n}`).digest()),
    trackingId: new UUID(crypto.createHash("sha256").update(`track-${n}`).digest("hex").slice(0, 32)),
    status: random() < 0.9 ? "paid" : "refunded",
  };
}

/** Three kinds of _id in one collection: the copy must order and partition them as MongoDB does. */
function event(i: number, random: () => number): Record<string, unknown> {
  const id = i % 3 === 0 ? i : i % 3 === 1 ? `evt-${String(i).padStart(5, "0")}` : new ObjectId((0xe0000000 + i).toString(16).padStart(24, "0"));
  return {
    _id: id,
    at: new Timestamp({ t: 1_700_000_000 + i, i: 1 }),
    kind: ["click", "view", "signup"][i % 3],
    matcher: new BSONRegExp(`^/p/${i % 10}`, "i"),
    count: Long.fromString(String(2 ** 40 + i)),
    ratio: new Double(i % 7 === 0 ? 1 : random()),
    payload: { nested: { deep: [new Int32(1), new Double(2.5), "x", null, { flag: i % 2 === 0 }] } },
  };
}

function cacheEntry(i: number): Record<string, unknown> {
  return { _id: `cache-${i}`, value: "x".repeat(64), expires: new Date(EPOCH + i * 1000) };
}

async function insertInBatches(coll: DemoCollection, docs: Record<string, unknown>[]): Promise<void> {
  for (let i = 0; i < docs.length; i += 500) await coll.insertMany(docs.slice(i, i + 500));
}

/** Seeds the source: four collections and their secondary indexes. */
export async function seedSource(cluster: DemoCluster): Promise<void> {
  const random = prng(42);
  const shop = cluster.db("shop");
  await insertInBatches(shop.collection("customers"), Array.from({ length: SEED_COUNTS.customers }, (_, i) => customer(i, random)));
  await insertInBatches(shop.collection("orders"), Array.from({ length: SEED_COUNTS.orders }, (_, i) => order(i, random)));
  await insertInBatches(cluster.db("crm").collection("events"), Array.from({ length: SEED_COUNTS.events }, (_, i) => event(i, random)));
  await insertInBatches(cluster.db("scratch").collection("cache"), Array.from({ length: SEED_COUNTS.cache }, (_, i) => cacheEntry(i)));
  await shop.collection("customers").createIndex({ email: 1 }, { unique: true, name: "email_unique" });
  await shop.collection("orders").createIndex({ customerId: 1, placedAt: -1 }, { name: "by_customer" });
}

/** What the application did while it ran: writes that landed, and writes the source refused. */
export interface AppStats {
  inserted: number;
  updated: number;
  deleted: number;
  refused: number;
  /** The first refusal's message (the write-blocking error), for the report. */
  refusal?: string;
}

/**
 * A small application writing to the source: new orders, customer updates, a deleted event now and then.
 * Keeps writing until stopped; writes refused by the server (write blocking at cutover) are counted.
 */
export class DemoApp {
  readonly stats: AppStats = { inserted: 0, updated: 0, deleted: 0, refused: 0 };
  private running = false;
  private loop: Promise<void> | undefined;
  private nextOrder = 1_000_000;
  private readonly random = prng(7);

  constructor(private readonly cluster: DemoCluster) {}

  /** One round of application writes (an order, a customer visit, sometimes a deleted event). */
  async writeOnce(): Promise<void> {
    const shop = this.cluster.db("shop");
    const n = this.nextOrder++;
    await this.attempt(async () => {
      await shop.collection("orders").insertOne(order(n, this.random));
      this.stats.inserted++;
    });
    await this.attempt(async () => {
      const id = customerId(Math.floor(this.random() * SEED_COUNTS.customers));
      await shop.collection("customers").updateOne({ _id: id }, { $inc: { visits: 1 }, $set: { lastSeen: new Date() } });
      this.stats.updated++;
    });
    if (n % 10 === 0) {
      await this.attempt(async () => {
        await this.cluster.db("crm").collection("events").deleteOne({ _id: `evt-${String((n / 10) % SEED_COUNTS.events).padStart(5, "0")}` });
        this.stats.deleted++;
      });
    }
  }

  /** Writes `rounds` rounds now (a burst of traffic). */
  async burst(rounds: number): Promise<void> {
    for (let i = 0; i < rounds; i++) await this.writeOnce();
  }

  /** Keeps writing, one round every `intervalMs`, until stop(). */
  start(intervalMs: number): void {
    if (this.running) return;
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        await this.writeOnce();
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
      }
    })();
  }

  async stop(): Promise<AppStats> {
    this.running = false;
    await this.loop;
    return { ...this.stats };
  }

  private async attempt(write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (err) {
      this.stats.refused++;
      this.stats.refusal ??= err instanceof Error ? err.message : String(err);
    }
  }
}

/** Read values exactly as stored (no Int32/Long/Double promotion, regexes as BSONRegExp) so digests see types. */
const EXACT = { promoteValues: false, promoteLongs: false, promoteBuffers: false, bsonRegExp: true };

/** Count and a digest of every document's exact BSON bytes in _id order: equal digests mean identical data. */
export interface CollectionSummary {
  count: number;
  digest: string;
}

export async function summarize(cluster: DemoCluster, db: string, coll: string): Promise<CollectionSummary> {
  const hash = crypto.createHash("sha256");
  let count = 0;
  for await (const doc of cluster.db(db).collection(coll).find({}, EXACT).sort({ _id: 1 })) {
    hash.update(BSON.serialize(doc));
    count++;
  }
  return { count, digest: hash.digest("hex").slice(0, 16) };
}

export type Summaries = Record<string, { source: CollectionSummary; target: CollectionSummary }>;

export async function summarizeBoth(source: DemoCluster, target: DemoCluster): Promise<Summaries> {
  const out: Summaries = {};
  for (const ns of NAMESPACES) {
    out[`${ns.db}.${ns.coll}`] = { source: await summarize(source, ns.db, ns.coll), target: await summarize(target, ns.db, ns.coll) };
  }
  return out;
}
