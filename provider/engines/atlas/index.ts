// The `atlas-push` engine: Atlas's own live migration for sources that Cloud Manager monitors, driven through
// the Admin API v2 (link token → validate → create → poll → cutover).
//
// What Atlas does not offer shapes the engine: there is no list, no update and no cancel operation, so the
// migration id returned by create is the only way back to a migration (kept in the handle), and deleting
// the resource can only warn that the migration keeps running in Atlas.

import { DeadlineExceededError, EngineFailedError, MigrationError, registerSecret } from "../../errors";
import type {
  CancelReport,
  CutoverReport,
  EngineContext,
  MigrationEngine,
  MigrationHandle,
  MigrationSpec,
  MigrationStatus,
  Phase,
  PreflightReport,
} from "../engine";
import { atlasClientFor, type AtlasClient, type CallContext } from "./client";
import { AtlasApiError } from "./errors";
import { CUTOVER_WINDOW_WARN_MS, cutoverWindowWarning, isActive, migrationRequest, pushParts, toMigrationStatus } from "./mapping";
import { atlasPushPreflight } from "./preflight";
import type { LiveMigration } from "./types";

export { AtlasClient, atlasClientFor, API_VERSIONS, DEFAULT_ATLAS_BASE_URL } from "./client";
export { AtlasApiError } from "./errors";

/**
 * The link token was created (and handed to the provider with ctx.publishSecret), but Cloud Manager has not
 * been connected with it before the deadline, so Atlas cannot see the source yet.
 */
export class AtlasLinkPendingError extends MigrationError {
  constructor(orgId: string, groupId: string) {
    super(
      "ATLAS_LINK_PENDING",
      `created a live-migration link token for Atlas org ${orgId}, but Cloud Manager project ${groupId} is not visible ` +
        `to Atlas yet. Paste the token (output linkToken) into Cloud Manager → Organization Settings → Connect to Atlas, ` +
        `provision the migration host, then run \`pulumi up\` again`,
    );
    this.name = "AtlasLinkPendingError";
  }
}

// Handles started by this process: a start retried in the same process (e.g. after the provider lost the
// result to a later error) finds its still-running migration instead of creating a second one — Atlas has no
// list operation to find it otherwise. Only an active migration is reused; a finished one never is.
// (Whether a cutover is under way is never kept here: it comes from Atlas's answer and the stored phase.)
const startedHandles = new Map<string, MigrationHandle>();

const CREDENTIAL_KEYS = ["publicKey", "privateKey", "clientId", "clientSecret", "accessToken"] as const;

/**
 * Credentials given as an input (AtlasMigration's atlasCredentials) replace stack config as a whole, like the
 * mongodbatlas provider's own sources ("sources are not merged": terraform-provider-mongodbatlas
 * docs/guides/provider-configuration.md); base URL and gov-cloud flag fall back to the configured ones.
 */
export function atlasCredentialsFor(spec: MigrationSpec, ctx: EngineContext): NonNullable<EngineContext["credentials"]["atlas"]> {
  const configured = ctx.credentials.atlas ?? {};
  const given = spec.atlasCredentials;
  if (!given || !CREDENTIAL_KEYS.some((k) => given[k])) return configured;
  for (const k of ["privateKey", "clientSecret", "accessToken"] as const) registerSecret(given[k]);
  return {
    ...given,
    baseUrl: given.baseUrl ?? configured.baseUrl,
    isMongodbgovCloud: given.isMongodbgovCloud ?? configured.isMongodbgovCloud,
  };
}

function clientFor(spec: MigrationSpec, ctx: EngineContext): AtlasClient {
  return atlasClientFor(atlasCredentialsFor(spec, ctx));
}

/** The user's poll interval (default 10 s in the schema); 429s from polling too fast are retried anyway. */
function pollMs(spec: MigrationSpec): number {
  return Math.max(10, spec.timeouts.pollSeconds * 1000);
}

