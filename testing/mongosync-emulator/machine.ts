// The state machine of one emulated mongosync process, without any HTTP: what /start, /pause, /resume,
// /commit, /reverse accept in which state, and what /progress reports, per mongosync version.
//
// Facts come from /work/shared/reference/atlas-and-mongosync-apis.md §3 and from the versioned mongosync docs,
// cited next to each behaviour: "v1.N <path>" is a page of mongodb/docs-cluster-to-cluster-sync at branch v1.N
// (source/...), "docs <path>" a page of mongodb/docs under content/mongosync/. Where mongosync's real behaviour
// is not documented the emulator picks the stricter reading and says so (UNCONFIRMED): the HTTP status of
// error envelopes, the `error` names, and whether an unknown /start field is refused (we refuse it, which is
// what makes the "enableUserWriteBlocking removed in 1.20" case testable).
//
// Several machines can form one migration (`MongosyncGroup`, one mongosync per source shard): /commit and
// /reverse then block until every member received them (v1.13 source/topologies/multiple-mongosyncs.txt,
// "The commit operation is blocking … will not return until commit has been called on every mongosync").
//
// Time is counted in ticks, not seconds: a tick happens on every GET /progress (unless `advanceOnProgress`
// is false) or on `advance()`, so tests drive the progression deterministically and never wait.

export type EmulatedState = "IDLE" | "INITIALIZING" | "RUNNING" | "PAUSED" | "COMMITTING" | "COMMITTED" | "REVERSING";

export interface MongosyncEmulatorOptions {
  /** Reported by the optional /info endpoint and decides which /start fields are accepted. Default "1.22.0". */
  version?: string;
  /** mongosyncID in /progress (1.3+). Default "mongosync-<random>". */
  id?: string;
  /** coordinatorID; default: same as id (it runs alone or coordinates). */
  coordinatorId?: string;
  /** Ticks spent in the initial collection copy. Default 3. */
  copyTicks?: number;
  /** Ticks of change-event application until lag falls from startLagSeconds to steadyLagSeconds. Default 2. */
  catchUpTicks?: number;
  /** Ticks after the copy until the verifier reaches "stream hashing". Default 1. */
  verifierTicks?: number;
  /** Ticks in COMMITTING before COMMITTED; canWrite turns true half-way. Default 2. */
  commitTicks?: number;
  /** Ticks in REVERSING before RUNNING the other way. Default 1. */
  reverseTicks?: number;
  /** Start in INITIALIZING for this many ticks (1.20+ reports it after a restart). Default 0. */
  initializingTicks?: number;
  /** Global estimatedTotalBytes. Default 10 MB. */
  totalBytes?: number;
  /** Share of the copy this instance does (sharded: 1/shards). Default 1. */
  shareOfCopy?: number;
  /** Lag when change-event application begins. Default 120. */
  startLagSeconds?: number;
  /** Lag once caught up (mongosync's periodic no-op writes keep it a few seconds above 0). Default 2. */
  steadyLagSeconds?: number;
  /** Tick on every GET /progress. Default true. */
  advanceOnProgress?: boolean;
  /** Serve GET /api/v1/info with the version. Default false: the documented API has no such endpoint. */
  infoEndpoint?: boolean;
  /** Add an (undocumented) `version` field to progress. Default false. */
  versionInProgress?: boolean;
  /** Strings reported in `warnings` (1.19+) while RUNNING. */
  warnings?: string[];
  /** Host strings used in directionMapping. */
  cluster0Host?: string;
  cluster1Host?: string;
  /**
   * MongoDB version of the cluster /start names as source. Default "7.0.0". Pre-6.0 sources refuse write
   * blocking (v1.11 start.txt: not `true`; v1.12+ start.txt: "you cannot set this parameter") and reversible
   * (docs current reference/api/start.txt, reversible: "only supported for source clusters running 6.0+").
   */
  sourceServerVersion?: string;
  /**
   * The migration includes a sharded cluster. 1.9 then disables the verifier (v1.9
   * source/includes/fact-verifier-limitations.rst; the line is gone from v1.10, which enables it on sharded
   * clusters: docs v1.10 reference/verification/embedded). Default false.
   */
  sharded?: boolean;
}

