// Retrying an HTTP call with exponential backoff and full jitter, bounded by an absolute deadline.
//
// Shared by the Atlas Admin API client and the mongosync client. It knows nothing about HTTP itself: the
// caller runs one attempt and says whether it succeeded, failed for good, or may be retried (optionally after
// a server-chosen delay, e.g. from a Retry-After header). Time comes from the injected clock so tests run on a
// virtual clock and never really sleep.

export interface RetryClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export interface BackoffPolicy {
  /** Upper bound of the first delay (the jitter picks a value in [0, bound]). */
  initialDelayMs: number;
  /** The bound never grows beyond this. */
  maxDelayMs: number;
  /** Attempts in total, the first included; Infinity lets only the deadline stop us. */
  maxAttempts: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialDelayMs: 1000, maxDelayMs: 60_000, maxAttempts: Infinity };

/** What one attempt produced. */
export type AttemptOutcome<T> =
  | { kind: "done"; value: T }
  | { kind: "fatal"; error: unknown }
  | { kind: "retry"; error: unknown; retryAfterMs?: number };

export interface GiveUpInfo {
  attempts: number;
  /** Why we stopped: the next wait would cross the deadline, or the attempt budget is spent. */
  reason: "deadline" | "attempts";
  /** The wait we would have needed before the next attempt. */
  nextDelayMs?: number;
}

export interface RetryOptions {
  clock: RetryClock;
  /** Absolute epoch-ms; no attempt starts and no sleep ends after it. */
  deadline: number;
  policy?: Partial<BackoffPolicy>;
  /** [0, 1) source for the jitter; injectable so tests are deterministic. */
  random?: () => number;
  /** Called before each wait, e.g. to log "rate limited, retrying in 4 s". */
  onRetry?(info: { attempt: number; delayMs: number; error: unknown }): void;
  /** Turns the last retryable error into what the caller throws; default: the last error itself. */
  giveUp?(lastError: unknown, info: GiveUpInfo): unknown;
}

/**
 * Full-jitter exponential backoff (delay = random × min(max, initial × 2^retryIndex)): spreading retries over
 * the whole window is what keeps many clients hitting one rate-limited endpoint from retrying in lockstep.
 */
export function backoffDelayMs(retryIndex: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const bound = Math.min(policy.maxDelayMs, policy.initialDelayMs * Math.pow(2, Math.max(0, retryIndex)));
  return Math.floor(random() * bound);
}

/**
 * Retry-After as milliseconds from `nowMs`: either delta-seconds ("120") or an HTTP-date. Undefined when the
 * header is absent or unreadable (servers are allowed to omit it; Atlas docs warn it may be missing).
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  const text = value.trim();
  if (text === "") return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/**
 * The wait before the next attempt: never shorter than what the server asked for, and never shorter than our
 * own backoff (the Atlas docs ask clients to wait at least Retry-After and then back off exponentially).
 */
export function nextDelayMs(retryIndex: number, retryAfterMs: number | undefined, policy: BackoffPolicy, random: () => number): number {
  const backoff = backoffDelayMs(retryIndex, policy, random);
  return retryAfterMs === undefined ? backoff : Math.max(retryAfterMs, backoff);
}

/** Runs `attempt` until it is done, fails for good, or the next wait would cross the deadline. */
export async function retryWithBackoff<T>(attempt: (attemptNumber: number) => Promise<AttemptOutcome<T>>, options: RetryOptions): Promise<T> {
  const policy: BackoffPolicy = { ...DEFAULT_BACKOFF, ...(options.policy ?? {}) };
  const random = options.random ?? Math.random;
  const giveUp = options.giveUp ?? ((error: unknown) => error);
  for (let attemptNumber = 1; ; attemptNumber++) {
    const outcome = await attempt(attemptNumber);
    if (outcome.kind === "done") return outcome.value;
    if (outcome.kind === "fatal") throw outcome.error;
    if (attemptNumber >= policy.maxAttempts) throw giveUp(outcome.error, { attempts: attemptNumber, reason: "attempts" });
    const delayMs = nextDelayMs(attemptNumber - 1, outcome.retryAfterMs, policy, random);
    if (options.clock.now() + delayMs >= options.deadline) {
      throw giveUp(outcome.error, { attempts: attemptNumber, reason: "deadline", nextDelayMs: delayMs });
    }
    options.onRetry?.({ attempt: attemptNumber, delayMs, error: outcome.error });
    await options.clock.sleep(delayMs);
  }
}