/** Whether there is time for one more wait of `ms` before the deadline. */
function canWait(ctx: CallContext, ms: number): boolean {
  return ctx.now() + ms < ctx.deadline;
}

function handleIds(handle: MigrationHandle): { projectId: string; liveMigrationId: string } {
  const projectId = handle.data.projectId;
  if (typeof projectId !== "string" || !handle.id) {
    throw new EngineFailedError("the atlas-push handle is missing its projectId or live migration id; delete and re-create the resource");
  }
  return { projectId, liveMigrationId: handle.id };
}

function describeStatus(status: MigrationStatus, now: number): string {
  const lag = status.lagSeconds === null ? "" : `, lag ${status.lagSeconds} s`;
  const deadline = typeof status.details?.cutoverDeadline === "string" ? new Date(status.details.cutoverDeadline) : undefined;
  const window =
    deadline && status.phase !== "CUTTING_OVER" && status.phase !== "COMPLETE" && status.phase !== "FAILED" && now >= deadline.getTime() - CUTOVER_WINDOW_WARN_MS
      ? `; ${cutoverWindowWarning(deadline, now)}`
      : "";
  return `${status.phase} (Atlas ${String(status.details?.atlasStatus)}${lag})${window}`;
}

async function readStatus(
  spec: MigrationSpec,
  handle: MigrationHandle,
  ctx: EngineContext,
  storedPhase: Phase | undefined = ctx.stored?.phase,
): Promise<{ raw: LiveMigration; status: MigrationStatus }> {
  const { projectId, liveMigrationId } = handleIds(handle);
  const raw = await clientFor(spec, ctx).getMigration(ctx, projectId, liveMigrationId);
  const status = toMigrationStatus(raw, {
    storedPhase,
    migrationHost: spec.atlasPush?.migrationHost,
    startedAt: handle.startedAt,
    now: ctx.now(),
  });
  return { raw, status };
}

async function ensureLink(spec: MigrationSpec, ctx: EngineContext): Promise<string | undefined> {
  const { push, cloudManager } = pushParts(spec);
  const client = clientFor(spec, ctx);
  const visible = async () => {
    try {
      return (await client.listAvailableProjects(ctx, push.orgId)).some((p) => p.projectId === cloudManager.groupId);
    } catch (err) {
      // UNCONFIRMED whether Atlas answers [] or a 4xx for an org with no link yet: treat a refusal that is not
      // about credentials as "not linked"; a wrong org id then fails clearly at createLinkToken.
      if (err instanceof AtlasApiError && !err.gaveUp && [400, 404, 409].includes(err.status)) return false;
      throw err;
    }
  };
  if (await visible()) {
    ctx.log(`Cloud Manager project ${cloudManager.groupId} is already linked to Atlas org ${push.orgId}; no new link token created`);
    return undefined;
  }
  const stored = ctx.stored?.linkToken;
  if (stored) {
    // One link token per org: a new one would supersede the token the user already pasted (or is about to).
    // Atlas has no read operation for tokens, so the one in state is reused until the link is made.
    registerSecret(stored);
    ctx.publishSecret("linkToken", stored);
    ctx.log(
      `the live-migration link token created earlier (output linkToken) is still waiting to be pasted into Cloud Manager → ` +
        `Organization Settings → Connect to Atlas; no new token created`,
    );
    throw new AtlasLinkPendingError(push.orgId, cloudManager.groupId);
  }
  const { linkToken } = await client.createLinkToken(ctx, push.orgId, push.linkTokenAccessListIps);
  registerSecret(linkToken);
  // Published at once, not with the handle: if the wait below runs out, the user still needs the token.
  ctx.publishSecret("linkToken", linkToken);
  ctx.log(
    `created a live-migration link token for Atlas org ${push.orgId}: paste it (output linkToken) into Cloud Manager → ` +
      `Organization Settings → Connect to Atlas, then run \`pulumi up\` again`,
  );
  // The token only reaches the user once this run returns (it is a secret output), so waiting here for a
  // link nobody can make yet would only burn the deadline. Stop now; the next run finds the project visible.
  throw new AtlasLinkPendingError(push.orgId, cloudManager.groupId);
}

