// Stopping writes on the source at cutover, three ways (see WriteBlockingMode in engine.ts).
//
// readOnlyUsers saves each listed user's original roles in the checkpoint BEFORE changing anything, and never
// overwrites a saved copy, so a cutover that crashes half-way and runs again still knows the real roles.
//
// After COMPLETE the source stays blocked on purpose: the application now writes to Atlas, and a write that
// still reached the old source would be lost silently. The cutover report says how to undo it.
import type { ClusterPort, ServerInfo, UserInfo } from "../../cluster/port";
import type { MigrationSpec, PreflightFinding } from "../engine";
import { bypassesWriteBlocking } from "./privileges";
import type { MigrationState, ResolvedWriteBlocking, SavedUserRoles } from "./state";

export interface WriteBlockingChoice {
  mode?: ResolvedWriteBlocking;
  /** Why the requested mode cannot work here, with what to do instead. */
  problem?: { code: string; message: string; action: string };
}

export function chooseWriteBlocking(spec: MigrationSpec, info: ServerInfo): WriteBlockingChoice {
  const users = spec.builtin.readOnlyUsers;
  switch (spec.writeBlocking) {
    case "auto":
      if (info.supportsUserWriteBlocking) return { mode: "setUserWriteBlockMode" };
      if (users.length > 0) return { mode: "readOnlyUsers" };
      return {
        problem: {
          code: "WRITE_BLOCKING_UNAVAILABLE",
          message: `the source (${info.topology}, MongoDB ${info.version}) has no setUserWriteBlockMode and no users to make read-only were given`,
          action:
            'set migration.writeBlocking to "readOnlyUsers" and list the application\'s source users in builtin.readOnlyUsers, ' +
            'or to "none" if you will stop the application yourself before cutover',
        },
      };
    case "setUserWriteBlockMode":
      if (info.supportsUserWriteBlocking) return { mode: "setUserWriteBlockMode" };
      return {
        problem: {
          code: "WRITE_BLOCKING_UNSUPPORTED",
          message: `setUserWriteBlockMode needs a MongoDB 6.0+ replica set or sharded cluster; the source is ${info.topology} ${info.version}`,
          action: 'use writeBlocking "readOnlyUsers" (with builtin.readOnlyUsers) or "none"',
        },
      };
    case "readOnlyUsers":
      if (users.length > 0) return { mode: "readOnlyUsers" };
      return {
        problem: {
          code: "READ_ONLY_USERS_MISSING",
          message: 'writeBlocking is "readOnlyUsers" but builtin.readOnlyUsers is empty',
          action: "list the source users the application writes with (\"user\" or \"user@authDb\")",
        },
      };
    case "none":
      return { mode: "none" };
  }
}

/** "app" or "app@admin" → { user, db }; users without a database are looked up by name alone. */
export function parseUserRef(ref: string): { user: string; db?: string } {
  const at = ref.lastIndexOf("@");
  return at > 0 ? { user: ref.slice(0, at), db: ref.slice(at + 1) } : { user: ref };
}

export function findUsers(all: UserInfo[], refs: string[]): { found: UserInfo[]; missing: string[] } {
  const found: UserInfo[] = [];
  const missing: string[] = [];
  for (const ref of refs) {
    const { user, db } = parseUserRef(ref);
    const matches = all.filter((u) => u.user === user && (db === undefined || u.db === db));
    if (matches.length === 0) missing.push(ref);
    found.push(...matches);
  }
  return { found, missing };
}

const ANY_DATABASE_ROLES = new Set([
  "readWriteAnyDatabase",
  "root",
  "dbAdminAnyDatabase",
  "userAdminAnyDatabase",
  "clusterAdmin",
  "restore",
  "__system",
]);

/** The read-only counterpart of a role set: `read` on each database, `readAnyDatabase` for cluster-wide roles. */
export function readOnlyRoles(roles: Array<{ role: string; db: string }>): Array<{ role: string; db: string }> {
  const out = new Map<string, { role: string; db: string }>();
  for (const r of roles) {
    const ro = ANY_DATABASE_ROLES.has(r.role) || r.role === "readAnyDatabase" ? { role: "readAnyDatabase", db: "admin" } : { role: "read", db: r.db };
    out.set(`${ro.role}@${ro.db}`, ro);
  }
  return [...out.values()];
}

/** Makes the saved users read-only (idempotent: setting the same roles twice is harmless). */
export async function applyReadOnly(source: ClusterPort, saved: SavedUserRoles[]): Promise<void> {
  for (const u of saved) await source.setUserRoles(u.user, u.db, readOnlyRoles(u.roles));
}

