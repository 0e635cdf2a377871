// HTTP client for mongosync's /api/v1/* — one or several mongosync processes driven as one.
//
// A sharded source runs one mongosync per shard and the docs require identical calls to every one of them, so
// `MongosyncClient` fans every command out to all URLs and reads progress from all of them; `combineProgress`
// (progress.ts) turns the answers into one picture.
//
// Failures come in three kinds:
// - mongosync answered `{success:false, error, errorDescription}` → `MongosyncApiError` (never retried for a
//   command: mongosync made a decision; the engine re-reads progress to see whether the command had already
//   taken effect, e.g. a /start retried after a connection reset finds RUNNING). A /progress refusal is
//   retried whatever its HTTP status: reading is always safe, and after a restart mongosync may refuse it for
//   minutes (v1.7 fact-restart-resume-delay.rst).
//   Before 1.8 /progress has no `success` (v1.7 progress.json: `{progress}`; errors `{error}` only; the 1.8
//   release notes add the field), so those shapes count as envelopes too.
// - it could not be reached, or answered 5xx without an envelope → retried with backoff until the deadline,
//   then `MongosyncUnreachableError`. mongosync can take minutes to answer after a restart, so this is normal.
// - it answered something that is not the API (HTML, 404 page) → `MongosyncApiError` saying the URL looks wrong.
// Nothing here prints a URL or a mongosync message without redact(): error descriptions can quote the cluster
// connection strings mongosync was started with.
import * as http from "http";
import * as https from "https";
import { MigrationError, redact } from "../../errors";
import { retryWithBackoff, type BackoffPolicy, type RetryClock } from "../http/retry";
import type { MongosyncCommand, MongosyncEnvelope, MongosyncProgress } from "./types";

/** What to do next, per command, when mongosync refuses it. */
const ACTION_BY_COMMAND: Record<MongosyncCommand | "progress", string> = {
  start:
    "mongosync accepts /start only when IDLE; read GET /api/v1/progress on that host. If the message names a " +
    "field, the mongosync version may not accept it: set mongosync.version to the output of " +
    "`mongosync --version`; for a source older than MongoDB 6.0 set mongosync.sourceServerVersion (write blocking is then left out)",
  pause: "mongosync pauses only a RUNNING migration; read GET /api/v1/progress on that host",
  resume: "mongosync resumes only a PAUSED migration; read GET /api/v1/progress on that host",
  commit:
    "mongosync commits only when RUNNING with canCommit: true; run `pulumi up` again once " +
    "GET /api/v1/progress shows canCommit: true",
  reverse: "mongosync reverses only a COMMITTED migration started with reversible: true",
  progress: "check the mongosync log on that host; after a restart mongosync can need minutes before it answers",
};

/** mongosync refused a request (error envelope) or answered something that is not its API. */
export class MongosyncApiError extends MigrationError {
  /** Redacted base URL of the instance that answered. */
  readonly url: string;
  readonly endpoint: string;
  readonly httpStatus: number;
  /** mongosync's `error` name, or "UnexpectedResponse" when the body was not an envelope. */
  readonly mongosyncError: string;
  /** mongosync's `errorDescription`, redacted. */
  readonly description: string;
  constructor(args: { url: string; endpoint: MongosyncCommand | "progress"; httpStatus: number; error: string; description: string }) {
    const url = redact(args.url);
    const description = redact(args.description);
    const method = args.endpoint === "progress" ? "GET" : "POST";
    super(
      "MONGOSYNC_API_ERROR",
      `mongosync at ${url} refused ${method} /api/v1/${args.endpoint} (HTTP ${args.httpStatus}): ` +
        `${args.error}${description ? `: ${description}` : ""}. ${ACTION_BY_COMMAND[args.endpoint]}`,
    );
    this.name = "MongosyncApiError";
    this.url = url;
    this.endpoint = args.endpoint;
    this.httpStatus = args.httpStatus;
    this.mongosyncError = args.error;
    this.description = description;
  }
}

