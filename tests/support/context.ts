// An EngineContext for tests: a virtual clock whose sleep advances time instantly, and a log that records lines.
import type { EngineContext, EngineCredentials } from "../../provider/engines/engine";

export interface TestContext extends EngineContext {
  lines: string[];
  /** What the engine handed over with publishSecret. */
  secrets: Record<string, string>;
  /** Advance the virtual clock without sleeping. */
  advance(ms: number): void;
}

export function makeContext(opts: { deadlineMs?: number; credentials?: EngineCredentials; realTime?: boolean } = {}): TestContext {
  let virtualNow = Date.parse("2026-01-01T00:00:00Z");
  const lines: string[] = [];
  const secrets: Record<string, string> = {};
  const realTime = opts.realTime ?? false;
  const now = () => (realTime ? Date.now() : virtualNow);
  return {
    lines,
    secrets,
    publishSecret: (name: string, value: string) => {
      secrets[name] = value;
    },
    credentials: opts.credentials ?? {},
    deadline: now() + (opts.deadlineMs ?? 10 * 60 * 1000),
    log: (line: string) => lines.push(line),
    now,
    sleep: async (ms: number) => {
      if (realTime) await new Promise((r) => setTimeout(r, ms));
      else {
        virtualNow += ms;
        await new Promise((r) => setImmediate(r));
      }
    },
    advance: (ms: number) => {
      virtualNow += ms;
    },
  };
}
