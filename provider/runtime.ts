// The Migration resource's lifecycle: what check, diff, create, read, update and delete actually do.
//
// This module is the implementation behind the tiny serialized provider in migration.ts. The serialized
// provider `require()`s it (as "pulumi-atlas-migration/provider-runtime") inside each method, so nothing here
// is ever written into Pulumi state: not the zod schemas, not the engines, not the credentials.
//
// Lifecycle (DESIGN.md §3):
//   check   validate inputs against the stored ones (`{}` before a create), offline; tolerate unknown values
//   diff    cutover false→true ⇒ update, refused when the stored status says the cutover may not proceed
//           (readiness.ts: the PR's preview fails); what/where changes before COMPLETE ⇒ replace (delete first);
//           un-cutover after COMPLETE ⇒ error; credential-only changes ⇒ update (no restart); after COMPLETE a
//           mongosync rollback input ⇒ update
//   create  preflight → start → advance until caught up (own deadline) → [cutover if asked already]
//   read    status only, no side effects (statusCheckedAt records when)
//   update  resume an unfinished create; or cutover: catch up → block writes → drain → verify → COMPLETE;
//           after COMPLETE: mongosync reverse sync (rollback) and its commit
//   delete  before COMPLETE: give back source writes a cutover blocked (builtin), stop the sync; after COMPLETE:
//           the engine's cleanup (the Atlas link token). Never drops target data.
// Every engine call after the create gets what state holds (ctx.stored: the phase, the link token).
// A create or update that runs out of its deadline rejects with the partial-initialization shape, so Pulumi
// keeps the resource and the next `pulumi up` calls update, which resumes.

import type {
  CutoverReport,
  EngineContext,
  EngineCredentials,
  EngineName,
  MigrationEngine,
  MigrationHandle,
  MigrationSpec,
  MigrationStatus,
  Phase,
  VerificationReport,
} from "./engines/engine";
import { DeadlineExceededError, describeError, MigrationError, redact, registerSecret } from "./errors";
import type { CheckFailure, MigrationInputs } from "./schema";

/** Outputs computed by the provider (the inputs are returned alongside, as Pulumi requires). */
export interface MigrationComputed {
  migrationId: string;
  engine: EngineName;
  /** The `engine` input as the user wrote it (null when left out, meaning "auto"); `engine` is what it resolved to. */
  requestedEngine: string | null;
  phase: Phase;
  lagSeconds: number | null;
  startedAt: string | null;
  cutoverCompletedAt: string | null;
  verification: VerificationReport | null;
  warnings: string[];
  /** Why the migration is FAILED or not finished yet. */
  reason: string | null;
  progress: { copiedDocuments?: number; totalDocuments?: number; copiedBytes?: number; totalBytes?: number; percent?: number } | null;
  /** Engine state needed to find the migration again; credential-free. */
  handle: MigrationHandle | null;
  /** Atlas link token for the Cloud Manager side (atlas-push with createLinkToken); a secret output. */
  linkToken: string | null;
  /**
   * When the engine's status was last read (create, update, refresh): a cutover PR's preview decides readiness
   * from the stored phase and lag, and refuses figures older than cutoverReadiness.maxStatusAgeMinutes.
   */
  statusCheckedAt: string | null;
  /** Atlas live migration: the earliest moment Atlas's 120-hour cutover window can close (started-at + 120 h). */
  cutoverDeadline: string | null;
  /** mongosync reverse sync after COMPLETE (mongosync.rollback / rollbackCutover); null when none was asked for. */
  rollback: RollbackState | null;
}

/** What a mongosync rollback (reverse sync after COMPLETE) has reached. */
export interface RollbackState {
  /** REVERSING, SYNCING, READY_TO_COMMIT or COMMITTED (mongosync's details.rollback). */
  state: string;
  direction: string | null;
  lagSeconds: number | null;
  /** Set once the reverse direction is committed: the old source takes the writes again. */
  committedAt: string | null;
  verification: VerificationReport | null;
}

/** The output keys, declared on the resource class so Pulumi resolves them. */
export const COMPUTED_KEYS: Array<keyof MigrationComputed> = [
  "migrationId",
  "engine",
  "requestedEngine",
  "phase",
  "lagSeconds",
  "startedAt",
  "cutoverCompletedAt",
  "verification",
  "warnings",
  "reason",
  "progress",
  "handle",
  "linkToken",
  "statusCheckedAt",
  "cutoverDeadline",
  "rollback",
];

type Props = Record<string, any>;

// ---------------------------------------------------------------------------------------------------------
// Credentials: from stack config (`configure`) or the environment, never from inputs or the closure.

let configured: EngineCredentials = {};

interface ConfigLike {
  get(key: string): string | undefined;
}

/** The stack config keys the Migration reads, shared with @pulumi/mongodbatlas so users set them once. */
const ATLAS_CONFIG_KEYS = [
  "mongodbatlas:baseUrl", "mongodbatlas:publicKey", "mongodbatlas:privateKey", "mongodbatlas:clientId",
  "mongodbatlas:clientSecret", "mongodbatlas:accessToken", "mongodbatlas:isMongodbgovCloud",
];

/** The first Pulumi CLI that hands a dynamic provider the stack config (pulumi/pulumi#17673, in 3.139.0). */
export const MIN_CLI_FOR_STACK_CONFIG = "3.139.0";

/**
 * Keys the program's stack config has (the serialized provider carries their names) that `configure` did not
 * deliver. Only a CLI older than 3.139 does that: before pulumi/pulumi#17673 the engine gave a dynamic provider
 * only config of its own package, `pulumi-nodejs:*` (pkg/resource/deploy/target.go GetPackageConfig), so every
 * `mongodbatlas:*` key is missing at once; from 3.139 on every key arrives, namespace kept.
 */
let undeliveredConfig: string[] = [];

/**
 * Stack config, as the dynamic-provider host hands it to the provider's `configure`. `programKeys` are the
 * `mongodbatlas:*` keys the program saw (MigrationProvider.stackAtlasConfigKeys; absent in older stubs).
 */
export function configure(config: ConfigLike, programKeys?: unknown): void {
  const get = (key: string) => {
    try {
      return config.get(key) || undefined;
    } catch {
      return undefined;
    }
  };
  const expected = Array.isArray(programKeys) ? programKeys.filter((k): k is string => ATLAS_CONFIG_KEYS.includes(k)) : [];
  undeliveredConfig = expected.filter((k) => get(k) === undefined);
  // Stack config values are strings: `pulumi config set mongodbatlas:isMongodbgovCloud true` arrives as "true".
  const gov = get("mongodbatlas:isMongodbgovCloud");
  configured = {
    atlas: {
      baseUrl: get("mongodbatlas:baseUrl"),
      publicKey: get("mongodbatlas:publicKey"),
      privateKey: get("mongodbatlas:privateKey"),
      clientId: get("mongodbatlas:clientId"),
      clientSecret: get("mongodbatlas:clientSecret"),
      accessToken: get("mongodbatlas:accessToken"),
      isMongodbgovCloud: gov === undefined ? undefined : /^(true|1|yes)$/i.test(gov.trim()),
    },
  };
  // The host calls configure once, before the first check: load and warm the input schema now (issue 11).
  schema().prepareValidation();
}