export interface EmulatorRefusal {
  httpStatus: number;
  error: string;
  errorDescription: string;
}

interface Version {
  major: number;
  minor: number;
}

function parseVersion(text: string): Version {
  const m = /(\d+)\.(\d+)/.exec(text);
  if (!m) throw new Error(`MongosyncEmulator: bad version ${text}`);
  return { major: Number(m[1]), minor: Number(m[2]) };
}

function atLeast(v: Version, major: number, minor: number): boolean {
  return v.major > major || (v.major === major && v.minor >= minor);
}

/** /start fields and the version range that knows them ([from, until) with until exclusive). */
const START_FIELDS: Record<string, { from: [number, number]; until?: [number, number] }> = {
  source: { from: [0, 0] },
  destination: { from: [0, 0] },
  buildIndexes: { from: [1, 3] },
  reversible: { from: [1, 0] },
  enableUserWriteBlocking: { from: [1, 0], until: [1, 20] },
  includeNamespaces: { from: [1, 1] },
  excludeNamespaces: { from: [1, 6] },
  sharding: { from: [1, 1] },
  verification: { from: [1, 9] },
  preExistingDestinationData: { from: [1, 15] },
  detectRandomId: { from: [1, 18] },
  // 1.16 release notes ("Starting in version 1.16.0, mongosync supports copy in natural sort order … with the
  // copyInNaturalOrder parameter"); detectRandomId is in the 1.18 notes.
  copyInNaturalOrder: { from: [1, 16] },
  skipDiskSpaceCheck: { from: [1, 22] },
};

const refuse = (error: string, errorDescription: string, httpStatus = 400): EmulatorRefusal => ({ httpStatus, error, errorDescription });

type Cluster = "cluster0" | "cluster1";
const other = (c: Cluster): Cluster => (c === "cluster0" ? "cluster1" : "cluster0");

/** What /commit or /reverse answered: a refusal, or a promise that settles once every group member has it. */
export type BlockingAnswer = { refusal: EmulatorRefusal } | { accepted: Promise<void> };

/**
 * The mongosync processes of one migration (one per source shard). /commit and /reverse block until every
 * member received the same command (v1.13 source/topologies/multiple-mongosyncs.txt, "Commit Synchronization
 * From Multiple mongosync Instances" and "Reverse the Synchronization Direction"); only then do they take effect
 * on all members. A member that refuses (e.g. canCommit false) does not count, so the others keep waiting.
 * What a waiting member reports meanwhile is UNCONFIRMED: the emulator keeps it RUNNING (COMMITTED for /reverse).
 */
export class MongosyncGroup {
  readonly members: MongosyncMachine[] = [];
  private readonly received: Record<"commit" | "reverse", Set<MongosyncMachine>> = { commit: new Set(), reverse: new Set() };
  private readonly waiters: Record<"commit" | "reverse", Array<() => void>> = { commit: [], reverse: [] };

  join(machine: MongosyncMachine): void {
    this.members.push(machine);
    machine.group = this;
  }

  /** Instances that received `command` and are blocked waiting for the others. */
  waiting(command: "commit" | "reverse"): MongosyncMachine[] {
    return [...this.received[command]];
  }

  arrive(command: "commit" | "reverse", machine: MongosyncMachine, apply: (m: MongosyncMachine) => void): Promise<void> {
    this.received[command].add(machine);
    const accepted = new Promise<void>((resolve) => this.waiters[command].push(resolve));
    if (this.members.every((m) => this.received[command].has(m))) {
      for (const m of this.members) apply(m);
      this.received[command].clear();
      for (const resolve of this.waiters[command].splice(0)) resolve();
    }
    return accepted;
  }
}