async function validateSource(spec: MigrationSpec, ctx: EngineContext): Promise<string> {
  const { target } = pushParts(spec);
  const client = clientFor(spec, ctx);
  let validation = await client.validate(ctx, target.projectId, migrationRequest(spec));
  ctx.log(`Atlas is validating the live migration (validation ${validation._id})`);
  const wait = pollMs(spec);
  while (validation.status === "PENDING" || validation.status === null) {
    if (!canWait(ctx, wait)) throw new DeadlineExceededError("Atlas live-migration validation");
    await ctx.sleep(wait);
    validation = await client.getValidation(ctx, target.projectId, validation._id);
  }
  if (validation.status === "FAILED") {
    throw new EngineFailedError(
      `Atlas validation of the live migration failed: ${validation.errorMessage || "Atlas gave no reason"}. ` +
        "Check the migration host, the IP access list, the link token, the source user's roles and TLS files, and the target's disk size",
    );
  }
  return validation._id;
}

export function createAtlasPushEngine(): MigrationEngine {
  return {
    name: "atlas-push",

    async preflight(spec: MigrationSpec, ctx: EngineContext): Promise<PreflightReport> {
      return atlasPushPreflight(spec, ctx, () => clientFor(spec, ctx));
    },

    async start(spec: MigrationSpec, ctx: EngineContext): Promise<MigrationHandle> {
      const { push, cloudManager, target } = pushParts(spec);
      const memoKey = JSON.stringify([ctx.credentials.atlas?.baseUrl ?? "", spec.migrationId, target.projectId, target.clusterName]);
      const known = startedHandles.get(memoKey);
      if (known) {
        const still = await clientFor(spec, ctx).getMigration(ctx, target.projectId, known.id).catch(() => undefined);
        if (still && isActive(still)) {
          ctx.log(`Atlas live migration ${known.id} started earlier by this process is still ${still.status}; reusing it`);
          return known;
        }
        startedHandles.delete(memoKey);
      }
      registerSecret(cloudManager.password);

      if (push.adoptLiveMigrationId) {
        // The user tells us which migration is ours (the API cannot list them): take it over, create nothing.
        const existing = await clientFor(spec, ctx).getMigration(ctx, target.projectId, push.adoptLiveMigrationId);
        ctx.log(`adopting Atlas live migration ${existing._id} (status ${String(existing.status)}) instead of creating one`);
        const adopted: MigrationHandle = {
          engine: "atlas-push",
          id: existing._id,
          startedAt: new Date(ctx.now()).toISOString(),
          data: {
            orgId: push.orgId,
            projectId: target.projectId,
            clusterName: target.clusterName,
            validationId: null,
            migrationHost: push.migrationHost,
            linkTokenRequested: push.createLinkToken,
            linkTokenCreated: false,
            adopted: true,
          },
        };
        startedHandles.set(memoKey, adopted);
        return adopted;
      }

      const linkToken = push.createLinkToken ? await ensureLink(spec, ctx) : undefined;
      const validationId = await validateSource(spec, ctx);
      // A non-idempotent call: the client does not repeat it after an ambiguous failure (see client.ts).
      const created = await clientFor(spec, ctx).createMigration(ctx, target.projectId, migrationRequest(spec));
      ctx.log(`Atlas live migration ${created._id} created (status ${String(created.status)})`);
      const handle: MigrationHandle = {
        engine: "atlas-push",
        id: created._id,
        startedAt: new Date(ctx.now()).toISOString(),
        data: {
          orgId: push.orgId,
          projectId: target.projectId,
          clusterName: target.clusterName,
          validationId,
          migrationHost: push.migrationHost,
          linkTokenRequested: push.createLinkToken,
          linkTokenCreated: linkToken !== undefined,
        },
      };
      startedHandles.set(memoKey, handle);
      return handle;
    },

    async advance(spec: MigrationSpec, handle: MigrationHandle, ctx: EngineContext): Promise<MigrationStatus> {
      const wait = pollMs(spec);
      let last: MigrationStatus | undefined;
      let lastLine = "";
      for (;;) {
        try {
          last = (await readStatus(spec, handle, ctx)).status;
        } catch (err) {
          // Out of time while Atlas rate-limits or is down: report what we last saw rather than fail the update.
          if (last && err instanceof AtlasApiError && err.gaveUp) {
            return { ...last, warnings: [...last.warnings, err.message] };
          }
          throw err;
        }
        const line = describeStatus(last, ctx.now());
        if (line !== lastLine) ctx.log(`Atlas live migration ${handle.id}: ${line}`);
        lastLine = line;
        if (last.readyForCutover || last.phase === "COMPLETE" || last.phase === "FAILED") return last;
        if (!canWait(ctx, wait)) return last;
        await ctx.sleep(wait);
      }
    },

    async status(spec: MigrationSpec, handle: MigrationHandle, ctx: EngineContext): Promise<MigrationStatus> {
      return (await readStatus(spec, handle, ctx)).status;
    },

    async cutover(spec: MigrationSpec, handle: MigrationHandle, ctx: EngineContext): Promise<CutoverReport> {
      const { projectId, liveMigrationId } = handleIds(handle);
      const client = clientFor(spec, ctx);
      const wait = pollMs(spec);
      const warnings: string[] = [];
      let requestedHere = false;
      let lastStatus: MigrationStatus | undefined;
      const read = async () => {
        try {
          // Once asked here, Atlas's WORKING means the cutover is under way; before, what state says decides.
          const result = await readStatus(spec, handle, ctx, requestedHere ? "CUTTING_OVER" : ctx.stored?.phase);
          lastStatus = result.status;
          return result;
        } catch (err) {
          if (err instanceof AtlasApiError && err.gaveUp?.reason === "deadline") {
            throw new DeadlineExceededError("the Atlas live-migration cutover", lastStatus);
          }
          throw err;
        }
      };
      for (;;) {
        const { raw, status } = await read();
        if (raw.status === "COMPLETE") {
          if (!requestedHere) warnings.push(`Atlas live migration ${liveMigrationId} was already COMPLETE; nothing to cut over`);
          // Atlas live migration's own cleanup, done for it: the org link exists only for the migration.
          warnings.push(...(await removeLinkToken(spec, handle, ctx)));
          return {
            phase: "COMPLETE",
            cutoverCompletedAt: new Date(ctx.now()).toISOString(),
            verification: {
              mode: "engine",
              passed: true,
              summary:
                "Atlas reported the live migration COMPLETE; Atlas's migration service checks its own copy, this package did not compare documents",
              namespaces: [],
            },
            warnings,
          };
        }
        if (status.phase === "FAILED") throw new EngineFailedError(`cutover cannot finish: ${status.reason}`);
        if (raw.readyForCutover === true && !requestedHere) {
          ctx.log(
            `Atlas live migration ${liveMigrationId} is ready (lag ${status.lagSeconds ?? "?"} s): requesting cutover. ` +
              "Application writes to the source must already be stopped: Atlas cannot block them on a Cloud Manager source",
          );
          try {
            await client.cutover(ctx, projectId, liveMigrationId);
            requestedHere = true;
          } catch (err) {
            // UNCONFIRMED how Atlas answers a repeated cutover (e.g. after an interrupted `pulumi up`). If it
            // refuses, look again: an under-way cutover shows as not ready / COMPLETE; a refusal while still
            // ready is real and surfaces.
            if (!(err instanceof AtlasApiError) || (err.status !== 400 && err.status !== 409)) throw err;
            const again = await read();
            if (again.raw.readyForCutover === true && again.raw.status === "WORKING") throw err;
            requestedHere = true;
            continue;
          }
        }
        if (!canWait(ctx, wait)) {
          throw new DeadlineExceededError(
            requestedHere || ctx.stored?.phase === "CUTTING_OVER" ? "the Atlas live-migration cutover" : "waiting for Atlas to be ready for cutover",
            status,
          );
        }
        await ctx.sleep(wait);
      }
    },

    async cancel(spec: MigrationSpec, handle: MigrationHandle, ctx: EngineContext): Promise<CancelReport> {
      const warnings: string[] = [];
      let active = true;
      try {
        const { raw } = await readStatus(spec, handle, ctx);
        active = isActive(raw);
        warnings.push(
          active
            ? `Atlas has no API to cancel a push live migration: live migration ${handle.id} is still ${raw.status} and keeps ` +
                `syncing into ${String(handle.data.clusterName)}. To stop it, cancel it in the Atlas UI (Organization → Live Migration) ` +
                "or stop the migration host in Cloud Manager. Target data was not touched"
            : `Atlas live migration ${handle.id} is ${raw.status}; nothing is running to stop`,
        );
      } catch (err) {
        if (!(err instanceof AtlasApiError) || err.status !== 404) throw err;
        active = false;
        warnings.push(`Atlas no longer knows live migration ${handle.id}; removed it from state`);
      }
      if (active) {
        if (linkTokenInPlay(spec, handle)) {
          warnings.push(
            "kept the live-migration link token: Atlas refuses to delete it while a migration is active; delete it once the migration " +
              "has ended with `atlas liveMigrations link delete`",
          );
        }
      } else {
        warnings.push(...(await removeLinkToken(spec, handle, ctx)));
      }
      for (const [key, known] of startedHandles) if (known.id === handle.id) startedHandles.delete(key);
      return { warnings };
    },

    async cleanupAfterComplete(spec: MigrationSpec, handle: MigrationHandle, ctx: EngineContext): Promise<CancelReport> {
      for (const [key, known] of startedHandles) if (known.id === handle.id) startedHandles.delete(key);
      return { warnings: await removeLinkToken(spec, handle, ctx) };
    },
  };
}