/**
 * Why this Migration cannot run here, when it needs the Atlas API (atlas-push), has no credentials of its own
 * (atlasCredentials) and the stack config holding them never arrived; undefined otherwise.
 */
function cliTooOld(engine: string | undefined, given: unknown): string | undefined {
  if (undeliveredConfig.length === 0 || engine !== "atlas-push") return undefined;
  if (typeof given === "string") return undefined; // not known until earlier resources are updated (preview)
  const g = (given ?? {}) as Record<string, unknown>;
  if (["publicKey", "privateKey", "clientId", "clientSecret", "accessToken"].some((k) => g[k] !== undefined && g[k] !== null && g[k] !== "")) return undefined;
  return (
    `the stack config ${undeliveredConfig.join(", ")} is set but did not reach the Migration's provider: the Pulumi CLI running ` +
    `this is older than ${MIN_CLI_FOR_STACK_CONFIG}, the first that hands stack config to dynamic providers (pulumi/pulumi#17673). ` +
    `Upgrade the Pulumi CLI to ${MIN_CLI_FOR_STACK_CONFIG} or newer (\`pulumi version\` shows yours; https://www.pulumi.com/docs/install/), ` +
    `or pass the credentials explicitly: AtlasMigration's atlasCredentials (or the Migration's), e.g. ` +
    `atlasCredentials: { publicKey: atlas.require("publicKey"), privateKey: atlas.requireSecret("privateKey") } ` +
    `with const atlas = new pulumi.Config("mongodbatlas"), or a mongodbatlas.Provider passed to AtlasMigration. Nothing was started.`
  );
}

export function credentials(): EngineCredentials {
  const env = process.env;
  const fromConfig = configured.atlas ?? {};
  const atlas = {
    baseUrl: fromConfig.baseUrl ?? env.MONGODB_ATLAS_BASE_URL,
    publicKey: fromConfig.publicKey ?? env.MONGODB_ATLAS_PUBLIC_KEY,
    privateKey: fromConfig.privateKey ?? env.MONGODB_ATLAS_PRIVATE_KEY,
    clientId: fromConfig.clientId ?? env.MONGODB_ATLAS_CLIENT_ID,
    clientSecret: fromConfig.clientSecret ?? env.MONGODB_ATLAS_CLIENT_SECRET,
    accessToken: fromConfig.accessToken,
    isMongodbgovCloud: fromConfig.isMongodbgovCloud,
  };
  registerSecret(atlas.privateKey);
  registerSecret(atlas.clientSecret);
  registerSecret(atlas.accessToken);
  return { atlas };
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

function schema(): typeof import("./schema") {
  return require("./schema");
}

function registry(): typeof import("./engines/registry") {
  return require("./engines/registry");
}

function inputsOf(props: Props): MigrationInputs {
  const { __provider: _p, ...rest } = props;
  const inputs: Props = {};
  for (const [k, v] of Object.entries(rest)) if (k === "engine" || !(COMPUTED_KEYS as string[]).includes(k)) inputs[k] = v;
  // `engine` is both an input and an output (the resolved name); the input is kept as requestedEngine.
  const isOutputs = props.migrationId !== undefined && props.migrationId !== null;
  if (isOutputs) {
    if (props.requestedEngine === null || props.requestedEngine === undefined) delete inputs.engine;
    else inputs.engine = props.requestedEngine;
  }
  return inputs as MigrationInputs;
}

/** Registers every password in the inputs so no message can carry it, even one a server echoes. */
function registerInputSecrets(inputs: MigrationInputs): void {
  for (const uri of [inputs.source?.uri, inputs.target?.uri]) {
    if (typeof uri !== "string") continue;
    const m = /^[a-z+]+:\/\/[^:@/]*:([^@/]*)@/i.exec(uri);
    if (m) {
      registerSecret(m[1]);
      try {
        registerSecret(decodeURIComponent(m[1]));
      } catch {
        /* not percent-encoded */
      }
    }
  }
  registerSecret(inputs.source?.cloudManager?.password);
}

function logLine(resourceName: string, line: string): void {
  // The dynamic-provider host passes stdout through to `pulumi up` as info lines, not attached to the
  // resource row: the prefix says which migration a line is about.
  console.log(`[${resourceName}] ${redact(line)}`);
}

// ---------------------------------------------------------------------------------------------------------
// Ctrl-C. The dynamic-provider host answers the engine's Cancel with a no-op, so a long create would run on for
// up to createMinutes after the user pressed Ctrl-C. The terminal's SIGINT (or a SIGTERM) reaches this process
// too: from then on every context's deadline is "now", sleeps return at once, and each engine stops at its next
// safe point exactly as at its deadline — checkpoints written, the resource kept as partially done, and the next
// `pulumi up` resumes. A second signal exits at once.

let stopRequested: { signal: string; at: number } | undefined;
const sleepers = new Set<() => void>();
let watchingSignals = false;

function runsInProviderHost(): boolean {
  return /[\\/]cmd[\\/]dynamic-provider([\\/]index\.js)?$/.test(process.argv[1] ?? "");
}

function watchForStop(): void {
  if (watchingSignals || !runsInProviderHost()) return;
  watchingSignals = true;
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => requestStop(signal));
  hearEngineCancel();
}

// Under the real CLI a terminal's Ctrl-C never reaches this process: the CLI starts every plugin in its own process
// group (pulumi sdk/go/common/resource/plugin/plugin.go, cmdutil.RegisterProcessGroup), and tells providers about the
// cancel only with the Cancel RPC, which the dynamic-provider host answers with a no-op while the CLI waits for the
// running create (tests/e2e/interrupt.test.ts showed the CLI waiting out createMinutes). So we listen for that RPC
// in the host's own gRPC server: grpc-js looks up each incoming call's handler through Server#_retrieveHandler, and
// a wrapper there sees the Cancel path before the host's no-op answers it. Same module instance as the host's: it is
// resolved from the host's directory. If that internal ever changes, Ctrl-C falls back to waiting for the deadline.
const CANCEL_RPC = "/pulumirpc.ResourceProvider/Cancel";

function hearEngineCancel(): void {
  try {
    const grpcFile = require.resolve("@grpc/grpc-js", { paths: [require("path").dirname(process.argv[1])] });
    const server = require(grpcFile).Server?.prototype;
    const original = server?._retrieveHandler;
    if (typeof original !== "function" || original.atlasMigrationCancel) return;
    const wrapped = function (this: unknown, rpcPath: string) {
      if (rpcPath === CANCEL_RPC) requestStop("Ctrl-C", { fromEngine: true });
      return original.call(this, rpcPath);
    };
    (wrapped as { atlasMigrationCancel?: boolean }).atlasMigrationCancel = true;
    server._retrieveHandler = wrapped;
  } catch {
    /* no grpc-js where the host lives: signals still work */
  }
}

/** Provider calls under way in this process: with none, a signal means "exit now", as it would without us. */
let running = 0;

async function whileRunning<T>(call: () => Promise<T>): Promise<T> {
  running++;
  try {
    return await call();
  } finally {
    running--;
  }
}