export class MongosyncMachine {
  readonly options: Required<Omit<MongosyncEmulatorOptions, "warnings">> & { warnings: string[] };
  private readonly parsedVersion: Version;
  private readonly sourceVersion: Version;
  state: EmulatedState;
  /** Set by MongosyncGroup.join. */
  group: MongosyncGroup | undefined;
  /** Ticks spent RUNNING in the current direction (not counting pauses). */
  private runTicks = 0;
  private ticksInState = 0;
  /** The accepted /start body, for tests to inspect. */
  startBody: Record<string, unknown> | undefined;
  /** The cluster /start named as source; swapped by every completed /reverse. */
  private sourceCluster: Cluster = "cluster0";
  /** A /reverse has completed at least once: no collection copy any more, and no verifier. */
  private reversed = false;
  /** A state name outside the documented ones, set by `failWith` (the real terminal state is UNCONFIRMED). */
  private failure: { state: string; info: string } | undefined;
  /** Overrides the computed lag while set (e.g. a lag spike). */
  lagOverride: number | undefined;

  constructor(options: MongosyncEmulatorOptions = {}) {
    const id = options.id ?? `mongosync-${Math.random().toString(16).slice(2, 10)}`;
    this.options = {
      version: options.version ?? "1.22.0",
      id,
      coordinatorId: options.coordinatorId ?? id,
      copyTicks: options.copyTicks ?? 3,
      catchUpTicks: options.catchUpTicks ?? 2,
      verifierTicks: options.verifierTicks ?? 1,
      commitTicks: options.commitTicks ?? 2,
      reverseTicks: options.reverseTicks ?? 1,
      initializingTicks: options.initializingTicks ?? 0,
      totalBytes: options.totalBytes ?? 10_000_000,
      shareOfCopy: options.shareOfCopy ?? 1,
      startLagSeconds: options.startLagSeconds ?? 120,
      steadyLagSeconds: options.steadyLagSeconds ?? 2,
      advanceOnProgress: options.advanceOnProgress ?? true,
      infoEndpoint: options.infoEndpoint ?? false,
      versionInProgress: options.versionInProgress ?? false,
      warnings: options.warnings ?? [],
      cluster0Host: options.cluster0Host ?? "source.example:27017",
      cluster1Host: options.cluster1Host ?? "target.example:27017",
      sourceServerVersion: options.sourceServerVersion ?? "7.0.0",
      sharded: options.sharded ?? false,
    };
    this.parsedVersion = parseVersion(this.options.version);
    this.sourceVersion = parseVersion(this.options.sourceServerVersion);
    // INITIALIZING is a 1.20 state (reference §3.6; 1.20 release notes): older versions never report it.
    if (this.options.initializingTicks > 0 && !atLeast(this.parsedVersion, 1, 20)) {
      throw new Error(`MongosyncEmulator: INITIALIZING exists from mongosync 1.20, not in ${this.options.version}`);
    }
    this.state = this.options.initializingTicks > 0 ? "INITIALIZING" : "IDLE";
  }

  get version(): string {
    return this.options.version;
  }

  /** True when this instance is its own coordinator (alone, or the coordinating one of a group). */
  get isCoordinator(): boolean {
    return this.options.coordinatorId === this.options.id;
  }

  /**
   * /progress carries a top-level `success` from 1.8 (v1.8 source/release-notes/1.8.txt "Returns a top-level
   * boolean success field"; the v1.0 and v1.7 source/includes/api/responses/progress.json have none, and the
   * v1.7 progress error table lists only `error`).
   */
  get progressHasSuccess(): boolean {
    return atLeast(this.parsedVersion, 1, 8);
  }

  private get verifierEnabled(): boolean {
    // No embedded verifier before 1.9 (v1.9 fact-verifier-limitations.rst "not available in mongosync 1.8 and
    // earlier"); 1.9 disables it when a sharded cluster is involved (same page, v1.9 only); /reverse disables it
    // and it stays disabled (v1.9–v1.13 fact-verifier-limitations.rst; later pages are silent, the emulator keeps
    // the stricter reading for every version).
    if (!atLeast(this.parsedVersion, 1, 9)) return false;
    if (this.options.sharded && !atLeast(this.parsedVersion, 1, 10)) return false;
    if (this.reversed) return false;
    const v = this.startBody?.verification as { enabled?: boolean } | undefined;
    return v?.enabled !== false;
  }