/** Did this migration ask for an org link (so there is a link token of ours to remove)? */
function linkTokenInPlay(spec: MigrationSpec, handle: MigrationHandle): boolean {
  return handle.data.linkTokenRequested === true || spec.atlasPush?.createLinkToken === true;
}

/**
 * Deletes the org's live-migration link token (and with it the org link and its API key) once nothing needs it.
 * Atlas refuses (409 CANNOT_DELETE_ORG_ACTIVE_LIVE_MIGRATION_ATLAS_ORG_LINK, reference notes §2.2) while any
 * migration of the org is active: then it is kept, with a warning saying how to delete it later. 404: gone already.
 */
async function removeLinkToken(spec: MigrationSpec, handle: MigrationHandle, ctx: EngineContext): Promise<string[]> {
  if (!linkTokenInPlay(spec, handle)) return [];
  const orgId = typeof handle.data.orgId === "string" ? handle.data.orgId : spec.atlasPush?.orgId;
  if (!orgId) return [];
  try {
    await clientFor(spec, ctx).deleteLinkTokens(ctx, orgId);
    return [`deleted the live-migration link token of Atlas org ${orgId} (the org link is needed only while migrating)`];
  } catch (err) {
    if (!(err instanceof AtlasApiError)) throw err;
    if (err.status === 404) return [];
    if (err.status === 409) {
      return [
        `kept the live-migration link token of Atlas org ${orgId}: another migration in the organization is still active ` +
          `(${err.errorCode}); delete it later with \`atlas liveMigrations link delete\``,
      ];
    }
    return [`could not delete the live-migration link token: ${err.message}; delete it with \`atlas liveMigrations link delete\``];
  }
}
