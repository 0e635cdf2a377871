// Transient failures (a dropped connection, a primary stepping down) are retried with backoff; everything
// else surfaces. The classification follows the driver's own: network errors, the retryable error labels and
// the "not primary / shutting down / interrupted" server codes.
import type { EngineContext } from "../engine";

const RETRYABLE_CODES = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  89, // NetworkTimeout
  91, // ShutdownInProgress
  189, // PrimarySteppedDown
  262, // ExceededTimeLimit
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
  63, // StaleShardVersion
  150, // StaleEpoch
  13388, // StaleConfig
  234, // RetryChangeStream
  133, // FailedToSatisfyReadPreference
]);
const RETRYABLE_LABELS = ["RetryableWriteError", "ResumableChangeStreamError", "TransientTransactionError", "RetryableError"];
const RETRYABLE_NAMES = new Set([
  "MongoNetworkError",
  "MongoNetworkTimeoutError",
  "MongoServerSelectionError",
  "MongoPoolClearedError",
]);

interface ErrorLike {
  name?: string;
  code?: unknown;
  errorLabels?: unknown;
  hasErrorLabel?: (label: string) => boolean;
  retryable?: unknown;
}

export function isRetryable(err: unknown): boolean {
  if (!err || typeof err !== "object") return false;
  const e = err as ErrorLike;
  if (e.retryable === true) return true;
  if (e.name && RETRYABLE_NAMES.has(e.name)) return true;
  if (typeof e.code === "number" && RETRYABLE_CODES.has(e.code)) return true;
  const labels = new Set<string>();
  if (Array.isArray(e.errorLabels)) for (const l of e.errorLabels) labels.add(String(l));
  if (e.errorLabels instanceof Set) for (const l of e.errorLabels) labels.add(String(l));
  for (const label of RETRYABLE_LABELS) {
    if (labels.has(label)) return true;
    if (typeof e.hasErrorLabel === "function" && e.hasErrorLabel(label)) return true;
  }
  return false;
}

/** The change history no longer reaches the resume point (ChangeStreamHistoryLost 286, CappedPositionLost 136). */
export function isHistoryLost(err: unknown): boolean {
  if (!err || typeof err !== "object") return false;
  const e = err as ErrorLike;
  return e.name === "HistoryLostError" || e.code === "HISTORY_LOST" || e.code === 286 || e.code === 136;
}

export interface RetryPolicy {
  attempts: number;
  firstDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 8, firstDelayMs: 200, maxDelayMs: 15_000 };

/** Exponential backoff delay of attempt n (1-based). */
export function backoffMs(attempt: number, policy: RetryPolicy = DEFAULT_RETRY): number {
  return Math.min(policy.maxDelayMs, policy.firstDelayMs * 2 ** (attempt - 1));
}

/**
 * Runs `op`, retrying transient errors with exponential backoff (ctx.sleep, so tests do not wait).
 * `onRetry` lets the caller log; non-retryable errors and the last failure are thrown unchanged.
 */
export async function withRetry<T>(
  what: string,
  ctx: Pick<EngineContext, "sleep" | "log">,
  op: () => Promise<T>,
  policy: RetryPolicy = DEFAULT_RETRY,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (!isRetryable(err) || attempt >= policy.attempts) throw err;
      const delay = backoffMs(attempt, policy);
      ctx.log(`${what}: transient error (${(err as Error).message ?? String(err)}); retrying in ${delay} ms`);
      await ctx.sleep(delay);
    }
  }
}