  private get copying(): boolean {
    return this.state === "RUNNING" && !this.reversed && this.runTicks < this.options.copyTicks;
  }

  private get lagSeconds(): number | null {
    if (this.lagOverride !== undefined) return this.lagOverride;
    if (this.state === "COMMITTING" || this.state === "COMMITTED") return 0;
    if (this.state !== "RUNNING" && this.state !== "REVERSING") return null;
    if (this.reversed) return this.options.steadyLagSeconds;
    const { copyTicks, catchUpTicks, startLagSeconds, steadyLagSeconds } = this.options;
    if (this.runTicks < copyTicks) return startLagSeconds;
    const intoCatchUp = this.runTicks - copyTicks;
    if (intoCatchUp >= catchUpTicks) return steadyLagSeconds;
    return Math.round(startLagSeconds - ((startLagSeconds - steadyLagSeconds) * intoCatchUp) / catchUpTicks);
  }

  private get verifierPhase(): string {
    if (this.runTicks === 0 && this.state === "RUNNING") return "not started";
    // 1.22: the verifier starts at change event application, so it reports "not started" during the copy
    // (docs current reference/verification/embedded.txt).
    if (this.copying && atLeast(this.parsedVersion, 1, 22)) return "not started";
    if (this.state === "COMMITTING" || this.state === "COMMITTED") return "stream hashing";
    return this.runTicks >= this.options.copyTicks + this.options.verifierTicks ? "stream hashing" : "initial hashing";
  }

  get canCommit(): boolean {
    if (this.state !== "RUNNING" || this.copying || this.failure) return false;
    if (this.runTicks < this.options.copyTicks + this.options.catchUpTicks && !this.reversed) return false;
    // 1.17+: canCommit waits for the verifier; before 1.17 it could be true while the verifier still hashed.
    if (atLeast(this.parsedVersion, 1, 17) && this.verifierEnabled && this.verifierPhase !== "stream hashing") return false;
    const lag = this.lagSeconds ?? Infinity;
    if (atLeast(this.parsedVersion, 1, 21) && lag > 30) return false; // 1.21+: false while lag > 30 s
    return true;
  }

  private get canWrite(): boolean {
    if (this.state === "COMMITTED") return true;
    if (this.state !== "COMMITTING") return false;
    // Only the coordinator's canWrite means anything with several instances (reference §3.8 step 4; the docs
    // do not say what the others report: UNCONFIRMED). The emulator makes the others claim canWrite as soon as
    // they commit, before the destination is really writable, so an engine that trusts them is caught.
    if (!this.isCoordinator) return true;
    return this.ticksInState >= Math.ceil(this.options.commitTicks / 2);
  }

  /** One unit of time passes. */
  tick(): void {
    if (this.failure) return;
    this.ticksInState += 1;
    switch (this.state) {
      case "INITIALIZING":
        if (this.ticksInState >= this.options.initializingTicks) this.enter("IDLE");
        break;
      case "RUNNING":
        this.runTicks += 1;
        break;
      case "COMMITTING":
        if (this.ticksInState >= this.options.commitTicks) this.enter("COMMITTED");
        break;
      case "REVERSING":
        if (this.ticksInState >= this.options.reverseTicks) {
          this.sourceCluster = other(this.sourceCluster);
          this.reversed = true;
          this.enter("RUNNING");
        }
        break;
      default:
        break;
    }
  }

  private enter(state: EmulatedState): void {
    this.state = state;
    this.ticksInState = 0;
  }

  /**
   * Forces a state (tests of adoption, mixed shards, …). `source` is the cluster the forced migration reads
   * from (default cluster0): a mongosync someone started the other way round reports cluster1.
   */
  setState(state: EmulatedState, opts: { runTicks?: number; source?: Cluster } = {}): void {
    this.failure = undefined;
    this.enter(state);
    if (opts.runTicks !== undefined) this.runTicks = opts.runTicks;
    if (opts.source) this.sourceCluster = opts.source;
    if (state !== "IDLE" && state !== "INITIALIZING" && !this.startBody) {
      this.startBody = { source: this.sourceCluster, destination: other(this.sourceCluster) };
    }
  }

