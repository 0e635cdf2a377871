// Shared by the provider-level fault tables (tests/engines/*/provider-faults.test.ts): the lifecycle steps,
// per-step API call counting, the two rejection shapes Pulumi distinguishes, a secret check on everything a
// case printed or threw, and the printed call table.

export type Step = "create" | "read" | "update(cutover)" | "delete";
export type Calls = Record<string, number>;
export const STEPS: Step[] = ["create", "read", "update(cutover)", "delete"];

export interface CallTableRow {
  name: string;
  calls: Partial<Record<Step, Calls>>;
  note: string;
}

/** What a fault table file needs from its emulator: where its request log is and how to count from an index. */
export interface CallCounter {
  requestCount(): number;
  callsSince(from: number): Calls;
}

/**
 * Log lines and rejection messages of the current test, reset before each test and checked after it for
 * every secret `secrets()` names. The arrays are the same objects for the whole file.
 */
export function watchProviderOutput(secrets: () => string[]): { logged: string[]; messages: string[] } {
  const out = { logged: [] as string[], messages: [] as string[] };
  beforeEach(() => {
    out.logged.length = 0;
    out.messages.length = 0;
    // Full-jitter backoff then waits 0 ms: fast, and no timed assertion needed.
    jest.spyOn(Math, "random").mockReturnValue(0);
    jest.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
      out.logged.push(args.join(" "));
    });
  });
  afterEach(() => {
    jest.restoreAllMocks();
    const everything = [...out.logged, ...out.messages].join("\n");
    for (const secret of secrets()) expect(everything).not.toContain(secret);
  });
  return out;
}

/** Runs one lifecycle step, recording its API calls in `row`; returns the result or the rejection. */
export async function recordStep<T>(
  counter: CallCounter,
  messages: string[],
  row: Partial<Record<Step, Calls>>,
  name: Step,
  run: () => Promise<T>,
): Promise<{ ok: T } | { err: any }> {
  const from = counter.requestCount();
  try {
    return { ok: await run() };
  } catch (err) {
    messages.push(String((err as Error).message));
    return { err };
  } finally {
    row[name] = counter.callsSince(from);
  }
}

/** actual − baseline per operation, zeros left out. */
export function diffCalls(actual: Calls, baseline: Calls): Calls {
  const out: Calls = {};
  for (const op of new Set([...Object.keys(actual), ...Object.keys(baseline)])) {
    const d = (actual[op] ?? 0) - (baseline[op] ?? 0);
    if (d !== 0) out[op] = d;
  }
  return out;
}

/** A rejection that keeps nothing: no id, no properties (Pulumi records no resource). */
export function expectNothingKept(err: any): void {
  expect(err).toBeInstanceOf(Error);
  expect(err.id).toBeUndefined();
  expect(err.properties).toBeUndefined();
}

/** The partial-initialization shape: Pulumi keeps the resource with these properties; the next `up` updates. */
export function expectPartialShape(err: any, phase: string): void {
  expect(err).not.toBeInstanceOf(Error);
  expect(err.id).toEqual(expect.any(String));
  expect(err.reasons).toEqual([err.message]);
  expect(err.properties.phase).toBe(phase);
}

/** Prints the API calls per lifecycle step, one row per case. */
export function printCallTable(title: string, rows: CallTableRow[], shortNames: Record<string, string> = {}, width = 58): void {
  const fmt = (c?: Calls) => (c ? Object.entries(c).map(([op, n]) => `${shortNames[op] ?? op}:${n}`).join(" ") || "-" : "(not run)");
  const lines = rows.map((r) => `  ${r.name.padEnd(width)} | ${STEPS.map((s) => `${s} ${fmt(r.calls[s])}`).join(" | ")}${r.note ? `  [${r.note}]` : ""}`);
  process.stdout.write(`${title}\n${lines.join("\n")}\n`);
}
