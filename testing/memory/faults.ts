// Fault injection: make the next N calls of an operation fail with a chosen error.
//
// Operation names are the ClusterPort method names, plus "nextBatch" (a change cursor's batch fetch),
// "scanBatch" (each batch of a scan after the first call) and "checkpoint.get|put|compareAndSet|clear".
// A fault can strike before the operation runs (the usual case) or after it has taken effect — the
// "lost acknowledgement" case, where a write happened but the caller saw an error and will retry it.

import type { ClusterPort } from "../../provider/cluster/port";
import { networkError } from "./errors";

export type FaultOperation =
  | Exclude<keyof ClusterPort, "description">
  | "nextBatch"
  | "scanBatch"
  | "checkpoint.get"
  | "checkpoint.put"
  | "checkpoint.compareAndSet"
  | "checkpoint.clear";

export interface FaultOptions {
  /** Let this many calls through first (e.g. fail the third scan batch: `{ skip: 2 }`). Default 0. */
  skip?: number;
  /** "before" (default): the operation does not run. "after": it runs, then the caller gets the error. */
  when?: "before" | "after";
}

interface PendingFault {
  remainingSkips: number;
  remainingFailures: number;
  when: "before" | "after";
  makeError: () => Error;
}

export class FaultInjector {
  private readonly pending = new Map<string, PendingFault[]>();
  private readonly injectedCounts = new Map<string, number>();

  /** The next `count` calls of `operation` fail with `makeError()` (a network error by default). */
  failNext(operation: FaultOperation, count = 1, makeError: () => Error = () => networkError(), options: FaultOptions = {}): void {
    const list = this.pending.get(operation) ?? [];
    list.push({ remainingSkips: options.skip ?? 0, remainingFailures: count, when: options.when ?? "before", makeError });
    this.pending.set(operation, list);
  }

  /** Removes every pending fault. */
  clear(): void {
    this.pending.clear();
  }

  /** How many errors were injected for an operation so far (for tests that check a retry happened). */
  injected(operation: FaultOperation): number {
    return this.injectedCounts.get(operation) ?? 0;
  }

  /** Pending faults not yet fired, per operation. */
  pendingCount(operation: FaultOperation): number {
    return (this.pending.get(operation) ?? []).reduce((n, f) => n + f.remainingFailures, 0);
  }

  /**
   * Called at the start of an operation: throws now for a "before" fault, returns an error to throw after
   * the operation took effect for an "after" fault, or undefined.
   */
  check(operation: FaultOperation): Error | undefined {
    const list = this.pending.get(operation);
    if (!list || list.length === 0) return undefined;
    const fault = list[0];
    if (fault.remainingSkips > 0) {
      fault.remainingSkips--;
      return undefined;
    }
    fault.remainingFailures--;
    if (fault.remainingFailures <= 0) list.shift();
    this.injectedCounts.set(operation, this.injected(operation) + 1);
    const err = fault.makeError();
    if (fault.when === "before") throw err;
    return err;
  }
}