/** What a SIGINT/SIGTERM does in the provider host; exported so tests can ask for it without a signal. */
export function requestStop(signal: string, opts: { fromEngine?: boolean } = {}): void {
  // The engine's cancel never exits the process: the CLI still talks to it (and closes it) afterwards.
  if (opts.fromEngine) {
    if (stopRequested || running === 0) return;
  } else if (running === 0 && watchingSignals) {
    // Nothing to stop gracefully (e.g. the CLI closing its plugins at the end of a run): exit as Node would.
    process.exit(signal === "SIGINT" ? 130 : 143);
  }
  if (stopRequested) {
    console.log(`[atlas-migration] second ${signal}: exiting now; the next \`pulumi up\` resumes from the last checkpoint`);
    process.exit(130);
  }
  stopRequested = { signal, at: Date.now() };
  console.log(
    `[atlas-migration] ${signal} received: stopping each migration at its next safe point; its state is kept and the next \`pulumi up\` resumes it`,
  );
  for (const wake of [...sleepers]) wake();
}

/** Tests only: forget a requested stop. */
export function clearStopRequest(): void {
  stopRequested = undefined;
}

function stopNotice(): string | undefined {
  return stopRequested ? `interrupted (${stopRequested.signal})` : undefined;
}

/** What Pulumi state holds from earlier runs, for the engine (ctx.stored); undefined before the first create. */
type Stored = EngineContext["stored"];

function storedFrom(computed: MigrationComputed): Stored {
  registerSecret(computed.linkToken);
  return { phase: computed.phase ?? undefined, linkToken: computed.linkToken ?? null };
}

function makeContext(spec: MigrationSpec, seconds: number, secrets: Record<string, string>, stored?: Stored): EngineContext {
  const tooOld = cliTooOld(spec.engine, spec.atlasCredentials);
  if (tooOld) throw new MigrationError("PULUMI_CLI_TOO_OLD", tooOld);
  watchForStop();
  return contextUntil(spec, Date.now() + seconds * 1000, secrets, stored);
}

/** An engine context whose deadline is `until`, or the moment a stop was requested if that came first. */
function contextUntil(spec: MigrationSpec, until: number, secrets: Record<string, string>, stored?: Stored): EngineContext {
  return {
    ...(stored ? { stored } : {}),
    get deadline() {
      return stopRequested ? Math.min(until, stopRequested.at) : until;
    },
    log: (line) => logLine(spec.resourceName, line),
    credentials: credentials(),
    publishSecret: (name, value) => {
      registerSecret(value);
      secrets[name] = value;
    },
    now: () => Date.now(),
    sleep: (ms) =>
      stopRequested
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            const wake = () => {
              clearTimeout(timer);
              sleepers.delete(wake);
              resolve();
            };
            const timer = setTimeout(wake, ms);
            sleepers.add(wake);
          }),
  };
}

function percentOf(status: MigrationStatus): number | undefined {
  if (status.totalBytes && status.copiedBytes !== undefined) return Math.min(100, Math.round((status.copiedBytes / status.totalBytes) * 1000) / 10);
  if (status.totalDocuments && status.copiedDocuments !== undefined)
    return Math.min(100, Math.round((status.copiedDocuments / status.totalDocuments) * 1000) / 10);
  return undefined;
}

export function describeStatus(status: MigrationStatus): string {
  const pct = percentOf(status);
  const parts: string[] = [status.phase];
  if (pct !== undefined) parts.push(`${pct}% copied`);
  parts.push(status.lagSeconds === null ? "lag unknown" : `lag ${status.lagSeconds}s`);
  if (status.reason) parts.push(status.reason);
  return parts.join(", ");
}

function withStatus(computed: MigrationComputed, status: MigrationStatus): MigrationComputed {
  const deadline = status.details?.cutoverDeadline;
  return {
    ...computed,
    statusCheckedAt: new Date().toISOString(),
    cutoverDeadline: typeof deadline === "string" ? deadline : computed.cutoverDeadline ?? null,
    phase: status.phase,
    lagSeconds: status.lagSeconds,
    reason: status.reason ? redact(status.reason) : null,
    warnings: mergeWarnings(computed.warnings, status.warnings),
    progress: {
      copiedDocuments: status.copiedDocuments,
      totalDocuments: status.totalDocuments,
      copiedBytes: status.copiedBytes,
      totalBytes: status.totalBytes,
      percent: percentOf(status),
    },
  };
}

function mergeWarnings(a: string[], b: string[]): string[] {
  return [...new Set([...a, ...b.map(redact)])].slice(-50);
}

function outputs(inputs: Props, computed: MigrationComputed): Props {
  // Pulumi stores only what create/update return: the inputs (incl. __provider) plus every computed key.
  // The host serializes with Struct.fromJavaScript, which rejects `undefined` anywhere (a partial-init
  // rejection carrying one would hang `pulumi up`): keep outputs JSON-clean.
  return jsonClean({ ...inputs, ...computed });
}

function jsonClean(value: Props): Props {
  return JSON.parse(JSON.stringify(value));
}

/** The rejection that tells Pulumi "created, but not finished": state is kept, the next `up` calls update. */
function partial(id: string, props: Props, message: string): { message: string; id: string; properties: Props; reasons: string[] } {
  const text = redact(message);
  return { message: text, id, properties: props, reasons: [text] };
}

function failuresToError(failures: CheckFailure[]): MigrationError {
  return new MigrationError("INVALID_INPUT", failures.map((f) => `${f.property}: ${f.reason}`).join("\n"));
}

// ---------------------------------------------------------------------------------------------------------
// check

export function check(olds: Props, news: Props): { inputs: Props; failures: CheckFailure[] } {
  // Inputs are returned as given (no defaults written back), so stored inputs stay exactly what the user
  // wrote and `pulumi preview` diffs show only what the user changed. `olds` are the stored inputs (`{}` before
  // a create): some rules depend on them, e.g. the first `up` may not already say cutover: true while the
  // program drops temporary access at cutover, and a migration being finished may lose its target user.
  try {
    const failures = schema().validateInputs(news, olds ?? {});
    if (failures.length === 0) {
      let engine: string | undefined;
      try {
        engine = schema().resolveEngine(news as MigrationInputs);
      } catch {
        engine = undefined; // decided again at `pulumi up`
      }
      const tooOld = cliTooOld(engine, news.atlasCredentials);
      if (tooOld) failures.push({ property: "atlasCredentials", reason: tooOld });
    }
    return { inputs: news, failures };
  } catch (err) {
    // A bug in a rule must still read as a named failure in `pulumi preview`, not a stack trace.
    return { inputs: news, failures: [{ property: "inputs", reason: `could not validate: ${describeError(err)}` }] };
  }
}

// ---------------------------------------------------------------------------------------------------------
// diff

/** Inputs whose change means "a different migration": replace (the old one is stopped first). */
const REPLACE_KEYS = ["engine", "source", "target", "namespaces"] as const;

/**
 * What read() last returned per resource id, in this provider process: RefreshStep.Apply calls Read and then
 * Diff on the same provider, so a diff whose `olds` are exactly what read just returned is the refresh's own.
 * Consumed once, so the `up` of `pulumi up --refresh` (which diffs the same outputs next) is not mistaken for it.
 */
const justRead = new Map<string, string>();