/** No usable answer from an instance before the deadline (connection errors or 5xx without an envelope). */
export class MongosyncUnreachableError extends MigrationError {
  readonly url: string;
  readonly attempts: number;
  constructor(url: string, endpoint: string, attempts: number, lastError: string) {
    const safeUrl = redact(url);
    super(
      "MONGOSYNC_UNREACHABLE",
      `could not reach mongosync at ${safeUrl} (${endpoint}) after ${attempts} attempt(s): ${lastError}. ` +
        "Check that mongosync runs and that this machine can reach that address: mongosync listens on " +
        "localhost:27182 by default (--port), so run `pulumi up` on the mongosync host or through a tunnel",
    );
    this.name = "MongosyncUnreachableError";
    this.url = safeUrl;
    this.attempts = attempts;
  }
}

/** A retryable failure of one attempt (connection error, timeout, 5xx without an envelope). */
class TransientFailure extends Error {}

/** We stopped waiting for a blocking command's answer (another instance refused it). */
export class MongosyncAbandonedError extends MigrationError {
  readonly url: string;
  constructor(url: string, endpoint: string) {
    super("MONGOSYNC_ABANDONED", `stopped waiting for mongosync at ${redact(url)} to answer /${endpoint}`);
    this.name = "MongosyncAbandonedError";
    this.url = redact(url);
  }
}

/** What each instance did with one command sent to all of them. */
export interface InstanceOutcome {
  index: number;
  url: string;
  outcome: "accepted" | "refused" | "unreachable" | "waiting";
  error?: MigrationError | Error;
}

/**
 * A command sent to several instances was not accepted by all. `outcomes` says, per instance, whether it
 * accepted, refused (with mongosync's reason), could not be reached, or received it and was still waiting for
 * the others when we stopped (/commit and /reverse block until every instance has them).
 */
export class MongosyncFanOutError extends MigrationError {
  readonly command: MongosyncCommand;
  readonly outcomes: InstanceOutcome[];
  constructor(command: MongosyncCommand, outcomes: InstanceOutcome[]) {
    const describe = (o: InstanceOutcome) =>
      o.outcome === "accepted"
        ? `instance ${o.index} (${o.url}) accepted it`
        : o.outcome === "waiting"
          ? `instance ${o.index} (${o.url}) received it and waits for the others (mongosync answers /${command} only once every instance has it)`
          : `instance ${o.index} (${o.url}) ${o.outcome === "refused" ? "refused it" : "could not be reached"}: ${redact(o.error?.message ?? "")}`;
    const failed = outcomes.filter((o) => o.outcome === "refused" || o.outcome === "unreachable");
    const first = failed[0]?.error;
    super(
      first instanceof MigrationError ? first.code : "MONGOSYNC_API_ERROR",
      outcomes.length === 1 && first
        ? first.message
        : `POST /api/v1/${command} did not reach every mongosync: ${outcomes.map(describe).join("; ")}`,
    );
    this.name = "MongosyncFanOutError";
    this.command = command;
    this.outcomes = outcomes;
  }

  /** Indexes of the instances that refused or could not be reached. */
  get failedIndexes(): number[] {
    return this.outcomes.filter((o) => o.outcome === "refused" || o.outcome === "unreachable").map((o) => o.index);
  }
}

export interface MongosyncClientOptions {
  /** Clock for backoff waits (the EngineContext's: virtual in tests). */
  clock: RetryClock;
  /** Absolute epoch-ms on `clock`; no retry wait crosses it. */
  deadline: number;
  /** Real-time cap of one HTTP exchange; default 30 s. */
  requestTimeoutMs?: number;
  backoff?: Partial<BackoffPolicy>;
  random?: () => number;
  /** Progress lines such as "mongosync at … not reachable, retrying in 2 s". */
  log?(line: string): void;
}

export interface HttpExchange {
  status: number;
  body: string;
}

/** One mongosync process. */
export class MongosyncInstance {
  readonly url: string;
  private readonly options: MongosyncClientOptions;

