// HTTP Digest access authentication (RFC 7616), the scheme Atlas uses for programmatic API keys.
//
// Written here rather than taken from npm: the maintained digest packages either wrap a specific HTTP
// library or lack SHA-256, and the algorithm is a page of hashing. It is checked against the RFC 7616
// §3.9.1 example in tests. Only qop=auth (and the legacy no-qop form) is implemented: auth-int would hash
// the body and no server we talk to asks for it.

import { createHash, randomBytes } from "crypto";

export type DigestAlgorithm = "MD5" | "MD5-sess" | "SHA-256" | "SHA-256-sess";

/** One `Digest …` challenge from a WWW-Authenticate header. */
export interface DigestChallenge {
  realm: string;
  nonce: string;
  opaque?: string;
  algorithm: DigestAlgorithm;
  /** The qop values the server offers, e.g. ["auth", "auth-int"]; empty for an RFC 2069 server. */
  qop: string[];
  /** true when the server says our nonce expired but the credentials were right: retry with the new nonce. */
  stale: boolean;
}

export interface DigestInput {
  username: string;
  password: string;
  realm: string;
  nonce: string;
  method: string;
  /** The request-target exactly as sent: path plus query. */
  uri: string;
  algorithm: DigestAlgorithm;
  /** "auth", or undefined for the RFC 2069 form. */
  qop?: "auth";
  /** 8 hex digits, e.g. "00000001". */
  nc?: string;
  cnonce?: string;
}

const SUPPORTED_ALGORITHMS: Record<string, DigestAlgorithm> = {
  "MD5": "MD5",
  "MD5-SESS": "MD5-sess",
  "SHA-256": "SHA-256",
  "SHA-256-SESS": "SHA-256-sess",
};

function hashOf(algorithm: DigestAlgorithm, text: string): string {
  return createHash(algorithm.startsWith("SHA-256") ? "sha256" : "md5").update(text, "utf8").digest("hex");
}

/** The `response` value of RFC 7616 §3.4.1. */
export function digestResponse(input: DigestInput): string {
  const hash = (text: string) => hashOf(input.algorithm, text);
  let ha1 = hash(`${input.username}:${input.realm}:${input.password}`);
  if (input.algorithm.endsWith("-sess")) ha1 = hash(`${ha1}:${input.nonce}:${input.cnonce ?? ""}`);
  const ha2 = hash(`${input.method.toUpperCase()}:${input.uri}`);
  if (input.qop === undefined) return hash(`${ha1}:${input.nonce}:${ha2}`);
  return hash(`${ha1}:${input.nonce}:${input.nc}:${input.cnonce}:${input.qop}:${ha2}`);
}

/** A fresh client nonce: 16 random bytes, hex. */
export function newCnonce(): string {
  return randomBytes(16).toString("hex");
}

/** nc as the 8-hex-digit counter the RFC wants. */
export function formatNonceCount(count: number): string {
  return count.toString(16).padStart(8, "0");
}