function stateFingerprint(props: Props): string {
  const { __provider: _p, ...rest } = props;
  return JSON.stringify(canonical(rest));
}

function wasJustRead(id: string, olds: Props): boolean {
  const mark = justRead.get(id);
  if (mark === undefined) return false;
  justRead.delete(id);
  return mark === stateFingerprint(olds);
}

export interface DiffOutcome {
  changes: boolean;
  replaces: string[];
  deleteBeforeReplace: boolean;
}

export function diff(_id: string, olds: Props, news: Props): DiffOutcome {
  const s = schema();
  const oldInputs = inputsOf(olds);
  const phase: Phase | undefined = olds.phase ?? undefined;
  const complete = phase === "COMPLETE";
  const name = news.resourceName ?? olds.resourceName ?? "migration";
  const cutoverUnknown = s.isUnknown(news.cutover);
  const wantsCutover = news.cutover === true;

  // `pulumi refresh` calls diff right after read, with the refreshed outputs as `olds` and the stored inputs as
  // `news` (pkg/resource/deploy/step.go RefreshStep.Apply), and fails the refresh if diff throws. A partially
  // failed update stores the old inputs with the new outputs (pkg/engine/update.go, pulumi/pulumi#2011), so after
  // a cutover that ran out of time the stored inputs still say cutover: false. Refusals and "work left" belong to
  // the `up`; the refresh's own diff only compares inputs.
  const refreshing = wasJustRead(_id, olds);
  if (!refreshing && !cutoverUnknown && !wantsCutover) {
    if (complete && olds.cutover === true)
      throw new MigrationError(
        "CUTOVER_IRREVERSIBLE",
        "cutover: this migration is COMPLETE and cannot be undone (the application runs on the target now). Keep cutover: true, or remove the Migration resource from the program to forget it (target data is kept).",
      );
    if (phase === "CUTTING_OVER")
      throw new MigrationError(
        "CUTOVER_IN_PROGRESS",
        olds.cutover === true
          ? `cutover: a cutover has started (source writes may be blocked) and cannot be called off; set cutover: true again and run \`pulumi up\` to finish it. ${undoBlocking(olds)}`
          : `cutover: a cutover is under way (started outside this program, or by an earlier \`pulumi up\` that ran out of time; source writes may be blocked); set cutover: true and run \`pulumi up\` to let Pulumi finish it. ${undoBlocking(olds)}`,
      );
  }

  const replaces: string[] = [];
  const changed: string[] = [];
  const unknownKeys: string[] = [];
  for (const key of REPLACE_KEYS) {
    const same = sameDeployment(key, oldInputs, news, olds);
    if (same === "unknown") {
      // Not known during preview (e.g. the target cluster changes in the same run). Never preview a
      // delete-before-replace the real `up` may not do: plan an update; the `up` diffs again with the values
      // known and replaces then if they name a different deployment.
      unknownKeys.push(key);
      changed.push(key);
      continue;
    }
    if (same) {
      if (!deepEqual((oldInputs as Props)[key], news[key])) changed.push(key); // e.g. a rotated password
      continue;
    }
    replaces.push(key);
  }
  for (const key of Object.keys({ ...oldInputs, ...news })) {
    if (key === "__provider" || (REPLACE_KEYS as readonly string[]).includes(key)) continue;
    if (!deepEqual((oldInputs as Props)[key], news[key])) changed.push(key);
  }
  if (unknownKeys.length && !complete)
    logLine(
      name,
      `${unknownKeys.join(", ")} not known until earlier resources are updated; planned as an update. If ${unknownKeys.length > 1 ? "they name" : "it names"} a different deployment, \`pulumi up\` replaces the migration instead (the old sync is stopped first).`,
    );

  if (complete) {
    // A finished migration has nothing left to change; only a provider upgrade is stored (so read/delete
    // run the new code), and a mongosync rollback asked for by the program is driven. Rotating credentials or
    // editing options afterwards is harmless and ignored.
    const rollback = refreshing ? undefined : rollbackWork(olds, news, name);
    return { changes: changed.includes("providerVersion") || rollback !== undefined, replaces: [], deleteBeforeReplace: false };
  }
  if (replaces.length > 0) return { changes: true, replaces, deleteBeforeReplace: true };

  // The cutover PR: its preview says, from the last stored status, whether the cutover may proceed, and fails
  // when it may not (so the PR cannot be merged green). Only for the flip itself: once an `up` has begun the
  // cutover, the stored outputs say cutover: true and finishing it is always right.
  const rulesUnknown = s.containsUnknown(news.cutoverReadiness) || s.isUnknown(news.verificationMode);
  if (wantsCutover && !refreshing && olds.cutover !== true && rulesUnknown) {
    logLine(name, "cutover readiness: its rules (cutoverReadiness, verificationMode) are not known until earlier resources are updated; `pulumi up` decides");
  } else if (wantsCutover && !refreshing && olds.cutover !== true) {
    const readiness = require("./readiness") as typeof import("./readiness");
    const verdict = readiness.cutoverReadiness(olds, news, Date.now());
    if (!verdict.ok) throw new MigrationError("CUTOVER_NOT_READY", `cutover: ${readiness.describeReadiness(verdict)}`);
    logLine(name, `cutover readiness: ${readiness.describeReadiness(verdict, olds, news, Date.now())}`);
  }

  // Pulumi re-runs update for a resource with init errors (a create or cutover that ran out of its deadline),
  // but `pulumi refresh` clears them (RefreshStep.Apply; pulumi/pulumi#17949). So the stored phase decides:
  // until it reaches what the program asks for, there is work left and `pulumi up` must resume it.
  const pending = cutoverUnknown || refreshing ? undefined : unfinishedWork(olds, wantsCutover);
  if (pending) logLine(name, `${pending}; \`pulumi up\` resumes it`);
  return { changes: changed.length > 0 || pending !== undefined, replaces: [], deleteBeforeReplace: false };
}

/**
 * After COMPLETE, what a mongosync rollback input asks for that the stored state has not reached; undefined when
 * nothing. Refuses taking a started reverse sync back: mongosync cannot stop one (it has no un-reverse).
 */
function rollbackWork(olds: Props, news: Props, name: string): string | undefined {
  if ((olds.engine ?? undefined) !== "mongosync") return undefined;
  const m = news.mongosync;
  const s = schema();
  if (s.isUnknown(m) || s.isUnknown(m?.rollback) || s.isUnknown(m?.rollbackCutover)) return undefined;
  const stored = olds.rollback as RollbackState | null | undefined;
  const asked = m?.rollback === true;
  if (!asked) {
    if (stored)
      throw new MigrationError(
        "ROLLBACK_IRREVERSIBLE",
        `mongosync.rollback: a reverse sync has started (${stored.state}) and mongosync cannot call it off; keep mongosync.rollback: true` +
          (stored.committedAt ? " (the rollback is committed: the old source takes the writes)" : ", and set rollbackCutover: true to commit it once it is caught up"),
      );
    return undefined;
  }
  if (stored?.committedAt) return undefined;
  if (stored?.state === "COMMITTED" && m?.rollbackCutover !== true) return undefined;
  if (stored && stored.state === "READY_TO_COMMIT" && m?.rollbackCutover !== true) return undefined;
  const work = m?.rollbackCutover === true ? "rollback commit requested" : stored ? `the reverse sync is ${stored.state}` : "rollback requested";
  logLine(name, `${work}: \`pulumi up\` ${stored ? "continues" : "starts"} the reverse sync (the new cluster syncs back into the old source)${m?.rollbackCutover === true ? " and commits it" : ""}`);
  return work;
}

