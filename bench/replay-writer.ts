// The replay bench's sustained writer, in a worker thread of its own: the application writing to the source and
// the source serializing each change event (work a real source does in its own process, not in the one that
// replays). Open loop: `rate` writes/s on a fixed schedule for `seconds`; it owes at most 250 ms of writes, and
// what it could not issue beyond that is dropped and reported, so it never tries to catch up forever.
//
// Each write is a whole-document replace of document (n mod docs), carrying its wall time `w` (ms since the
// epoch, performance.timeOrigin + now(), the same clock in every thread) for the lag. The events go to the main
// thread as serialized BSON in one transferred buffer per post, appended to the source's change log as they
// are (bench/ports/change-stream-port.ts appendEncoded): the replay side pays only the driver's decode of each.
// The source's stored documents are not updated: replay reads only events (each carries its fullDocument).
import { performance } from "perf_hooks";
import { parentPort, workerData } from "worker_threads";
import { BSON, Timestamp } from "mongodb";
import { makeDoc } from "./builtin";

export interface WriterInput {
  rate: number;
  seconds: number;
  /** The value `v` of the first write, and the number of distinct documents written to. */
  firstValue: number;
  docs: number;
  db: string;
  coll: string;
  /** The source log's last sequence number and clusterTime (t, i) before the writer starts. */
  lastSeq: number;
  lastT: number;
  lastI: number;
}

export interface WriterOutput {
  written: number;
  dropped: number;
  seconds: number;
}

const now = (): number => performance.timeOrigin + performance.now();
const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function run(input: WriterInput): Promise<WriterOutput> {
  let seq = input.lastSeq;
  let t = input.lastT;
  let i = input.lastI;
  const tick = (): Timestamp => {
    const s = Math.floor(Date.now() / 1000);
    if (s > t) [t, i] = [s, 1];
    else i++;
    return new Timestamp({ t, i });
  };
  const start = performance.now();
  const end = start + input.seconds * 1000;
  const maxOwed = Math.max(1, Math.ceil(input.rate / 4));
  let scheduled = 0;
  let written = 0;
  let dropped = 0;
  while (performance.now() < end) {
    const due = Math.floor(((performance.now() - start) / 1000) * input.rate);
    let owed = due - scheduled;
    if (owed > maxOwed) {
      dropped += owed - maxOwed;
      scheduled += owed - maxOwed;
      owed = maxOwed;
    }
    if (owed > 0) {
      const n = Math.min(owed, 500);
      const w = now();
      const parts: Uint8Array[] = [];
      const ends = new Int32Array(n);
      const times = new Uint32Array(2 * n);
      let size = 0;
      for (let k = 0; k < n; k++) {
        const v = input.firstValue + written + k;
        const id = v % input.docs;
        const clusterTime = tick();
        const event = {
          _id: { _data: (++seq).toString(16).padStart(16, "0") },
          operationType: "replace",
          clusterTime,
          wallTime: new Date(),
          fullDocument: { ...makeDoc(id, 200), v, w },
          ns: { db: input.db, coll: input.coll },
          documentKey: { _id: id },
        };
        const bytes = BSON.serialize(event, { checkKeys: false, ignoreUndefined: false });
        parts.push(bytes);
        size += bytes.length;
        ends[k] = size;
        times[2 * k] = t;
        times[2 * k + 1] = i;
      }
      const all = new Uint8Array(size);
      let at = 0;
      for (const part of parts) {
        all.set(part, at);
        at += part.length;
      }
      parentPort!.postMessage({ bytes: all, ends, times }, [all.buffer, ends.buffer, times.buffer]);
      scheduled += n;
      written += n;
    }
    await pause(1);
  }
  return { written, dropped, seconds: (performance.now() - start) / 1000 };
}

if (parentPort && workerData) {
  run(workerData as WriterInput).then(
    (out) => parentPort!.postMessage({ done: out }),
    (err: unknown) => parentPort!.postMessage({ error: String((err as Error)?.stack ?? err) }),
  );
}