/** How to give the source its writes back, for the cutover report's warnings. */
export function undoInstructions(mode: ResolvedWriteBlocking, saved: SavedUserRoles[] | undefined): string {
  switch (mode) {
    case "setUserWriteBlockMode":
      return (
        "source writes stay blocked after cutover so nothing is written to the old cluster by mistake; to undo, run " +
        "`db.adminCommand({ setUserWriteBlockMode: 1, global: false })` on the source"
      );
    case "readOnlyUsers":
      return (
        "the listed source users stay read-only after cutover; to undo, restore their roles with updateUser: " +
        (saved ?? []).map((u) => `${u.user}@${u.db} → ${JSON.stringify(u.roles)}`).join("; ")
      );
    case "none":
      return "source writes were not blocked by the engine (writeBlocking none): make sure the application no longer writes to the source";
  }
}

/**
 * Who setUserWriteBlockMode will NOT stop on the source. mongod lets through every caller holding
 * bypassWriteBlockingMode on the cluster — restore, hence root, and __system (builtin_roles.yml) — and, with
 * access control off, every caller (src/mongo/db/auth/authorization_session_impl.cpp,
 * `_updateInternalAuthorizationState`). An application writing as one of them keeps writing through cutover
 * and after COMPLETE, and those writes are lost. So such users must be named and acknowledged
 * (builtin.acknowledgeWriteBlockingBypass) before the engine relies on write blocking.
 */
export interface WriteBlockingBypass {
  errors: PreflightFinding[];
  warnings: PreflightFinding[];
  /** "user@db" of every user that bypasses, the migration's own user included. */
  users: string[];
}

export async function writeBlockingBypass(source: ClusterPort, spec: MigrationSpec): Promise<WriteBlockingBypass> {
  const errors: PreflightFinding[] = [];
  const warnings: PreflightFinding[] = [];
  const own = await source.authenticatedUsers();
  if (own.length === 0) {
    errors.push({
      code: "WRITE_BLOCKING_INEFFECTIVE",
      message:
        "the source runs without access control (the migration connected as no user): mongod then lets every connection " +
        "bypass setUserWriteBlockMode, so the application would keep writing through cutover and those writes would be lost",
      action:
        'enable access control on the source and connect the application and the migration as users, or set writeBlocking "none" and stop the application yourself before cutover',
    });
    return { errors, warnings, users: ["(every connection)"] };
  }
  const ownRefs = new Set(own.map((u) => `${u.user}@${u.db}`));
  const acknowledged = new Set(spec.builtin.acknowledgedBypassUsers ?? []);
  const bypassing = (await source.listUsers({ showPrivileges: true })).filter((u) => bypassesWriteBlocking(u.privileges)).map((u) => `${u.user}@${u.db}`);
  const others = bypassing.filter((u) => !ownRefs.has(u));
  const unacknowledged = others.filter((u) => !acknowledged.has(u));
  const ownBypassing = bypassing.filter((u) => ownRefs.has(u));
  if (ownBypassing.length > 0) {
    warnings.push({
      code: "MIGRATION_USER_BYPASSES_WRITE_BLOCKING",
      message: `the migration's own source user ${ownBypassing.join(", ")} is not stopped by write blocking (it holds bypassWriteBlockingMode, e.g. through root or restore)`,
      action: "make sure the application never connects as this user; give the migration a dedicated user",
    });
  }
  if (unacknowledged.length > 0) {
    errors.push({
      code: "WRITE_BLOCKING_BYPASSED",
      message:
        `write blocking does not stop source user(s) ${unacknowledged.join(", ")} (they hold bypassWriteBlockingMode through root, restore or __system): ` +
        "an application writing as one of them keeps writing through cutover and after COMPLETE, and those writes are lost",
      action:
        "move the application to a user without root/restore, or, once you are sure it does not write as them, acknowledge it with " +
        `builtin.acknowledgeWriteBlockingBypass: ${JSON.stringify(unacknowledged)}`,
    });
  } else if (others.length > 0) {
    warnings.push({
      code: "WRITE_BLOCKING_BYPASS_ACKNOWLEDGED",
      message: `write blocking will not stop source user(s) ${others.join(", ")} (acknowledged): writes made as them during or after cutover are lost`,
      action: "keep every writer off these users until the application runs on Atlas",
    });
  }
  return { errors, warnings, users: bypassing };
}

/**
 * The sentence every message carries while the engine may have blocked source writes (a cutover started and
 * did not complete): that writes are blocked, and how to give them back.
 */
export function blockedNotice(s: Pick<MigrationState, "cutover" | "spec">): string | undefined {
  const cut = s.cutover;
  if (!cut || cut.writeBlocking === "none") return undefined;
  return (
    `SOURCE WRITES ARE BLOCKED by this migration's cutover (${cut.writeBlocking}) and stay blocked until the cutover completes ` +
    `or is undone; ${undoInstructions(cut.writeBlocking, cut.savedRoles)}`
  );
}