/** Why the stored state is short of what the inputs ask for, in words; undefined when it is there. */
export function unfinishedWork(olds: Props, wantsCutover: boolean): string | undefined {
  const phase: Phase | undefined = olds.phase ?? undefined;
  if (phase === undefined) return undefined; // not created yet: the engine plans a create
  if (phase === "COMPLETE") return undefined;
  const where = describeStored(olds);
  if (wantsCutover) {
    if (phase === "CUTTING_OVER") return `the cutover is not finished (${where}; source writes may be blocked — ${undoBlocking(olds)})`;
    return `cutover requested; the migration is ${where}`;
  }
  if (phase === "READY_FOR_CUTOVER") return undefined;
  if (phase === "CUTTING_OVER")
    return `a cutover is under way (${where}) though this program says cutover: false; set cutover: true to let Pulumi finish it`;
  if (phase === "FAILED") return `the migration FAILED (${olds.reason ?? "no reason stored"})`;
  return `the sync has not caught up yet (${where})`;
}

function describeStored(olds: Props): string {
  const parts: string[] = [String(olds.phase)];
  const pct = olds.progress?.percent;
  if (typeof pct === "number") parts.push(`${pct}% copied`);
  if (typeof olds.lagSeconds === "number") parts.push(`lag ${olds.lagSeconds}s`);
  return parts.join(", ");
}

/**
 * Is `key` the same deployment / migration scope in old and new inputs (credentials aside)? "unknown" when the
 * known parts agree but some part is not known yet (preview): unknown leaves are filled from the old inputs, so
 * a known difference still reads as a different deployment.
 */
function sameDeployment(
  key: (typeof REPLACE_KEYS)[number],
  oldInputs: MigrationInputs,
  news: Props,
  olds: Props,
): boolean | "unknown" {
  const s = schema();
  // `engine: "auto"` resolves from the source and target too.
  const relevant = key === "engine" ? [news.engine, news.source, news.target, news.mongosync] : [news[key]];
  const hasUnknown = relevant.some((v) => s.containsUnknown(v));
  const known = hasUnknown ? (fillUnknown(news, oldInputs as Props) as Props) : news;
  const same = knownSameDeployment(key, oldInputs, known, olds);
  if (!same) return false;
  return hasUnknown ? "unknown" : true;
}

/** `value` with every unknown leaf replaced by the same path of `previous`. */
function fillUnknown(value: unknown, previous: unknown): unknown {
  if (schema().isUnknown(value)) return previous;
  if (Array.isArray(value)) return value.map((v, i) => fillUnknown(v, Array.isArray(previous) ? previous[i] : undefined));
  if (value && typeof value === "object") {
    const prev = previous && typeof previous === "object" ? (previous as Props) : {};
    return Object.fromEntries(Object.entries(value as Props).map(([k, v]) => [k, fillUnknown(v, prev[k])]));
  }
  return value;
}

