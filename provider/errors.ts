// Named errors and credential redaction shared by the provider and every engine.
//
// Every message that can reach a user (an error, a log line, a warning in outputs) goes through `redact`,
// so a connection string, an Atlas key or a bearer token never shows up in `pulumi up` output or in state.

import type { MigrationStatus } from "./engines/engine";

const URI_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/@:'"]+)(?::([^\s/@'"]*))?@/gi;
// Basic/Bearer carry one token; a Digest header is a list of key="value" pairs: mask to the end of the line.
const AUTH_HEADER = /\b(authorization["']?\s*[:=]\s*["']?)(basic|bearer)\s+[^\s,'"]+|\b(authorization["']?\s*[:=]\s*["']?)(digest)\s+[^\r\n]*/gi;
const KEY_VALUE_SECRET =
  /\b(password|passwd|pwd|privateKey|private_key|clientSecret|client_secret|access_token|secret|apiKey|linkToken)(["']?\s*[:=]\s*["']?)([^\s"',&}]+)/gi;

const registeredSecrets = new Set<string>();

/**
 * Values known to be secret (passwords, keys) that must be masked even where no pattern finds them, e.g. a
 * password echoed by a server inside an error message. Values shorter than 4 characters are not registered:
 * masking them would mangle ordinary text.
 */
export function registerSecret(value: string | undefined | null): void {
  if (typeof value === "string" && value.length >= 4) registeredSecrets.add(value);
}

/** Masks credentials: `mongodb://user:****@host`, `Authorization: Bearer ****`, `password=****`, known secrets. */
export function redact(text: string): string {
  let out = String(text);
  for (const secret of registeredSecrets) {
    if (out.includes(secret)) out = out.split(secret).join("****");
  }
  out = out.replace(URI_CREDENTIALS, (_m, scheme: string, user: string, pass: string | undefined) =>
    pass === undefined ? `${scheme}${user}@` : `${scheme}${user}:****@`,
  );
  out = out.replace(AUTH_HEADER, (_m, p1?: string, k1?: string, p2?: string, k2?: string) => `${p1 ?? p2}${k1 ?? k2} ****`);
  out = out.replace(KEY_VALUE_SECRET, (_m, key: string, sep: string) => `${key}${sep}****`);
  return out;
}

/** Base class: every error we raise on purpose has a stable code and a message that says what to do. */
export class MigrationError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(redact(message));
    this.name = "MigrationError";
    this.code = code;
  }
}

/** Bad input found at `check` time or later; names the property. */
export class InputError extends MigrationError {
  readonly property: string;
  constructor(property: string, message: string) {
    super("INVALID_INPUT", `${property}: ${message}`);
    this.name = "InputError";
    this.property = property;
  }
}

/** Preflight found something that makes the migration unsafe or impossible. */
export class PreflightError extends MigrationError {
  constructor(message: string) {
    super("PREFLIGHT_FAILED", message);
    this.name = "PreflightError";
  }
}

/** A wait ran out of its own deadline (customTimeouts does nothing for dynamic resources). Resumable. */
export class DeadlineExceededError extends MigrationError {
  readonly status?: MigrationStatus;
  constructor(what: string, status?: MigrationStatus) {
    super("DEADLINE_EXCEEDED", `${what} did not finish before its deadline; run \`pulumi up\` again to resume`);
    this.name = "DeadlineExceededError";
    this.status = status;
  }
}

/** The source's change history no longer reaches our resume point; a restart from scratch is needed. */
export class HistoryLostError extends MigrationError {
  constructor(message: string) {
    super("HISTORY_LOST", message);
    this.name = "HistoryLostError";
  }
}

/** An engine failed in a way that is not retryable; the message carries the engine's reason. */
export class EngineFailedError extends MigrationError {
  constructor(message: string) {
    super("ENGINE_FAILED", message);
    this.name = "EngineFailedError";
  }
}

/** The text of any thrown value, redacted. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return redact(err.message);
  return redact(typeof err === "string" ? err : JSON.stringify(err));
}