  /** Makes /progress report a state name that is not documented (how a fatal error might surface). */
  failWith(state: string, info: string): void {
    this.failure = { state, info };
  }

  progress(): Record<string, unknown> {
    if (this.failure) {
      return { state: this.failure.state, canCommit: false, canWrite: false, info: this.failure.info };
    }
    const v = this.parsedVersion;
    if (this.state === "IDLE" || this.state === "INITIALIZING") {
      // Documented: when IDLE everything but state and canCommit is null.
      const idle: Record<string, unknown> = {
        state: this.state,
        canCommit: false,
        canWrite: null,
        info: null,
        lagTimeSeconds: null,
        totalEventsApplied: null,
        collectionCopy: null,
        directionMapping: null,
      };
      if (atLeast(v, 1, 3)) {
        idle.mongosyncID = null;
        idle.coordinatorID = null;
      }
      if (atLeast(v, 1, 21)) idle.lag = null;
      if (this.options.versionInProgress) idle.version = this.options.version;
      return idle;
    }
    const lag = this.lagSeconds;
    const copyStarted = this.runTicks > 0 || this.state !== "RUNNING" || this.reversed;
    const copiedFraction = this.copying ? this.runTicks / this.options.copyTicks : 1;
    const info =
      this.state === "COMMITTING"
        ? "waiting for commit to complete"
        : this.state === "COMMITTED"
          ? "commit completed"
          : this.copying
            ? "collection copy"
            : "change event application";
    const hostOf = (c: Cluster) => (c === "cluster0" ? this.options.cluster0Host : this.options.cluster1Host);
    const body: Record<string, unknown> = {
      state: this.state,
      canCommit: this.canCommit,
      canWrite: this.canWrite,
      info,
      lagTimeSeconds: this.state === "PAUSED" ? null : lag,
      totalEventsApplied: this.copying ? 0 : 100 * Math.max(0, this.runTicks - this.options.copyTicks),
      collectionCopy: copyStarted
        ? {
            estimatedTotalBytes: this.options.totalBytes,
            estimatedCopiedBytes: Math.floor(this.options.totalBytes * this.options.shareOfCopy * copiedFraction),
          }
        : { estimatedTotalBytes: 1, estimatedCopiedBytes: 0 },
      // "<cluster name>: <host>:<port>" (v1.7 progress-response.rst, directionMapping.Source/Destination).
      directionMapping: {
        Source: `${this.sourceCluster}: ${hostOf(this.sourceCluster)}`,
        Destination: `${other(this.sourceCluster)}: ${hostOf(other(this.sourceCluster))}`,
      },
    };
    if (!atLeast(v, 1, 8)) delete body.totalEventsApplied; // new in 1.8 (v1.8 release-notes/1.8.txt)
    if (atLeast(v, 1, 3)) {
      body.mongosyncID = this.options.id;
      body.coordinatorID = this.options.coordinatorId;
    }
    if (atLeast(v, 1, 21)) {
      body.lag = this.state === "PAUSED" ? null : { overallLagSeconds: lag, crudLagSeconds: lag, ddlLagSeconds: null };
    }
    if (atLeast(v, 1, 22) && this.state === "RUNNING" && !this.copying) {
      body.ceaStage = this.lagSeconds !== null && this.lagSeconds <= this.options.steadyLagSeconds ? "steady state" : "collection copy drain";
    }
    if (atLeast(v, 1, 19) && this.state === "RUNNING" && !this.canWrite) body.estimatedOplogTimeRemaining = "more than 72 hours";
    if (atLeast(v, 1, 19) && this.options.warnings.length > 0 && this.state === "RUNNING") body.warnings = [...this.options.warnings];
    if (this.verifierEnabled) {
      const phase = this.verifierPhase;
      const side = (count: number) => ({
        phase,
        lagTimeSeconds: phase === "stream hashing" ? 1 : null,
        estimatedDocumentCount: count,
        hashedDocumentCount: phase === "stream hashing" ? count : phase === "not started" ? 0 : Math.floor(count * copiedFraction),
        scannedCollectionCount: phase === "stream hashing" ? 4 : phase === "not started" ? 0 : 1,
        totalCollectionCount: 4,
      });
      body.verification = { source: side(1000), destination: side(1000) };
    }
    if (this.options.versionInProgress) body.version = this.options.version;
    return body;
  }

