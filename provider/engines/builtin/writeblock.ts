// Stopping writes on the source at cutover, three ways (see WriteBlockingMode in engine.ts).
//
// readOnlyUsers saves each listed user's original roles in the checkpoint BEFORE changing anything, and never
// overwrites a saved copy, so a cutover that crashes half-way and runs again still knows the real roles.
//
// After COMPLETE the source stays blocked on purpose: the application now writes to Atlas, and a write that
// still reached the old source would be lost silently. The cutover report says how to undo it.
import type { ClusterPort, ServerInfo, UserInfo } from "../../cluster/port";
import type { MigrationSpec } from "../engine";
import type { ResolvedWriteBlocking, SavedUserRoles } from "./state";

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
