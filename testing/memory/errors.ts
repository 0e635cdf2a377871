// Errors shaped like the ones the `mongodb` driver raises, so code written against MemoryCluster handles
// real servers the same way: same classes (MongoServerError, MongoNetworkError), codes, code names and
// error labels.

import { MongoNetworkError, MongoServerError, type Document } from "mongodb";
import { redact } from "../../provider/errors";

/** A server error as the driver reports it: `code`, `codeName`, `errmsg`, optional labels. */
export function serverError(code: number, codeName: string, message: string, labels: string[] = []): MongoServerError {
  const text = redact(message);
  const err = new MongoServerError({ message: text, errmsg: text, code, codeName, ok: 0 });
  for (const label of labels) err.addErrorLabel(label);
  return err;
}

/** E11000: a write would create a second document with the same key in a unique index. */
export function duplicateKeyError(ns: string, indexName: string, keyValue: Document, keyText: string): MongoServerError {
  const err = serverError(
    11000,
    "DuplicateKey",
    `E11000 duplicate key error collection: ${ns} index: ${indexName} dup key: ${keyText}`,
  );
  err.keyPattern = Object.fromEntries(Object.keys(keyValue).map((k) => [k, 1]));
  err.keyValue = keyValue;
  return err;
}

/** setUserWriteBlockMode is on and the caller may not bypass it (MongoDB's error_codes.yml: 371). */
export const USER_WRITES_BLOCKED = 371;

export function userWritesBlockedError(): MongoServerError {
  return serverError(USER_WRITES_BLOCKED, "UserWritesBlocked", "User writes blocked");
}

export function unauthorizedError(db: string, command: string): MongoServerError {
  return serverError(13, "Unauthorized", `not authorized on ${db} to execute command { ${command}: ... }`);
}

// ---- ready-made faults for `cluster.faults.failNext(…)` -------------------------------------------------

/** A dropped connection, as the driver reports it (retryable: the driver retries reads/writes once). */
export function networkError(message = "connection reset by peer (injected by MemoryCluster)"): MongoNetworkError {
  const err = new MongoNetworkError(message);
  err.addErrorLabel("RetryableWriteError");
  return err;
}

/** The primary stepped down mid-operation (code 10107), labelled retryable like the server does. */
export function notWritablePrimaryError(): MongoServerError {
  return serverError(10107, "NotWritablePrimary", "not primary (injected by MemoryCluster)", ["RetryableWriteError"]);
}

/** The node is shutting down (code 91), labelled retryable. */
export function shutdownInProgressError(): MongoServerError {
  return serverError(91, "ShutdownInProgress", "The server is in quiesce mode and will shut down (injected by MemoryCluster)", [
    "RetryableWriteError",
  ]);
}

/** The change stream's resume point fell off the oplog (code 286), as the server reports it. */
export function changeStreamHistoryLostError(): MongoServerError {
  return serverError(
    286,
    "ChangeStreamHistoryLost",
    "Resume of change stream was not possible, as the resume point may no longer be in the oplog.",
  );
}

/** True for the errors a caller should retry: network errors and server errors labelled retryable. */
export function isRetryableError(err: unknown): boolean {
  if (err instanceof MongoNetworkError) return true;
  const labelled = err as { hasErrorLabel?: (label: string) => boolean };
  return typeof labelled?.hasErrorLabel === "function" && labelled.hasErrorLabel("RetryableWriteError");
}
