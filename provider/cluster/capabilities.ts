// What a MongoDB-wire server can do for a migration, asked of the server itself — never inferred from its name
// or the version it reports. FerretDB v1 answers buildInfo with "7.0.42" yet has no change streams, no
// setUserWriteBlockMode and ignores find's min/max; Amazon DocumentDB and Cosmos DB for MongoDB report 4.0–6.0
// and lack other parts. Each probe is read-only and records the server's literal answer, so a refusal or a
// skipped test can quote it.
//
// Probes (all on the connected user's own rights):
//   hello + buildInfo        version and topology (setName ⇒ replica set member, msg "isdbgrid" ⇒ mongos)
//   changeStreams            open a deployment-wide change stream and close it ($changeStream, allChangesForCluster)
//   userWriteBlocking        listCommands names setUserWriteBlockMode, and the deployment is not a standalone
//                            (mongod refuses it there: "only supported on replica sets / sharded clusters")
//   connectionStatus         connectionStatus {showPrivileges: true} answers; whether it lists privileges
//   userManagement           listCommands names usersInfo and updateUser (readOnlyUsers write blocking)
//   indexBounds              find {_id: X} with hint {_id: 1} and max {_id: X} returns nothing (max is
//                            exclusive); a server that ignores the bound returns X. Needs one non-empty
//                            collection; without one the answer is "unknown" and treated as missing.
//   collStats                the $collStats aggregation stage with storageStats answers
import { ReadPreference, type Document, type MongoClient } from "mongodb";
import { describeError, redact } from "../errors";
import type { Namespace, Topology } from "./port";

export interface Capability {
  supported: boolean;
  /** The server's answer, in its words: "ok", or the error's codeName (code): message. */
  answer: string;
}

export const CAPABILITY_NAMES = [
  "changeStreams",
  "userWriteBlocking",
  "connectionStatus",
  "userManagement",
  "indexBounds",
  "collStats",
] as const;
export type CapabilityName = (typeof CAPABILITY_NAMES)[number];

export interface ServerCapabilities {
  /** What the server says it is, for messages only ("MongoDB 7.0.14", "FerretDB v1.24.2 (reports MongoDB 7.0.42)"). */
  server: string;
  /** The MongoDB version the server reports. */
  version: string;
  topology: Topology;
  changeStreams: Capability;
  userWriteBlocking: Capability;
  connectionStatus: Capability;
  userManagement: Capability;
  indexBounds: Capability;
  collStats: Capability;
}

/** "CommandNotFound (59): no such command: 'usersInfo'" — the server's own words, credentials redacted. */
export function errorAnswer(err: unknown): string {
  const e = err as { code?: unknown; codeName?: unknown };
  const name = typeof e.codeName === "string" ? e.codeName : undefined;
  const code = typeof e.code === "number" ? e.code : undefined;
  const head = name && code !== undefined ? `${name} (${code})` : code !== undefined ? `code ${code}` : name;
  return redact(head ? `${head}: ${describeError(err)}` : describeError(err));
}

async function attempt(body: () => Promise<string>): Promise<Capability> {
  try {
    return { supported: true, answer: await body() };
  } catch (err) {
    return { supported: false, answer: errorAnswer(err) };
  }
}

export function topologyOf(hello: Document): Topology {
  return hello.msg === "isdbgrid" ? "sharded" : hello.setName ? "replicaSet" : "standalone";
}

async function probeChangeStreams(client: MongoClient): Promise<Capability> {
  return attempt(async () => {
    const stream = client.watch([], { maxAwaitTimeMS: 1 });
    try {
      // tryNext runs the aggregate: a server without $changeStream fails here.
      await stream.tryNext();
    } finally {
      await stream.close().catch(() => undefined);
    }
    return "ok: a deployment-wide change stream opened";
  });
}

/**
 * The probes read migrated collections from the primary, like every read of MongoClusterPort (a secondary that
 * lags could still be empty where the primary is not, and the answer would be "unknown").
 */
function primaryCollection(client: MongoClient, ns: Namespace) {
  return client.db(ns.db).collection(ns.coll, { readPreference: ReadPreference.primary });
}

const EXACT = { promoteValues: false, promoteLongs: false, bsonRegExp: true } as const;

/**
 * Does find honour `max` on the `_id` index? Probed on one non-empty collection, with an `_id` X found there:
 * `find({_id: {$eq: X}}, {hint: {_id: 1}, max: {_id: X}})` is empty where max (exclusive) is honoured and gives
 * X back where it is ignored. Neither query sorts: FerretDB v1 has no sort pushdown and sorts the whole
 * collection in memory for a sorted find (83 s for 100 000 documents here), while an `_id` equality and a
 * limit without sort are pushed down to SQLite. (`$eq`: a regex `_id` is then matched as a value, not a pattern.)
 */
