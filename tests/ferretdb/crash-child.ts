// The engine process that dies mid-copy: run by builtin.test.ts as
//   node -r tests/ferretdb/register-ts.js tests/ferretdb/crash-child.ts '<spec JSON>' <batches>
// It starts the migration and advances it, and after <batches> copy batches kills itself with SIGKILL — no
// finally block, no lease release, no last checkpoint: what a crashed or OOM-killed `pulumi up` leaves.
// Its clock is the tests' virtual clock (tests/support/context.ts), so the parent can expire the dead lease.
import { createBuiltinEngine } from "../../provider/engines/builtin";
import type { MigrationSpec } from "../../provider/engines/engine";
import { makeContext } from "../support/context";

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2]) as MigrationSpec;
  const killAfter = Number(process.argv[3]);
  let batches = 0;
  const engine = createBuiltinEngine({
    hooks: {
      afterCopyBatch: () => {
        batches += 1;
        if (batches === killAfter) {
          process.stdout.write(`killing myself after ${batches} batches\n`);
          process.kill(process.pid, "SIGKILL");
        }
      },
    },
  });
  const ctx = makeContext({ deadlineMs: 600_000 });
  const handle = await engine.start(spec, ctx);
  await engine.advance(spec, handle, ctx);
  process.stdout.write("the copy finished before the crash point\n");
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(2);
});