  /** POST /api/v1/start. Returns a refusal or undefined when accepted. */
  start(raw: unknown): EmulatorRefusal | undefined {
    if (this.state !== "IDLE") {
      return refuse("InvalidStateTransition", `cannot start: mongosync is ${this.state}, /start requires IDLE`);
    }
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) return refuse("InvalidRequest", "request body must be a JSON object");
    const body = raw as Record<string, unknown>;
    const v = this.parsedVersion;
    for (const field of Object.keys(body)) {
      const known = START_FIELDS[field];
      const inRange = known && atLeast(v, ...known.from) && (!known.until || !atLeast(v, ...known.until));
      // UNCONFIRMED: that the real mongosync refuses unknown fields rather than ignoring them.
      if (!inRange) return refuse("InvalidRequest", `unknown field "${field}" for mongosync ${this.options.version}`);
    }
    const clusters = ["cluster0", "cluster1"];
    if (!clusters.includes(body.source as string) || !clusters.includes(body.destination as string) || body.source === body.destination) {
      return refuse("InvalidRequest", `"source" and "destination" must be "cluster0" and "cluster1" (one each)`);
    }
    const preSixSource = this.sourceVersion.major < 6;
    const blocking = body.enableUserWriteBlocking;
    if (blocking !== undefined) {
      // ≤1.10: boolean only (v1.10 start.txt). 1.11: true, false, "destinationOnly" (v1.11 start.txt — the site's
      // 1.11 release notes were later edited to the 1.12 spellings). 1.12–1.19: "sourceAndDestination", "none",
      // "destinationOnly", with true/false kept as aliases (v1.12 start.txt).
      const allowed = !atLeast(v, 1, 11)
        ? [true, false]
        : !atLeast(v, 1, 12)
          ? [true, false, "destinationOnly"]
          : [true, false, "destinationOnly", "sourceAndDestination", "none"];
      if (!allowed.includes(blocking as never)) return refuse("InvalidRequest", `invalid enableUserWriteBlocking ${JSON.stringify(blocking)} for mongosync ${this.options.version}`);
      // Pre-6.0 sources: "cannot set enableUserWriteBlocking to true" (v1.10, v1.11 start.txt); from 1.12 "you cannot
      // set this parameter" at all (v1.12 start.txt).
      if (preSixSource && (atLeast(v, 1, 12) || blocking === true)) {
        return refuse("InvalidRequest", `enableUserWriteBlocking cannot be set for a source running MongoDB ${this.options.sourceServerVersion} (pre-6.0)`);
      }
    }
    for (const key of ["includeNamespaces", "excludeNamespaces"]) {
      const items = body[key];
      if (items === undefined) continue;
      if (!Array.isArray(items)) return refuse("InvalidRequest", `${key} must be an array`);
      for (const item of items as Array<Record<string, unknown>>) {
        if (!item || (typeof item.database !== "string" && typeof item.databaseRegex !== "object")) {
          return refuse("InvalidRequest", `every ${key} item needs "database" or "databaseRegex"`);
        }
        if (item.collections !== undefined && (!Array.isArray(item.collections) || item.collections.some((c) => typeof c !== "string"))) {
          return refuse("InvalidRequest", `${key}.collections must be an array of collection names`);
        }
      }
    }
    if (body.sharding !== undefined) {
      const s = body.sharding as { shardingEntries?: Array<Record<string, unknown>> };
      for (const e of s.shardingEntries ?? []) {
        const key = (e.shardCollection as { key?: unknown[] } | undefined)?.key;
        if (typeof e.database !== "string" || typeof e.collection !== "string" || !Array.isArray(key) || key.length === 0) {
          return refuse("InvalidRequest", "every shardingEntries item needs database, collection and shardCollection.key");
        }
        // A shard key is ascending fields or one hashed field (MongoDB manual, shard keys); -1 is refused.
        if (key.some((k) => !k || typeof k !== "object" || Object.values(k as object).some((d) => d !== 1 && d !== "hashed"))) {
          return refuse("InvalidRequest", "shard key fields must be 1 or \"hashed\"");
        }
      }
    }
    if (body.reversible === true) {
      // docs current reference/api/start.txt, reversible: not for RS→sharded (a `sharding` option), not with
      // buildIndexes never, only for 6.0+ sources; reverse.txt: no filtered sync.
      if (body.includeNamespaces || body.excludeNamespaces) return refuse("InvalidRequest", "reversible sync cannot use namespace filtering");
      if (body.buildIndexes === "never") return refuse("InvalidRequest", "reversible sync cannot use buildIndexes: never");
      if (body.sharding !== undefined) return refuse("InvalidRequest", "reversible sync is not supported from a replica set to a sharded cluster");
      if (preSixSource) return refuse("InvalidRequest", `reversible sync needs a source running MongoDB 6.0 or later, not ${this.options.sourceServerVersion}`);
      // ≤1.19 reverse needs dual write blocking (v1.12 start.txt "To reverse sync … must be set to
      // sourceAndDestination"; ≤1.11: `true`).
      if (!atLeast(v, 1, 20) && blocking !== "sourceAndDestination" && blocking !== true) {
        return refuse("InvalidRequest", `reversible sync requires enableUserWriteBlocking: ${atLeast(v, 1, 12) ? "sourceAndDestination" : "true"}`);
      }
    }
    this.startBody = body;
    this.sourceCluster = body.source as Cluster;
    this.runTicks = 0;
    this.enter("RUNNING");
    return undefined;
  }

  pause(): EmulatorRefusal | undefined {
    if (this.state !== "RUNNING") return refuse("InvalidStateTransition", `cannot pause: mongosync is ${this.state}, /pause requires RUNNING`);
    this.enter("PAUSED");
    return undefined;
  }

  resume(): EmulatorRefusal | undefined {
    if (this.state !== "PAUSED") return refuse("InvalidStateTransition", `cannot resume: mongosync is ${this.state}, /resume requires PAUSED`);
    this.enter("RUNNING");
    return undefined;
  }

  /** POST /api/v1/commit: refused, or accepted once every member of the group has it (alone: at once). */
  commit(): BlockingAnswer {
    if (this.state !== "RUNNING") return { refusal: refuse("InvalidStateTransition", `cannot commit: mongosync is ${this.state}, /commit requires RUNNING`) };
    if (!this.canCommit) return { refusal: refuse("InvalidStateTransition", "cannot commit: canCommit is false (initial copy, lag or verifier not ready)") };
    const apply = (m: MongosyncMachine) => m.enter("COMMITTING");
    if (!this.group) {
      apply(this);
      return { accepted: Promise.resolve() };
    }
    return { accepted: this.group.arrive("commit", this, apply) };
  }

  /** POST /api/v1/reverse (v1.13 reference/api/reverse.txt: COMMITTED, started reversible), blocking like /commit. */
  reverse(): BlockingAnswer {
    if (this.state !== "COMMITTED") return { refusal: refuse("InvalidStateTransition", `cannot reverse: mongosync is ${this.state}, /reverse requires COMMITTED`) };
    if (this.startBody?.reversible !== true) return { refusal: refuse("InvalidRequest", "cannot reverse: the migration was not started with reversible: true") };
    const apply = (m: MongosyncMachine) => m.enter("REVERSING");
    if (!this.group) {
      apply(this);
      return { accepted: Promise.resolve() };
    }
    return { accepted: this.group.arrive("reverse", this, apply) };
  }
}