export async function probeIndexBounds(client: MongoClient, ns: Namespace | undefined): Promise<Capability> {
  if (!ns) return { supported: false, answer: "unknown: no non-empty collection to probe with (the _id-range plan without bounds is used)" };
  try {
    const coll = primaryCollection(client, ns);
    const [any] = await coll.find({}, { limit: 1, projection: { _id: 1 }, ...EXACT }).toArray();
    if (!any) return { supported: false, answer: `unknown: ${ns.db}.${ns.coll} is empty (the _id-range plan without bounds is used)` };
    const id = any._id as never;
    const below = await coll.find({ _id: { $eq: id } }, { hint: { _id: 1 }, max: { _id: id }, limit: 1, projection: { _id: 1 }, ...EXACT }).toArray();
    return below.length === 0
      ? { supported: true, answer: `ok: find {_id: X} with max {_id: X} on ${ns.db}.${ns.coll} returned nothing` }
      : { supported: false, answer: `find {_id: X} with max {_id: X} on ${ns.db}.${ns.coll} returned X itself: max is ignored` };
  } catch (err) {
    return { supported: false, answer: errorAnswer(err) };
  }
}

export interface ProbeOptions {
  /** A non-empty collection for the probes that need data (indexBounds, collStats). */
  sample?: Namespace;
}

/** Asks the server every question above. Read-only; a probe that fails records the answer, never throws. */
export async function probeCapabilities(client: MongoClient, options: ProbeOptions = {}): Promise<ServerCapabilities> {
  const admin = client.db("admin");
  const hello = await admin.command({ hello: 1 });
  const build = await admin.command({ buildInfo: 1 });
  const topology = topologyOf(hello);
  const version = String(build.version);
  const server = typeof build.ferretdbVersion === "string" ? `FerretDB ${build.ferretdbVersion} (reports MongoDB ${version})` : `MongoDB ${version}`;

  let commands: Set<string> | undefined;
  let commandsAnswer = "";
  try {
    commands = new Set(Object.keys(((await admin.command({ listCommands: 1 })).commands as Document | undefined) ?? {}));
  } catch (err) {
    commandsAnswer = errorAnswer(err);
  }
  const listed = (name: string): Capability =>
    commands === undefined
      ? { supported: false, answer: `listCommands failed: ${commandsAnswer}` }
      : commands.has(name)
        ? { supported: true, answer: `ok: listCommands names ${name}` }
        : { supported: false, answer: `listCommands does not name ${name}` };

  const blockCommand = listed("setUserWriteBlockMode");
  const userWriteBlocking: Capability =
    blockCommand.supported && topology === "standalone"
      ? { supported: false, answer: "setUserWriteBlockMode exists but a standalone server refuses it (replica sets and sharded clusters only)" }
      : blockCommand;

  const usersInfo = listed("usersInfo");
  const updateUser = listed("updateUser");
  const userManagement: Capability = !usersInfo.supported ? usersInfo : !updateUser.supported ? updateUser : { supported: true, answer: "ok: usersInfo and updateUser exist" };

  const connectionStatus = await attempt(async () => {
    const status = await admin.command({ connectionStatus: 1, showPrivileges: true });
    const auth = (status.authInfo ?? {}) as Document;
    const users = (auth.authenticatedUsers as unknown[] | undefined) ?? [];
    const privileges = auth.authenticatedUserPrivileges as unknown[] | undefined;
    if (users.length === 0) return "ok: no authenticated user (access control off)";
    if (!privileges) throw Object.assign(new Error("connectionStatus lists the user but no privileges"), { codeName: "NoPrivileges" });
    return `ok: ${users.length} authenticated user(s), ${privileges.length} privilege(s)`;
  });

  const changeStreams = await probeChangeStreams(client);
  const indexBounds = await probeIndexBounds(client, options.sample);
  const statsNs = options.sample ?? { db: "admin", coll: "system.version" };
  const collStats = await attempt(async () => {
    try {
      await primaryCollection(client, statsNs).aggregate([{ $collStats: { storageStats: {} } }]).toArray();
    } catch (err) {
      if ((err as { code?: number }).code !== 26) throw err; // NamespaceNotFound: the stage exists
    }
    return "ok: $collStats with storageStats answered";
  });

  return { server, version, topology, changeStreams, userWriteBlocking, connectionStatus, userManagement, indexBounds, collStats };
}

/** One line per capability, for `pulumi up` and the preflight facts: "changeStreams: no — NotImplemented (238): …". */
export function describeCapabilities(caps: ServerCapabilities): string {
  const parts = CAPABILITY_NAMES.map((n) => `${n}: ${caps[n].supported ? "yes" : `no (${caps[n].answer})`}`);
  return `${caps.server}, ${caps.topology}; ${parts.join("; ")}`;
}

