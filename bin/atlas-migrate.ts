#!/usr/bin/env node
// atlas-migrate — the command-line side of the built-in engine.
//
//   atlas-migrate sync <migrationId>     keep copying and replaying until cutover (long-running, resumable)
//   atlas-migrate status <migrationId>   print the checkpoint's phase, progress and lag
//   atlas-migrate reset <migrationId>    delete the checkpoint so the next `pulumi up` starts over
//                                        (needed after FAILED: oplog history lost, refused DDL)
//   atlas-migrate unblock <migrationId>  undo the write blocking a cutover set on the source (setUserWriteBlockMode
//                                        off, read-only users' roles back); add --after-complete after COMPLETE
//
// Connection strings come from ATLAS_MIGRATE_SOURCE_URI and ATLAS_MIGRATE_TARGET_URI (never from argv, which
// other users can read in `ps`); they are printed only redacted. The migration's settings (namespaces, batch
// sizes, …) are read from the checkpoint on the target, where `pulumi up` stored a credential-free copy.
import { openCluster } from "../provider/cluster/open";
import { describeError, redact, registerSecret } from "../provider/errors";
import { createBuiltinEngine, statusFromState } from "../provider/engines/builtin";
import type { MigrationSpec } from "../provider/engines/engine";
import { readCompletion, resetMigration, StateSession } from "../provider/engines/builtin/state";
import { runWorker, SOURCE_URI_ENV, TARGET_URI_ENV } from "../provider/engines/builtin/worker";

function usage(): never {
  console.error("usage: atlas-migrate <sync|status|reset|unblock> <migrationId>   (URIs in ATLAS_MIGRATE_SOURCE_URI / ATLAS_MIGRATE_TARGET_URI)");
  process.exit(2);
}

function env(name: string): string {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is not set; export the connection string there (it is never read from the command line)`);
    process.exit(2);
  }
  registerSecret(v);
  return v;
}

function line(text: string): void {
  console.log(`${new Date().toISOString()} ${redact(text)}`);
}

async function main(argv: string[]): Promise<number> {
  const [command, migrationId, flag] = argv;
  if (!command || !migrationId) usage();
  if (command === "sync") {
    const stop = { requested: false };
    process.on("SIGINT", () => (stop.requested = true));
    process.on("SIGTERM", () => (stop.requested = true));
    const exit = await runWorker({
      migrationId,
      sourceUri: env(SOURCE_URI_ENV),
      targetUri: env(TARGET_URI_ENV),
      open: openCluster,
      ctx: { log: line, now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) },
      stop,
      roundMs: 10_000, // a stop request (Ctrl-C) is honoured within one round
    });
    line(`sync ended: ${exit}`);
    return exit === "failed" ? 1 : 0;
  }
  if (command === "unblock") {
    // Only the id and the URIs are needed: the blocking record lives on the target and survives resets.
    const spec = { migrationId, source: { uri: env(SOURCE_URI_ENV) }, target: { uri: env(TARGET_URI_ENV) } } as unknown as MigrationSpec;
    const result = await createBuiltinEngine({ open: openCluster }).releaseSource(
      spec,
      { log: line, now: () => Date.now() },
      { afterComplete: flag === "--after-complete" },
    );
    for (const m of result.messages) line(m);
    return result.released ? 0 : 1;
  }
  const target = await openCluster(env(TARGET_URI_ENV));
  try {
    const session = new StateSession(target.checkpoints(migrationId), "cli", () => Date.now());
    if (command === "status") {
      const done = await readCompletion(target, migrationId);
      if (done) {
        line(`COMPLETE at ${done.cutoverCompletedAt}: ${done.verification.summary}`);
        return 0;
      }
      const s = await session.load();
      if (!s) {
        line(`no checkpoint for ${migrationId} on ${target.description}`);
        return 1;
      }
      console.log(redact(JSON.stringify(statusFromState(s, session.otherHolder(s)), null, 2)));
      return 0;
    }
    if (command === "reset") {
      const result = await resetMigration(target, migrationId, () => Date.now(), flag === "--force");
      if (!result.removed) {
        line(`a live process (${result.heldBy}) holds the lease; stop it first or pass --force`);
        return 1;
      }
      line(`checkpoint of ${migrationId} removed; the next \`pulumi up\` starts the migration over (target data is kept and overwritten by upserts)`);
      return 0;
    }
    usage();
  } finally {
    await target.close().catch(() => undefined);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`atlas-migrate: ${describeError(err)}`);
    process.exit(1);
  },
);
