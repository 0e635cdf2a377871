import { backoffDelayMs, nextDelayMs, parseRetryAfter, retryWithBackoff, type AttemptOutcome } from "../../../provider/engines/http/retry";
import { makeContext } from "../../support/context";

const policy = { initialDelayMs: 1000, maxDelayMs: 8000, maxAttempts: Infinity };

describe("retry/backoff", () => {
  test("full jitter stays inside the doubling bound and caps at maxDelayMs", () => {
    expect(backoffDelayMs(0, policy, () => 0.999)).toBe(999);
    expect(backoffDelayMs(2, policy, () => 0.5)).toBe(2000);
    expect(backoffDelayMs(10, policy, () => 0.5)).toBe(4000);
    expect(backoffDelayMs(3, policy, () => 0)).toBe(0);
  });

  test("Retry-After: seconds, HTTP-date, garbage, absent", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("7", now)).toBe(7000);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 23:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter("", now)).toBeUndefined();
  });

  test("the server's Retry-After is a floor, our backoff can only lengthen it", () => {
    expect(nextDelayMs(0, 5000, policy, () => 0.9)).toBe(5000);
    expect(nextDelayMs(3, 1000, policy, () => 0.9)).toBe(7200);
  });

  test("retries until done, sleeping on the injected clock", async () => {
    const ctx = makeContext();
    const start = ctx.now();
    const outcomes: Array<AttemptOutcome<string>> = [
      { kind: "retry", error: new Error("429"), retryAfterMs: 3000 },
      { kind: "retry", error: new Error("500") },
      { kind: "done", value: "ok" },
    ];
    const seen: number[] = [];
    const value = await retryWithBackoff(async (n) => { seen.push(n); return outcomes[n - 1]; }, {
      clock: ctx, deadline: ctx.deadline, policy, random: () => 0.5, onRetry: () => undefined,
    });
    expect(value).toBe("ok");
    expect(seen).toEqual([1, 2, 3]);
    expect(ctx.now() - start).toBe(3000 + 1000);
  });

  test("a fatal outcome is thrown at once", async () => {
    const ctx = makeContext();
    const fatal = new Error("400");
    let calls = 0;
    await expect(retryWithBackoff(async () => { calls++; return { kind: "fatal", error: fatal }; }, { clock: ctx, deadline: ctx.deadline }))
      .rejects.toBe(fatal);
    expect(calls).toBe(1);
  });

  test("gives up before a wait that would cross the deadline, without sleeping past it", async () => {
    const ctx = makeContext({ deadlineMs: 10_000 });
    let calls = 0;
    const infos: unknown[] = [];
    const err = await retryWithBackoff(async () => { calls++; return { kind: "retry", error: new Error("429"), retryAfterMs: 4000 }; }, {
      clock: ctx, deadline: ctx.deadline, policy, random: () => 0,
      giveUp: (last, info) => { infos.push(info); return new Error(`gave up: ${(last as Error).message}`); },
    }).catch((e: Error) => e);
    expect((err as Error).message).toBe("gave up: 429");
    expect(calls).toBe(3); // t=0, t=4 s, t=8 s; the next wait would end at 12 s > 10 s
    expect(infos).toEqual([{ attempts: 3, reason: "deadline", nextDelayMs: 4000 }]);
    expect(ctx.now()).toBeLessThanOrEqual(ctx.deadline);
  });

  test("maxAttempts bounds the attempts", async () => {
    const ctx = makeContext();
    let calls = 0;
    const err = await retryWithBackoff(async () => { calls++; return { kind: "retry", error: "x" }; }, {
      clock: ctx, deadline: ctx.deadline, policy: { maxAttempts: 2 }, giveUp: (_e, info) => info,
    }).catch((e) => e);
    expect(calls).toBe(2);
    expect(err).toEqual({ attempts: 2, reason: "attempts" });
  });
});
