// MemoryCluster: an in-memory MongoDB deployment implementing ClusterPort, for the engine's tests and our
// users' own tests. It keeps a change log (change streams with resume tokens and a truncatable window),
// enforces unique indexes, supports user write blocking and users with roles, and can inject faults.
//
//   const source = MemoryCluster.create("source");           // memory://source now resolves to it
//   await source.db("shop").collection("orders").insertOne({ _id: 1 });
//   source.faults.failNext("bulkWrite", 1, notWritablePrimaryError);
//   source.truncateChangeLog({ keepLast: 0 });                  // simulate an oplog rollover
//
// What it does not model: query operators beyond query.ts, aggregation, TTL expiry, capped-collection
// eviction, validators (stored and listed, not enforced), transactions, sessions.

import type { Timestamp } from "mongodb";
import { redact } from "../../provider/errors";
import { MemoryClusterConnection } from "./connection";
import type { FaultInjector } from "./faults";
import { ClusterState, type MemoryClusterOptions } from "./state";
import type { Role } from "./users";

export type { MemoryClusterOptions } from "./state";

// Shared through globalThis so two copies of this module (the package loaded twice, or a serialized
// dynamic provider requiring it afresh) still see the same clusters.
const REGISTRY_KEY = Symbol.for("pulumi-atlas-migration.memory-clusters");
type Registry = Map<string, MemoryCluster>;

function registry(): Registry {
  const holder = globalThis as unknown as Record<symbol, Registry | undefined>;
  return (holder[REGISTRY_KEY] ??= new Map());
}

let anonymousCount = 0;

export class MemoryCluster extends MemoryClusterConnection {
  readonly name: string;

  constructor(options: MemoryClusterOptions & { name?: string } = {}) {
    const name = options.name ?? `anonymous-${++anonymousCount}`;
    super(new ClusterState(name, options), { kind: "root" });
    this.name = name;
  }

  /** Creates a cluster and registers it so `memory://<name>` resolves to it. Fails if the name is taken. */
  static create(name: string, options: MemoryClusterOptions = {}): MemoryCluster {
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`MemoryCluster name "${name}" must use letters, digits, '.', '_' or '-'`);
    const clusters = registry();
    if (clusters.has(name)) throw new Error(`MemoryCluster "${name}" already exists; call MemoryCluster.remove("${name}") first`);
    const cluster = new MemoryCluster({ ...options, name });
    clusters.set(name, cluster);
    return cluster;
  }

  /** The registered cluster with this name, if any. */
  static get(name: string): MemoryCluster | undefined {
    return registry().get(name);
  }

  /** The cluster a `memory://<name>` URI names; throws a redacted error naming the URI when none. */
  static resolve(uri: string): MemoryCluster {
    const match = /^memory:\/\/(?:[^@/]*@)?([^/?#]+)/.exec(uri);
    const cluster = match ? registry().get(match[1]) : undefined;
    if (!cluster) {
      throw new Error(
        redact(`no MemoryCluster is registered for ${uri}; create it first with MemoryCluster.create(name) in the same process`),
      );
    }
    return cluster;
  }

  static remove(name: string): boolean {
    return registry().delete(name);
  }

  /** Forgets every registered cluster (between tests). */
  static reset(): void {
    registry().clear();
  }

  /** Fault injection: `cluster.faults.failNext("bulkWrite", 2, notWritablePrimaryError)`. */
  get faults(): FaultInjector {
    return this.state.faults;
  }

  /** A fresh connection as the default principal; closing it leaves the cluster and other connections alone. */
  connect(): MemoryClusterConnection {
    return new MemoryClusterConnection(this.state, { kind: "root" });
  }

  /** A connection acting as a user added with addUser; its privileges follow the user's current roles. */
  as(user: string, db = "admin"): MemoryClusterConnection {
    if (!this.state.users.has(`${db}.${user}`)) throw new Error(`MemoryCluster "${this.name}" has no user ${user}@${db}`);
    return new MemoryClusterConnection(this.state, { kind: "user", user, db });
  }

  /** Defines (or redefines) a user with built-in roles: read, readWrite, dbOwner, readAnyDatabase,
   *  readWriteAnyDatabase, root, restore, clusterMonitor. */
  addUser(user: string, db: string, roles: Role[]): void {
    this.state.users.set(`${db}.${user}`, { user, db, roles: roles.map((r) => ({ ...r })) });
  }

  /**
   * Inserts a document given as raw BSON bytes, stored exactly (e.g. with the deprecated undefined type 0x06,
   * which the Node.js driver reads as `undefined` but cannot write). Logged like any insert. Bypasses permissions
   * (a seeding tool for tests).
   */
  insertRawBson(db: string, coll: string, bytes: Uint8Array): unknown {
    return this.state.insertBytes({ db, coll }, bytes);
  }

  /**
   * Runs `body` (writes through this cluster's handles) as a multi-document transaction as far as change
   * streams see it: each event carries lsid/txnNumber, and 8.0+ adds an endOfTransaction event. Not isolated.
   */
  withTransaction<T>(body: () => Promise<T>): Promise<T> {
    return this.state.inTransaction(body);
  }

  /**
   * One pass of mongod's TTL monitor (every 60 s on a real server, ttlMonitorSleepSecs): deletes the documents
   * whose TTL-indexed date is older than expireAfterSeconds, whatever write blocking says (it is not a user
   * write). Returns how many went. Tests call it where the real monitor could run.
   */
  runTtlMonitor(): number {
    return this.state.runTtlMonitor();
  }

  removeUser(user: string, db: string): boolean {
    return this.state.users.delete(`${db}.${user}`);
  }

  /**
   * Simulates the oplog rolling over: drops change-log entries older than `before`, all but the newest
   * `keepLast`, or the `oldest` N. Streams that still needed a dropped entry fail with HistoryLostError.
   * Returns how many went.
   */
  /**
   * Writes from now on reach change streams only `getMores` getMores later, as on a replica set whose majority
   * commit point trails the primary (see ChangeLog.setMajorityCommitLag); reads and acknowledgements are at once.
   */
  setMajorityCommitLag(getMores: number): void {
    this.state.log.setMajorityCommitLag(getMores);
  }

  truncateChangeLog(limit: { before?: Timestamp; keepLast?: number; oldest?: number }): number {
    return this.state.log.truncate(limit);
  }

  /** Entries currently in the change log (including internal ones). */
  changeLogSize(): number {
    return this.state.log.read(0, Number.MAX_SAFE_INTEGER).length;
  }

  /** Whether user write blocking is on, synchronously (for assertions). */
  get writesBlocked(): boolean {
    return this.state.writeBlocking;
  }

  protected override closesRoot(): boolean {
    return false;
  }
}
