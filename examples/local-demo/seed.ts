// Preloaded into Pulumi's dynamic-provider host (`node -r seed.js …/cmd/dynamic-provider`) in offline mode.
//
// A MemoryCluster exists only inside the process that created it, and the provider runs inside the host,
// so the host process must own the demo's clusters: this script creates memory://demo-source (seeded) and
// memory://demo-target (empty), runs the demo "application" against the source, and answers the demo's
// questions over the IPC channel its parent opened. Stdout belongs to the host (its first line is the port
// the engine connects to), so this script never prints.
import { MemoryCluster } from "pulumi-atlas-migration/testing";
import { DemoApp, seedSource, summarizeBoth, type DemoCluster } from "./data";

export const SOURCE = "demo-source";
export const TARGET = "demo-target";

/** Requests the parent sends, and what each answers. */
export type SeedRequest =
  | { id: number; op: "ready" }
  | { id: number; op: "startApp"; intervalMs: number }
  | { id: number; op: "burst"; rounds: number }
  | { id: number; op: "stopApp" }
  | { id: number; op: "summaries" }
  | { id: number; op: "writesBlocked" };

export interface SeedReply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

function main(): void {
  if (typeof process.send !== "function") return; // loaded without an IPC channel: not the demo's host

  // The source's change history must reach back past the seed, as a real oplog would: seed "in the past".
  let clockOffsetMs = -3_600_000;
  const source = MemoryCluster.create(SOURCE, { now: () => Date.now() + clockOffsetMs });
  MemoryCluster.create(TARGET);
  const target = MemoryCluster.get(TARGET)!;

  // The application writes as its own user, so write blocking at cutover applies to it (root bypasses it).
  source.addUser("app", "admin", [
    { role: "readWrite", db: "shop" },
    { role: "readWrite", db: "crm" },
  ]);
  const app = new DemoApp(source.as("app", "admin") as unknown as DemoCluster);

  const ready = seedSource(source as unknown as DemoCluster).then(() => {
    clockOffsetMs = 0;
  });

  const handlers: Record<SeedRequest["op"], (req: any) => Promise<unknown>> = {
    ready: async () => undefined,
    startApp: async (req: { intervalMs: number }) => app.start(req.intervalMs),
    burst: async (req: { rounds: number }) => {
      await app.burst(req.rounds);
      return { ...app.stats };
    },
    stopApp: async () => app.stop(),
    summaries: async () => summarizeBoth(source as unknown as DemoCluster, target as unknown as DemoCluster),
    writesBlocked: async () => source.writesBlocked,
  };

  // The demo owns this process: when it goes away (finished, failed, Ctrl-C), so does the host.
  process.on("disconnect", () => process.exit(0));

  process.on("message", (req: SeedRequest) => {
    void (async () => {
      let reply: SeedReply;
      try {
        await ready;
        reply = { id: req.id, ok: true, value: await handlers[req.op](req) };
      } catch (err) {
        reply = { id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) };
      }
      process.send!(reply);
    })();
  });
}

main();
