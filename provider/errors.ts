// Named errors and credential redaction shared by the provider and every engine.
//
// Every message that can reach a user (an error, a log line, a warning in outputs) goes through `redact`,
// so a connection string, an Atlas key or a bearer token never shows up in `pulumi up` output or in state.

import type { MigrationStatus } from "./engines/engine";

// A connection string's credentials: `scheme://user:` then the password up to the LAST "@" before the host (a raw
// "@", "?", "/", space or quote in a password must not end it early and leave its tail readable). The "@" that
// ends it is followed by a host part holding no further "@" (up to a space, a quote, the end, or the next URI).
// The password never runs into another `scheme://`.
const URI_CREDENTIALS =
  /\b([a-z][a-z0-9+.-]*:\/\/)([^\s:/@'"]+)(?::((?:(?![a-z0-9+.-]:\/\/)[^\r\n])*?))?@(?=[^\s@'"]*?(?:[\s'"]|$|,?[a-z][a-z0-9+.-]*:\/\/))/gi;
// Basic/Bearer carry one token; a Digest header is a list of key="value" pairs: mask to the end of the line.
const AUTH_HEADER = /\b(authorization["']?\s*[:=]\s*["']?)(basic|bearer)\s+[^\s,'"]+|\b(authorization["']?\s*[:=]\s*["']?)(digest)\s+[^\r\n]*/gi;
// key=value / key: value / "key": "value" secrets. A quoted value is masked to its closing quote (spaces,
// commas and escaped quotes included); a bare one to the next space, comma, & or }.
const SECRET_KEYS = [
  "password",
  "passwd",
  "pwd",
  "tlsCertificateKeyFilePassword",
  "sslPEMKeyPassword",
  "privateKey",
  "private_key",
  "clientSecret",
  "client_secret",
  "access_token",
  "AWS_SESSION_TOKEN",
  "AWS_SECRET_ACCESS_KEY",
  "secretAccessKey",
  "sessionToken",
  "secret",
  "apiKey",
  "linkToken",
];
const KEY_VALUE_SECRET = new RegExp(
  `\\b(${SECRET_KEYS.join("|")})(["']?\\s*[:=]\\s*)("(?:[^"\\\\\\r\\n]|\\\\.)*"|'(?:[^'\\\\\\r\\n]|\\\\.)*'|[^\\s"',&}][^\\s,&}]*)`,
  "gi",
);

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
  out = out.replace(KEY_VALUE_SECRET, (_m, key: string, sep: string, value: string) => {
    const quote = value[0] === '"' || value[0] === "'" ? value[0] : "";
    return `${key}${sep}${quote}****${quote}`;
  });
  return out;
}

/** The password of a connection string as redact() sees it (everything after the first ":" of the credentials). */
function connectionPassword(uri: string): string | undefined {
  return new RegExp(URI_CREDENTIALS.source, "i").exec(uri)?.[3];
}

/**
 * Masks what a driver echoes of a connection string's password. A raw "?", "/" or "@" in a password makes the
 * driver read its tail as an option, a host or a database and quote it back (`URI option "Secret99@db…"`), where
 * no pattern can recognise it: every piece of the password between such characters is masked (3+ characters).
 */
export function redactConnectionEcho(text: string, uri: string): string {
  const password = connectionPassword(uri);
  if (!password) return text;
  let out = text;
  const pieces = [password, ...password.split(/[@/?#:&=,\s]/)].filter((p) => p.length >= 3).sort((a, b) => b.length - a.length);
  for (const piece of pieces) out = out.split(piece).join("****");
  return out;
}

/**
 * Why a connection string's credentials cannot be read as meant, or undefined. More than one "@" means a raw "@"
 * (or "/", "?") in the user name or password: the driver then takes part of the password for the host or the
 * database (`mongodb://app:Tr0ub@dor/Secret99@db…` connects to host "dor").
 */
export function rawCredentialProblem(uri: string): string | undefined {
  const scheme = /^mongodb(\+srv)?:\/\//i.exec(uri);
  if (!scheme) return undefined;
  const rest = uri.slice(scheme[0].length);
  if ((rest.match(/@/g) ?? []).length < 2) return undefined;
  return (
    'has more than one "@": a user name or password holding "@", "/", "?" or ":" must be percent-encoded ' +
    '("@" is %40, "/" %2F, "?" %3F, ":" %3A), or the driver reads part of the password as the host'
  );
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