function knownSameDeployment(key: (typeof REPLACE_KEYS)[number], oldInputs: MigrationInputs, news: Props, olds: Props): boolean {
  const s = schema();
  const value = news[key];
  switch (key) {
    case "engine":
      try {
        return s.resolveEngine(news as MigrationInputs) === (olds.engine ?? s.resolveEngine(oldInputs));
      } catch {
        return false;
      }
    case "namespaces":
      return deepEqual(s.normalizedNamespaces(oldInputs), s.normalizedNamespaces(news as MigrationInputs));
    case "source":
    case "target": {
      const before = (oldInputs as Props)[key] ?? {};
      const after = value ?? {};
      try {
        const uriSame =
          before.uri === after.uri ||
          (typeof before.uri === "string" &&
            typeof after.uri === "string" &&
            s.deploymentIdentity(before.uri) === s.deploymentIdentity(after.uri));
        const { uri: _a, ...beforeRest } = before;
        const { uri: _b, ...afterRest } = after;
        const scrub = (o: Props) => {
          const c = JSON.parse(JSON.stringify(o));
          if (c.cloudManager) delete c.cloudManager.password;
          return c;
        };
        return uriSame && deepEqual(scrub(beforeRest), scrub(afterRest));
      } catch {
        return false;
      }
    }
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === "object")
    return Object.fromEntries(
      Object.keys(v as Props)
        .filter((k) => (v as Props)[k] !== undefined)
        .sort()
        .map((k) => [k, canonical((v as Props)[k])]),
    );
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// create / update: drive the sync

interface Driven {
  computed: MigrationComputed;
  /** Set when the call ran out of time or the sync failed: the partial-initialization message. */
  unfinished?: string;
}

function engineFor(name: EngineName): MigrationEngine {
  return registry().engineFor(name);
}

/** Runs preflight and start when there is no handle yet, then advances, then (if asked) cuts over. */
async function drive(inputs: MigrationInputs, computed: MigrationComputed, secrets: Record<string, string>, stored?: Stored): Promise<Driven> {
  const s = schema();
  const failures = s.validateInputs(inputs as Props);
  if (failures.length) throw failuresToError(failures);
  registerInputSecrets(inputs);
  const spec = s.toSpec(inputs);
  const engine = engineFor(computed.engine);
  const wantsCutover = inputs.cutover === true;
  // A cutover already under way (an earlier `pulumi up` ran out of time) may no longer read as "ready":
  // the engine's cutover is idempotent and resumes it.
  const wasCuttingOver = computed.phase === "CUTTING_OVER";
  const ctx = makeContext(spec, spec.timeouts.createSeconds, secrets, stored);

  let handle = computed.handle;
  if (!handle) {
    const report = await engine.preflight(spec, ctx);
    for (const w of report.warnings) ctx.log(`warning ${w.code}: ${w.message} — ${w.action}`);
    computed = { ...computed, warnings: mergeWarnings(computed.warnings, report.warnings.map((w) => `${w.code}: ${w.message} — ${w.action}`)) };
    if (!report.ok) {
      const lines = report.errors.map((e) => `${e.code}: ${e.message} — ${e.action}`);
      throw new MigrationError("PREFLIGHT_FAILED", `preflight found ${lines.length} problem(s); nothing was started:\n${lines.join("\n")}`);
    }
    handle = await engine.start(spec, ctx);
    computed = { ...computed, handle, startedAt: handle.startedAt, phase: "PENDING" };
    ctx.log(`started ${engine.name} migration ${handle.id}`);
  }

  let status: MigrationStatus;
  try {
    status = await engine.advance(spec, handle, ctx);
  } catch (err) {
    // The sync exists now: keep its handle in state (partial) so `pulumi destroy` can stop it and the next
    // `pulumi up` resumes it, instead of forgetting a running migration.
    const why = `the sync stopped: ${describeError(err)}; fix the cause and run \`pulumi up\` again to resume`;
    return { computed: { ...computed, reason: why }, unfinished: why };
  }
  computed = withStatus(computed, status);
  ctx.log(describeStatus(status));
  if (status.phase === "FAILED") {
    return { computed, unfinished: `the migration FAILED: ${status.reason ?? "no reason given by the engine"}` };
  }
  if (status.phase === "COMPLETE" && !wantsCutover) return { computed };
  // A commit the engine reports as under way (e.g. mongosync COMMITTING on some instances after a commit that
  // reached only some of them) is finished at once by the idempotent cutover, never waited on as "syncing".
  const underWay = wasCuttingOver || status.phase === "CUTTING_OVER";
  if (status.phase === "CUTTING_OVER" && !wantsCutover) {
    return {
      computed,
      unfinished:
        `a cutover is under way (${describeStatus(status)}) though this program says cutover: false; source writes may be blocked — ` +
        `set cutover: true and run \`pulumi up\` to finish it. ${undoBlocking({ engine: computed.engine, migrationId: computed.migrationId })}`,
    };
  }
  if (!status.readyForCutover && !(wantsCutover && (underWay || status.phase === "COMPLETE"))) {
    return {
      computed,
      unfinished: `the sync is not caught up yet (${describeStatus(status)}); run \`pulumi up\` again to continue${wantsCutover ? " and then cut over" : ""}`,
    };
  }
  if (!wantsCutover) return { computed };

  computed = { ...computed, phase: "CUTTING_OVER" };
  ctx.log("cutover: blocking source writes, draining, verifying");
  // The cutover gets its own full budget, whatever catching up used of the create budget.
  const cutoverCtx = contextUntil(spec, Date.now() + spec.timeouts.cutoverSeconds * 1000, secrets, stored);
  try {
    const report: CutoverReport = await engine.cutover(spec, handle, cutoverCtx);
    ctx.log(`cutover COMPLETE; verification ${report.verification.passed ? "passed" : "FAILED"}: ${report.verification.summary}`);
    return {
      computed: {
        ...computed,
        phase: "COMPLETE",
        lagSeconds: 0,
        reason: null,
        cutoverCompletedAt: report.cutoverCompletedAt,
        statusCheckedAt: new Date().toISOString(),
        verification: report.verification,
        warnings: mergeWarnings(computed.warnings, report.warnings),
      },
    };
  } catch (err) {
    // A commit no instance accepted (mongosync) changed nothing: the sync runs on and the source was not blocked
    // by it, so the migration is stored as what progress shows — not CUTTING_OVER, which would refuse cutover: false.
    if (isNothingCommitted(err)) {
      const why = `cutover not started: ${describeError(err)}`;
      return { computed: { ...withStatus(computed, err.status), reason: redact(why) }, unfinished: why };
    }
    // A cutover can end with the migration itself FAILED (e.g. Atlas's cutover outcome): say so, so that diff
    // does not ask the user to "finish" something that cannot finish.
    if (!(err instanceof DeadlineExceededError)) {
      const after = await engine.status(spec, handle, ctx).catch(() => undefined);
      if (after?.phase === "FAILED") {
        const why = `the migration FAILED during cutover: ${after.reason ? redact(after.reason) : describeError(err)}`;
        return { computed: { ...withStatus(computed, after), reason: why }, unfinished: why };
      }
    }
    // Source writes may already be blocked: stay in CUTTING_OVER (diff then refuses cutover: false) and let
    // the next `pulumi up` resume the engine's idempotent cutover.
    if (err instanceof DeadlineExceededError && err.status) computed = withStatus(computed, err.status);
    const why = err instanceof DeadlineExceededError ? err.message : `cutover stopped: ${describeError(err)}; fix the cause and run \`pulumi up\` again to resume it`;
    return { computed: { ...computed, phase: "CUTTING_OVER", reason: why }, unfinished: why };
  }
}

/**
 * How to give the source its writes back instead of finishing the cutover, per engine: every message that says
 * source writes may be blocked says this too.
 */
export function undoBlocking(state: { engine?: string | null; migrationId?: string | null }): string {
  switch (state.engine) {
    case "builtin":
      return (
        "To give the source its writes back instead: delete this Migration (`pulumi destroy`, or remove it from the program; the delete unblocks " +
        `the source and keeps the target data), or run \`atlas-migrate unblock ${state.migrationId ?? "<migrationId>"}\``
      );
    case "mongosync":
      return "mongosync blocks source writes from its commit on (when it blocks them at all); to give them back by hand run `db.adminCommand({ setUserWriteBlockMode: 1, global: false })` on the source";
    case "atlas-push":
      return "Atlas live migration does not block source writes: the application was stopped by you, and restarting its writes to the source is yours to do if you abandon the cutover";
    default:
      return "";
  }
}

/** MongosyncCommitNotAcceptedError with nothingCommitted (matched by shape: the engine module loads lazily). */
function isNothingCommitted(err: unknown): err is MigrationError & { status: MigrationStatus; nothingCommitted: true } {
  const e = err as { code?: string; nothingCommitted?: unknown; status?: MigrationStatus };
  return e?.code === "MONGOSYNC_COMMIT_NOT_ACCEPTED" && e.nothingCommitted === true && typeof e.status?.phase === "string";
}

/** The partial-initialization message: why the call stopped, and what is true of the source meanwhile. */
function unfinishedMessage(name: string, driven: Driven): string {
  const parts = [name + ":"];
  const stop = stopNotice();
  if (stop) parts.push(`${stop}:`);
  parts.push(driven.unfinished!);
  if (driven.computed.phase === "CUTTING_OVER" && !/writes (may be|are) (still )?blocked/.test(driven.unfinished!))
    parts.push(
      `— source writes may be blocked until the cutover finishes; run \`pulumi up\` with cutover: true to finish it. ${undoBlocking(driven.computed)}`,
    );
  return parts.join(" ");
}

function initialComputed(inputs: MigrationInputs): MigrationComputed {
  const s = schema();
  return {
    migrationId: s.migrationIdFor(inputs),
    engine: s.resolveEngine(inputs),
    requestedEngine: inputs.engine ?? null,
    phase: "PENDING",
    lagSeconds: null,
    startedAt: null,
    cutoverCompletedAt: null,
    verification: null,
    warnings: [],
    reason: null,
    progress: null,
    handle: null,
    linkToken: null,
    statusCheckedAt: null,
    cutoverDeadline: null,
    rollback: null,
  };
}

function computedFrom(olds: Props): MigrationComputed {
  const computed: Props = {};
  for (const key of COMPUTED_KEYS) computed[key] = olds[key] ?? null;
  computed.warnings = olds.warnings ?? [];
  return computed as MigrationComputed;
}

export function create(inputs: Props): Promise<{ id: string; outs: Props }> {
  return whileRunning(() => runCreate(inputs));
}

async function runCreate(inputs: Props): Promise<{ id: string; outs: Props }> {
  const typed = inputsOf(inputs);
  const secrets: Record<string, string> = {};
  let computed = initialComputed(typed);
  const id = computed.migrationId;
  let driven: Driven;
  try {
    driven = await drive(typed, computed, secrets);
  } catch (err) {
    const message = `${typed.resourceName ?? "migration"}: ${describeError(err)}`;
    // A secret the engine already published (the Atlas link token to paste into Cloud Manager) must reach
    // the user: keep the resource, partially created; the next `pulumi up` (update, no handle) starts again.
    if (secrets.linkToken) {
      throw partial(id, outputs(inputs, { ...computed, linkToken: secrets.linkToken, reason: describeError(err) }), message);
    }
    throw new MigrationError((err as MigrationError).code ?? "CREATE_FAILED", message);
  }
  computed = { ...driven.computed, linkToken: secrets.linkToken ?? driven.computed.linkToken };
  const outs = outputs(inputs, computed);
  if (driven.unfinished) throw partial(id, outs, unfinishedMessage(typed.resourceName ?? "migration", driven));
  return { id, outs };
}

export function update(id: string, olds: Props, news: Props): Promise<{ outs: Props }> {
  return whileRunning(() => runUpdate(id, olds, news));
}

async function runUpdate(id: string, olds: Props, news: Props): Promise<{ outs: Props }> {
  const inputs = inputsOf(news);
  const previous = computedFrom(olds);
  const name = inputs.resourceName ?? "migration";
  if (previous.phase === "COMPLETE") {
    // mongosync can sync back after COMPLETE (reverse sync), when a reviewed PR asks for it.
    if (previous.engine === "mongosync" && inputs.mongosync?.rollback === true) return runRollback(id, news, inputs, previous);
    // Finished: nothing to drive. Store the new inputs (e.g. a provider upgrade) with the final outputs.
    return { outs: outputs(news, { ...previous, requestedEngine: inputs.engine ?? null }) };
  }
  const secrets: Record<string, string> = {};
  let driven: Driven;
  try {
    driven = await drive(inputs, { ...previous, requestedEngine: inputs.engine ?? null }, secrets, storedFrom(previous));
  } catch (err) {
    // Keep what we know in state (handle, phase) so the next `pulumi up` resumes rather than restarts.
    const outs = outputs(news, { ...previous, linkToken: secrets.linkToken ?? previous.linkToken, reason: describeError(err) });
    throw partial(id, outs, `${name}: ${describeError(err)}`);
  }
  const computed = { ...driven.computed, linkToken: secrets.linkToken ?? driven.computed.linkToken };
  const outs = outputs(news, computed);
  if (driven.unfinished) throw partial(id, outs, unfinishedMessage(name, driven));
  return { outs };
}

/**
 * mongosync's reverse sync after COMPLETE (provider/engines/mongosync/README.md "Rollback"): mongosync.rollback
 * sends /reverse once and drives the new cluster back into the old one until caught up; rollbackCutover then
 * commits that direction, so the old source takes the writes again. Both engine calls are idempotent, so a
 * rerun after a deadline resumes. The migration's own phase stays COMPLETE; `rollback` reports the reverse.
 */
async function runRollback(id: string, news: Props, inputs: MigrationInputs, previous: MigrationComputed): Promise<{ outs: Props }> {
  const name = inputs.resourceName ?? "migration";
  const s = schema();
  const failures = s.validateInputs(inputs as Props);
  if (failures.length) throw failuresToError(failures);
  registerInputSecrets(inputs);
  const spec = s.toSpec(inputs);
  const engine = engineFor("mongosync");
  const handle = previous.handle;
  let computed: MigrationComputed = { ...previous, requestedEngine: inputs.engine ?? null };
  const keep = (message: string): never => {
    throw partial(id, outputs(news, { ...computed, reason: redact(message) }), `${name}: ${message}`);
  };
  const ms = require("./engines/mongosync") as typeof import("./engines/mongosync");
  if (!handle || !ms.isMongosyncEngine(engine)) return keep("the rollback needs the mongosync handle stored by the cutover; nothing was changed");
  const ctx = makeContext(spec, spec.timeouts.createSeconds, {}, storedFrom(previous));
  const rollbackOf = (status: MigrationStatus, committed?: { at: string; verification: VerificationReport }): RollbackState => ({
    state: committed ? "COMMITTED" : String(status.details?.rollback ?? "REVERSING"),
    direction: typeof status.details?.direction === "string" ? status.details.direction : computed.rollback?.direction ?? null,
    lagSeconds: committed ? 0 : status.lagSeconds,
    committedAt: committed?.at ?? computed.rollback?.committedAt ?? null,
    verification: committed?.verification ?? computed.rollback?.verification ?? null,
  });
  const done = () => ({ outs: outputs(news, { ...computed, reason: null }) });
  if (computed.rollback?.committedAt) return done(); // the rollback is committed: nothing left to drive
  if (computed.rollback?.state !== "COMMITTED") {
    let status: MigrationStatus;
    try {
      status = await engine.rollback(spec, handle, ctx);
    } catch (err) {
      return keep(`rollback: ${describeError(err)}`);
    }
    computed = {
      ...computed,
      statusCheckedAt: new Date().toISOString(),
      rollback: rollbackOf(status),
      warnings: mergeWarnings(computed.warnings, status.warnings),
    };
    ctx.log(`rollback: reverse sync ${computed.rollback!.state}${status.lagSeconds === null ? "" : `, lag ${status.lagSeconds}s`}`);
    const wantsCommit = spec.mongosync?.rollback === "commit";
    const ready = computed.rollback!.state === "READY_TO_COMMIT" || computed.rollback!.state === "COMMITTED";
    if (!ready) {
      return keep(
        `the reverse sync is not caught up yet (${computed.rollback!.state}); run \`pulumi up\` again to continue${wantsCommit ? " and then commit the rollback" : ""}`,
      );
    }
  }
  if (spec.mongosync?.rollback !== "commit") return done();
  const commitCtx = makeContext(spec, spec.timeouts.cutoverSeconds, {}, storedFrom(previous));
  ctx.log("rollback commit: the old source takes the writes again once mongosync commits the reverse direction");
  try {
    const report = await engine.commitRollback(spec, handle, commitCtx);
    computed = {
      ...computed,
      statusCheckedAt: new Date().toISOString(),
      rollback: { ...rollbackOf({ phase: "COMPLETE", lagSeconds: 0, readyForCutover: false, warnings: [] }, { at: report.cutoverCompletedAt, verification: report.verification }) },
      warnings: mergeWarnings(computed.warnings, report.warnings),
      reason: null,
    };
    ctx.log(`rollback COMMITTED; verification ${report.verification.passed ? "passed" : "FAILED"}: ${report.verification.summary}`);
    return { outs: outputs(news, computed) };
  } catch (err) {
    return keep(`rollback commit stopped: ${describeError(err)}; run \`pulumi up\` again to resume it`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// read / delete

export function read(id: string, props: Props): Promise<{ id: string; props: Props; inputs: Props }> {
  return whileRunning(async () => {
    const result = await readStatus(id, props);
    justRead.set(id, stateFingerprint(result.props));
    return result;
  });
}

async function readStatus(id: string, props: Props): Promise<{ id: string; props: Props; inputs: Props }> {
  const inputs = inputsOf(props);
  const { __provider: _p, ...inputsForState } = { ...inputs } as Props;
  const computed = computedFrom(props);
  // After COMPLETE only a reverse sync (mongosync rollback) still moves; everything else is final.
  const rollingBack = computed.phase === "COMPLETE" && computed.engine === "mongosync" && computed.rollback !== null && !computed.rollback.committedAt;
  if ((computed.phase === "COMPLETE" && !rollingBack) || !computed.handle) {
    return { id, props: jsonClean(props), inputs: jsonClean(inputsForState) };
  }
  registerInputSecrets(inputs);
  const spec = schema().toSpec(inputs);
  const ctx = makeContext(spec, spec.timeouts.pollSeconds * 6 + 30, {}, storedFrom(computed));
  try {
    const status = await engineFor(computed.engine).status(spec, computed.handle, ctx);
    if (rollingBack) {
      const rollback: RollbackState = {
        ...computed.rollback!,
        state: String(status.details?.rollback ?? computed.rollback!.state),
        lagSeconds: status.lagSeconds,
      };
      return { id, props: outputs(props, { ...computed, rollback, statusCheckedAt: new Date().toISOString() }), inputs: jsonClean(inputsForState) };
    }
    return { id, props: outputs(props, withStatus(computed, status)), inputs: jsonClean(inputsForState) };
  } catch (err) {
    // Refresh must not lose the resource because the engine is unreachable right now.
    logLine(spec.resourceName, `refresh could not read the migration status: ${describeError(err)}`);
    return { id, props: outputs(props, { ...computed, reason: `status unavailable: ${describeError(err)}` }), inputs: jsonClean(inputsForState) };
  }
}

export function destroy(_id: string, props: Props): Promise<void> {
  return whileRunning(() => runDestroy(_id, props));
}

async function runDestroy(_id: string, props: Props): Promise<void> {
  const inputs = inputsOf(props);
  const computed = computedFrom(props);
  const name = inputs.resourceName ?? "migration";
  if (!computed.handle) {
    logLine(name, "removed from the stack; target data is kept");
    return;
  }
  registerInputSecrets(inputs);
  const spec = schema().toSpec(inputs);
  const ctx = makeContext(spec, 300, {}, storedFrom(computed));
  const engine = engineFor(computed.engine);
  if (computed.phase === "COMPLETE") {
    await cleanUpAfterComplete(name, spec, engine, computed, ctx);
    logLine(name, "removed from the stack; target data is kept (this package never drops target data)");
    return;
  }
  // Writes first: a source left write-blocked by a half-done cutover stops the application, so it is given back
  // before anything else, and the delete fails (saying how to undo it) rather than forget it silently.
  await releaseSourceBeforeDelete(name, spec, engine, computed, props, ctx);
  try {
    const report = await engine.cancel(spec, computed.handle, ctx);
    for (const w of report.warnings) logLine(name, `warning: ${w}`);
  } catch (err) {
    // A destroy must not be stuck on a source that is gone. Say plainly what may still be running.
    logLine(name, `warning: could not stop the ${computed.engine} sync (${describeError(err)}); it may still be running. Target data is kept.`);
  }
  logLine(name, "removed from the stack; target data is kept (this package never drops target data)");
}

/** The builtin engine's undo of its own write blocking (provider/engines/builtin/index.ts). */
interface SourceReleaser {
  releaseSource(spec: MigrationSpec, ctx: Pick<EngineContext, "log" | "now">, options?: { afterComplete?: boolean }): Promise<{ released: boolean; messages: string[] }>;
}

function releaserOf(engine: MigrationEngine): SourceReleaser | undefined {
  const candidate = engine as Partial<SourceReleaser>;
  return typeof candidate.releaseSource === "function" ? (engine as unknown as SourceReleaser) : undefined;
}

/** The commands that give the source its writes back by hand, for when the provider could not. */
function manualUnblock(migrationId: string): string {
  return (
    `\`ATLAS_MIGRATE_SOURCE_URI=<source URI> ATLAS_MIGRATE_TARGET_URI=<target URI> npx atlas-migrate unblock ${migrationId}\` ` +
    "(restores exactly what the cutover changed, from the record it keeps on the target), or by hand on the source: " +
    "`db.adminCommand({ setUserWriteBlockMode: 1, global: false })`, and for writeBlocking readOnlyUsers give each listed user its roles back " +
    "with `db.getSiblingDB(<db>).updateUser(<user>, { roles: [...] })`"
  );
}

async function releaseSourceBeforeDelete(
  name: string,
  spec: MigrationSpec,
  engine: MigrationEngine,
  computed: MigrationComputed,
  props: Props,
  ctx: EngineContext,
): Promise<void> {
  const releaser = releaserOf(engine);
  if (!releaser) return;
  try {
    const result = await releaser.releaseSource(spec, ctx);
    // "source writes unblocked …" is logged by the engine itself; say the rest.
    if (!result.released) for (const m of result.messages) if (!/nothing to undo/.test(m)) logLine(name, `warning: ${m}`);
  } catch (err) {
    // Only a migration whose cutover began can have blocked the source; for one that never got there, a source
    // that is gone must not make the delete impossible.
    const cutoverBegan = computed.phase === "CUTTING_OVER" || props.cutover === true;
    const text =
      `could not check or undo the source write blocking of migration ${spec.migrationId} (${describeError(err)})` +
      (cutoverBegan ? "; SOURCE WRITES MAY STILL BE BLOCKED by its cutover" : "") +
      `. To give the source its writes back: ${manualUnblock(spec.migrationId)}`;
    if (cutoverBegan) {
      throw new MigrationError(
        "SOURCE_MAY_BE_WRITE_BLOCKED",
        `${name}: not deleted: ${text}. Then run the delete again (nothing else was changed; target data is kept). ` +
          "If the source no longer exists, nothing is left to unblock: remove the Migration from the state with `pulumi state delete <its URN>`.",
      );
    }
    logLine(name, `warning: ${text}`);
  }
}

/** `pulumi destroy` of a COMPLETE migration: the engine's own cleanup (the Atlas link token); never target data. */
async function cleanUpAfterComplete(name: string, spec: MigrationSpec, engine: MigrationEngine, computed: MigrationComputed, ctx: EngineContext): Promise<void> {
  if (engine.cleanupAfterComplete && computed.handle) {
    try {
      const report = await engine.cleanupAfterComplete(spec, computed.handle, ctx);
      for (const w of report.warnings) logLine(name, w);
    } catch (err) {
      logLine(name, `warning: the ${computed.engine} cleanup after COMPLETE did not finish (${describeError(err)})${computed.engine === "atlas-push" ? "; delete the org's live-migration link token with `atlas liveMigrations link delete`" : ""}`);
    }
  }
  // mongosync: a reverse sync still running belongs to mongosync, not to this stack.
  if (computed.rollback && !computed.rollback.committedAt) {
    logLine(name, `warning: mongosync keeps syncing in reverse (rollback ${computed.rollback.state}); removing the Migration does not stop it: pause it with POST /api/v1/pause or stop mongosync`);
  }
  // builtin: the source stays write-blocked after COMPLETE on purpose; every message says so and how to undo it.
  const releaser = releaserOf(engine);
  if (releaser && spec.source.uri && spec.target.uri) {
    try {
      const result = await releaser.releaseSource(spec, ctx);
      for (const m of result.messages) if (!/nothing to undo/.test(m)) logLine(name, m);
    } catch (err) {
      logLine(name, `could not read whether the source is still write-blocked (${describeError(err)}); if it is and you want it writable again: ${manualUnblock(spec.migrationId)}`);
    }
  }
}