  constructor(url: string, options: MongosyncClientOptions) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new MigrationError("MONGOSYNC_BAD_URL", `mongosync.urls: ${redact(url)} is not a URL; use e.g. http://127.0.0.1:27182`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new MigrationError("MONGOSYNC_BAD_URL", `mongosync.urls: ${redact(url)} must start with http:// (or https:// behind a proxy)`);
    }
    // Accept both "http://h:27182" and "http://h:27182/api/v1": keep everything before /api/v1.
    this.url = url.replace(/\/+$/, "").replace(/\/api\/v1$/, "");
    this.options = options;
  }

  /** GET /api/v1/progress. Retries transient failures and every error envelope (a read is always safe to repeat). */
  async progress(): Promise<MongosyncProgress> {
    const envelope = await this.call("GET", "progress", undefined, { retryEnvelopes: true });
    const progress = envelope.progress;
    if (!progress || typeof progress.state !== "string" || typeof progress.canCommit !== "boolean") {
      throw new MongosyncApiError({
        url: this.url,
        endpoint: "progress",
        httpStatus: 200,
        error: "UnexpectedResponse",
        description: "the answer has no progress.state / progress.canCommit; is this URL a mongosync API?",
      });
    }
    return progress;
  }

  /**
   * POST /api/v1/<command>. A refusal is final (see the file comment). Body-less commands still send `{}`.
   * `signal` abandons the request (and its retries): /commit and /reverse block until every instance has them,
   * so once one instance refused, waiting for the others' answers would only wait for the request timeout.
   */
  async command(command: MongosyncCommand, body: object = {}, signal?: AbortSignal): Promise<void> {
    await this.call("POST", command, body, { retryEnvelopes: false, signal });
  }

  private async call(
    method: "GET" | "POST",
    endpoint: MongosyncCommand | "progress",
    body: object | undefined,
    opts: { retryEnvelopes: boolean; signal?: AbortSignal },
  ): Promise<MongosyncEnvelope> {
    let attempts = 0;
    let lastError = "";
    return retryWithBackoff<MongosyncEnvelope>(
      async (attemptNumber) => {
        attempts = attemptNumber;
        if (opts.signal?.aborted) return { kind: "fatal", error: new MongosyncAbandonedError(this.url, endpoint) };
        let exchange: HttpExchange;
        try {
          exchange = await this.exchange(method, endpoint, body, opts.signal);
        } catch (err) {
          if (opts.signal?.aborted) return { kind: "fatal", error: new MongosyncAbandonedError(this.url, endpoint) };
          lastError = redact(err instanceof Error ? err.message : String(err));
          return { kind: "retry", error: new TransientFailure(lastError) };
        }
        const envelope = parseEnvelope(exchange.body);
        if (envelope === undefined) {
          if (exchange.status >= 500) {
            lastError = `HTTP ${exchange.status}`;
            return { kind: "retry", error: new TransientFailure(lastError) };
          }
          return {
            kind: "fatal",
            error: new MongosyncApiError({
              url: this.url,
              endpoint,
              httpStatus: exchange.status,
              error: "UnexpectedResponse",
              description: `expected a JSON {success: …} answer, got ${describeBody(exchange.body)}; is this URL a mongosync API?`,
            }),
          };
        }
        if (envelope.success === true && exchange.status < 400) return { kind: "done", value: envelope };
        const refusal = new MongosyncApiError({
          url: this.url,
          endpoint,
          httpStatus: exchange.status,
          error: envelope.error ?? "UnknownError",
          description: envelope.errorDescription ?? "",
        });
        if (opts.retryEnvelopes) {
          lastError = refusal.message;
          return { kind: "retry", error: refusal };
        }
        return { kind: "fatal", error: refusal };
      },
      {
        clock: this.options.clock,
        deadline: this.options.deadline,
        policy: { initialDelayMs: 500, maxDelayMs: 15_000, ...(this.options.backoff ?? {}) },
        random: this.options.random,
        onRetry: ({ delayMs }) =>
          this.options.log?.(`mongosync at ${redact(this.url)} did not answer ${endpoint} (${lastError}); retrying in ${Math.ceil(delayMs / 1000)} s`),
        giveUp: (error) =>
          error instanceof MongosyncApiError || error instanceof MongosyncAbandonedError ? error : new MongosyncUnreachableError(this.url, endpoint, attempts, lastError),
      },
    );
  }

  /** One HTTP exchange with node's http/https; rejects on connection errors and on the per-request timeout. */
  private exchange(method: "GET" | "POST", endpoint: string, body: object | undefined, signal?: AbortSignal): Promise<HttpExchange> {
    const target = new URL(`${this.url}/api/v1/${endpoint}`);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const transport = target.protocol === "https:" ? https : http;
    const timeoutMs = this.options.requestTimeoutMs ?? 30_000;
    return new Promise<HttpExchange>((resolve, reject) => {
      const request = transport.request(
        target,
        {
          method,
          agent: false, // no keep-alive pool: a provider process must be able to exit right after the call
          headers: {
            Accept: "application/json",
            ...(payload === undefined ? {} : { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) }),
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("end", () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
          response.on("error", reject);
        },
      );
      request.setTimeout(timeoutMs, () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      if (signal) {
        const abandon = () => request.destroy(new Error("abandoned"));
        if (signal.aborted) abandon();
        else signal.addEventListener("abort", abandon, { once: true });
        request.on("close", () => signal.removeEventListener("abort", abandon));
      }
      request.on("error", (err: NodeJS.ErrnoException) => reject(new Error(err.code ? `${err.code}: ${err.message}` : err.message)));
      if (payload !== undefined) request.write(payload);
      request.end();
    });
  }
}

function parseEnvelope(body: string): MongosyncEnvelope | undefined {
  try {
    const parsed = JSON.parse(body) as unknown;
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return undefined;
    const candidate = parsed as MongosyncEnvelope;
    if (typeof candidate.success === "boolean") return candidate;
    // Pre-1.8 /progress: `{progress: {…}}` on success, `{error: "<description>"}` on failure (see the file comment).
    if (candidate.progress && typeof candidate.progress === "object") return { ...candidate, success: true };
    if (typeof candidate.error === "string") return { success: false, error: "ProgressError", errorDescription: candidate.error };
    return undefined;
  } catch {
    return undefined;
  }
}

function describeBody(body: string): string {
  const trimmed = body.trim();
  if (trimmed === "") return "an empty body";
  return `"${redact(trimmed.slice(0, 80))}${trimmed.length > 80 ? "…" : ""}"`;
}

/** What one instance said, or why it said nothing. */
export interface InstanceProgress {
  /** Position in mongosync.urls; instance 0 is the one whose canWrite counts (docs, cutover). */
  index: number;
  url: string;
  progress: MongosyncProgress;
}

/** All mongosync processes of one migration, driven as one. */
export class MongosyncClient {
  readonly instances: MongosyncInstance[];

  constructor(urls: string[], options: MongosyncClientOptions) {
    if (urls.length === 0) {
      throw new MigrationError("MONGOSYNC_BAD_URL", "mongosync.urls is empty; give the URL of every mongosync process, e.g. http://127.0.0.1:27182");
    }
    this.instances = urls.map((url) => new MongosyncInstance(url, options));
  }

  /** GET /progress from every instance, in parallel. Throws the first failure (after its own retries). */
  async progressEach(): Promise<InstanceProgress[]> {
    return Promise.all(
      this.instances.map(async (instance, index) => ({ index, url: redact(instance.url), progress: await instance.progress() })),
    );
  }

  /**
   * Sends one command to the chosen instances (default: all), in parallel. /commit and /reverse block until every
   * instance has them (v1.13 source/topologies/multiple-mongosyncs.txt), so once one instance refused (or could
   * not be reached) the requests still waiting on the others are abandoned instead of waiting for the request
   * timeout. A single refusal on a single instance is thrown as it is; otherwise `MongosyncFanOutError` says
   * what every instance did.
   */
  async commandEach(command: MongosyncCommand, body: object = {}, only?: number[]): Promise<void> {
    const targets = this.instances.map((instance, index) => ({ instance, index })).filter(({ index }) => !only || only.includes(index));
    const abandon = new AbortController();
    const blocking = command === "commit" || command === "reverse"; // only these wait for the other instances
    const outcomes: InstanceOutcome[] = await Promise.all(
      targets.map(async ({ instance, index }): Promise<InstanceOutcome> => {
        const url = redact(instance.url);
        try {
          await instance.command(command, body, blocking ? abandon.signal : undefined);
          return { index, url, outcome: "accepted" };
        } catch (err) {
          if (err instanceof MongosyncAbandonedError) return { index, url, outcome: "waiting" };
          abandon.abort();
          const error = err instanceof Error ? err : new Error(String(err));
          return { index, url, outcome: err instanceof MongosyncApiError ? "refused" : "unreachable", error };
        }
      }),
    );
    const failed = outcomes.filter((o) => o.outcome !== "accepted");
    if (failed.length === 0) return;
    if (targets.length === 1 && failed[0].error) throw failed[0].error;
    throw new MongosyncFanOutError(command, outcomes);
  }
}