function quoted(value: string): string {
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** The Authorization header value for one request. */
export function digestAuthorization(input: DigestInput & { opaque?: string }): string {
  const parts = [
    `username=${quoted(input.username)}`,
    `realm=${quoted(input.realm)}`,
    `uri=${quoted(input.uri)}`,
    `algorithm=${input.algorithm}`,
    `nonce=${quoted(input.nonce)}`,
  ];
  if (input.qop !== undefined) parts.push(`nc=${input.nc}`, `cnonce=${quoted(input.cnonce ?? "")}`, `qop=${input.qop}`);
  parts.push(`response=${quoted(digestResponse(input))}`);
  if (input.opaque !== undefined) parts.push(`opaque=${quoted(input.opaque)}`);
  return `Digest ${parts.join(", ")}`;
}

/**
 * Splits an authentication header (WWW-Authenticate or Authorization) into its challenges: a scheme token
 * followed by comma-separated `name=value` params, where values may be quoted strings containing commas.
 * Several challenges can share one header line (that is how Node joins repeated headers).
 */
export function parseAuthHeader(header: string): Array<{ scheme: string; params: Record<string, string> }> {
  const challenges: Array<{ scheme: string; params: Record<string, string> }> = [];
  let i = 0;
  const skip = (chars: string) => {
    while (i < header.length && chars.includes(header[i])) i++;
  };
  const token = () => {
    const start = i;
    while (i < header.length && !" \t,=\"".includes(header[i])) i++;
    return header.slice(start, i);
  };
  while (i < header.length) {
    skip(" \t,");
    const word = token();
    if (!word) {
      i++;
      continue;
    }
    skip(" \t");
    if (header[i] === "=" && challenges.length > 0) {
      // name=value of the current challenge
      i++;
      skip(" \t");
      let value: string;
      if (header[i] === '"') {
        i++;
        value = "";
        while (i < header.length && header[i] !== '"') {
          if (header[i] === "\\" && i + 1 < header.length) i++;
          value += header[i++];
        }
        i++;
      } else {
        value = token();
      }
      challenges[challenges.length - 1].params[word.toLowerCase()] = value;
    } else {
      challenges.push({ scheme: word, params: {} });
    }
  }
  return challenges;
}

/** The Digest challenges we can answer, strongest first (SHA-256 before MD5). */
export function parseDigestChallenges(header: string): DigestChallenge[] {
  const out: DigestChallenge[] = [];
  for (const { scheme, params } of parseAuthHeader(header)) {
    if (scheme.toLowerCase() !== "digest" || !params.nonce) continue;
    const algorithm = SUPPORTED_ALGORITHMS[(params.algorithm ?? "MD5").toUpperCase()];
    if (!algorithm) continue;
    const qop = (params.qop ?? "").split(",").map((q) => q.trim()).filter(Boolean);
    if (qop.length > 0 && !qop.includes("auth")) continue;
    out.push({
      realm: params.realm ?? "",
      nonce: params.nonce,
      opaque: params.opaque,
      algorithm,
      qop,
      stale: (params.stale ?? "").toLowerCase() === "true",
    });
  }
  const strength = (a: DigestAlgorithm) => (a.startsWith("SHA-256") ? 0 : 1);
  return out.sort((a, b) => strength(a.algorithm) - strength(b.algorithm));
}

/**
 * Client-side digest state for one set of credentials: remembers the server's nonce so later requests
 * authenticate up front (nc counts up per nonce) instead of paying a 401 round trip each time.
 */
export class DigestSession {
  private challenge: DigestChallenge | undefined;
  private nonceCount = 0;

  constructor(
    private readonly username: string,
    private readonly password: string,
  ) {}

  /** The header for a request, or undefined before the first challenge. */
  authorize(method: string, uri: string): string | undefined {
    const challenge = this.challenge;
    if (!challenge) return undefined;
    const useQop = challenge.qop.length > 0;
    this.nonceCount += 1;
    return digestAuthorization({
      username: this.username,
      password: this.password,
      realm: challenge.realm,
      nonce: challenge.nonce,
      opaque: challenge.opaque,
      method,
      uri,
      algorithm: challenge.algorithm,
      qop: useQop ? "auth" : undefined,
      nc: useQop ? formatNonceCount(this.nonceCount) : undefined,
      cnonce: useQop ? newCnonce() : undefined,
    });
  }

  /**
   * Takes a 401's WWW-Authenticate header. Returns true when retrying makes sense: the first challenge, or a
   * stale nonce. A fresh non-stale challenge after we already answered one means the key was rejected.
   */
  onChallenge(header: string | undefined, sentAuthorization: boolean): boolean {
    const [best] = parseDigestChallenges(header ?? "");
    if (!best) return false;
    const retry = !sentAuthorization || best.stale;
    this.challenge = best;
    this.nonceCount = 0;
    return retry;
  }
}