/** What a port that cannot be probed (MemoryCluster) is taken to offer: MongoDB's behaviour for its topology. */
export function capabilitiesFromServerInfo(info: { version: string; topology: Topology; supportsUserWriteBlocking: boolean }): ServerCapabilities {
  const yes = (answer: string): Capability => ({ supported: true, answer });
  const no = (answer: string): Capability => ({ supported: false, answer });
  return {
    server: `MongoDB ${info.version}`,
    version: info.version,
    topology: info.topology,
    changeStreams: info.topology === "standalone" ? no("a standalone server has no oplog to stream") : yes("assumed from the topology"),
    userWriteBlocking: info.supportsUserWriteBlocking ? yes("reported by serverInfo") : no("serverInfo reports no setUserWriteBlockMode"),
    connectionStatus: yes("assumed"),
    userManagement: yes("assumed"),
    indexBounds: yes("assumed"),
    collStats: yes("assumed"),
  };
}

// ---- what the answers mean for a builtin migration ------------------------------------------------------

/** A port that can be probed offers `capabilities`; others (MemoryCluster) are taken at their serverInfo. */
export interface ProbablePort {
  serverInfo(): Promise<{ version: string; topology: Topology; supportsUserWriteBlocking: boolean }>;
  capabilities?(sample?: Namespace): Promise<ServerCapabilities>;
}

export async function capabilitiesOf(port: ProbablePort, sample?: Namespace): Promise<ServerCapabilities> {
  return port.capabilities ? port.capabilities(sample) : capabilitiesFromServerInfo(await port.serverInfo());
}

/** builtin.sync: `continuous` needs change streams and refuses without them; `snapshot` never streams. */
export type SyncRequest = "auto" | "continuous" | "snapshot";

export interface Finding {
  code: string;
  message: string;
  action: string;
}

export interface CaptureDecision {
  mode: "changeStream" | "snapshot";
  /** Set when the request cannot be met: nothing may start. */
  error?: Finding;
  /** Set when `auto` fell back to snapshot mode. */
  warning?: Finding;
}

/** Change streams ⇒ continuous sync; none ⇒ snapshot mode (copy, then reconcile at cutover) or a refusal. */
export function chooseCaptureMode(caps: ServerCapabilities, requested: SyncRequest = "auto"): CaptureDecision {
  if (requested === "snapshot") return { mode: "snapshot" };
  if (caps.changeStreams.supported) return { mode: "changeStream" };
  if (requested === "continuous") {
    return {
      mode: "snapshot",
      error: {
        code: "CONTINUOUS_SYNC_UNAVAILABLE",
        message: `builtin.sync is "continuous" but the source (${caps.server}, ${caps.topology}) cannot stream changes: its change-stream probe answered ${caps.changeStreams.answer}`,
        action:
          'set builtin.sync to "snapshot" (or "auto"): the engine copies now and, at cutover, blocks writes and reconciles what changed; ' +
          "writes stay blocked for the whole reconciliation",
      },
    };
  }
  if (caps.topology === "standalone") {
    return {
      mode: "snapshot",
      warning: {
        code: "STANDALONE_SNAPSHOT_MODE",
        message:
          "the source is a standalone server: it has no oplog, so changes cannot be streamed. The engine copies now " +
          "and, at cutover, blocks writes and re-copies what changed (snapshot mode); writes are blocked for the whole reconciliation",
        action: "to cut over with a short write pause instead, convert the source to a one-member replica set (rs.initiate()) before migrating",
      },
    };
  }
  return {
    mode: "snapshot",
    warning: {
      code: "SNAPSHOT_MODE_NO_CHANGE_STREAMS",
      message:
        `the source (${caps.server}) reports a ${caps.topology} but cannot stream changes (${caps.changeStreams.answer}). ` +
        "The engine copies now and, at cutover, blocks writes and re-copies what changed (snapshot mode); writes are blocked for the whole reconciliation",
      action: 'nothing to do if a write pause of about one full comparison pass is acceptable; set builtin.sync "snapshot" to silence this',
    },
  };
}

/**
 * Write blocking as the source can really do it. `auto`/`setUserWriteBlockMode` problems are re-worded with
 * the probes' answers and offer only the modes that remain; `readOnlyUsers` needs the users commands.
 */
export function checkWriteBlocking(
  caps: ServerCapabilities,
  requested: string,
  choice: { mode?: string; problem?: Finding },
): Finding | undefined {
  const users = caps.userManagement;
  if (choice.mode === "readOnlyUsers" && !users.supported) {
    return {
      code: "READ_ONLY_USERS_UNAVAILABLE",
      message: `writeBlocking would make source users read-only, but the source (${caps.server}) cannot change users: ${users.answer}`,
      action: 'set writeBlocking.mode to "none" and stop the application yourself before cutover',
    };
  }
  if (choice.problem && !caps.userWriteBlocking.supported) {
    const remaining = users.supported
      ? '"readOnlyUsers" (list the application\'s source users in writeBlocking.readOnlyUsers) or "none" (you stop the application yourself)'
      : '"none" (you stop the application yourself before cutover): the source cannot change users either (' + users.answer + ")";
    return {
      code: choice.problem.code,
      message: `writeBlocking ${requested}: the source (${caps.server}, ${caps.topology}) cannot block writes with setUserWriteBlockMode (${caps.userWriteBlocking.answer})`,
      action: `set writeBlocking.mode to ${remaining}`,
    };
  }
  return choice.problem;
}
