// A MongoDB wire-protocol stand-in for one thing: a cluster-wide change stream, as the real `mongodb` driver
// sees it over a socket. No mongod can run here, and FerretDB has no change streams; what this answers is what
// mongod answers for these commands, and every getMore is recorded, so a test can see what the driver sent.
//
//   framing    the standard message header (messageLength, requestID, responseTo, opCode, little-endian);
//              OP_QUERY (2004) answered with OP_REPLY (1) for the driver's legacy handshake, OP_MSG (2013)
//              with one kind-0 body section otherwise (the wire protocol reference, "OP_MSG")
//   hello      a replica-set primary of set "rs0", wire version 21 (7.0), sessions on; no topologyVersion, so the
//              driver's monitor polls instead of streaming (server discovery and monitoring spec)
//   aggregate  `$changeStream` first: a cursor whose firstBatch is every event already logged after the start,
//              returned without waiting (an aggregate never awaits data), with postBatchResumeToken
//   getMore    awaitData, as mongod's getmore_cmd.cpp: events waiting are returned at once; otherwise the reply
//              waits until one is logged or maxTimeMS passes — 1 s when maxTimeMS is absent or 0 — and returns as
//              soon as there is a result. A getMore on an unknown or killed cursor fails with CursorNotFound (43)
//   other      ping, buildInfo (7.0.12), listCommands (none listed), killCursors, endSessions; anything else
//              fails with CommandNotFound (59), as mongod does for a command it does not know; an aggregate
//              without `$changeStream` is refused (BadValue), not run.
import { createServer, type Server, type Socket } from "net";
import { BSON, Long, Timestamp, type Document } from "mongodb";

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;

export interface GetMoreRecord {
  cursorId: bigint;
  /** The getMore's maxTimeMS as sent; undefined when the driver left it out. */
  maxTimeMS: number | undefined;
}

interface OpenCursor {
  /** Index of the next event to deliver. */
  next: number;
}

export class ChangeStreamWireStandIn {
  readonly getMores: GetMoreRecord[] = [];
  readonly aggregates: Document[] = [];
  private readonly events: Document[] = [];
  private readonly cursors = new Map<bigint, OpenCursor>();
  private readonly waiters = new Set<() => void>();
  private readonly sockets = new Set<Socket>();
  private nextCursorId = 1000n;
  private server: Server | undefined;
  private port = 0;
  private seconds = 1_700_000_000;
  private connectionId = 0;

  async start(): Promise<string> {
    this.server = createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as { port: number }).port;
    return `mongodb://127.0.0.1:${this.port}/?directConnection=true&serverSelectionTimeoutMS=2000`;
  }

  async stop(): Promise<void> {
    for (const wake of [...this.waiters]) wake();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The cluster time the next event gets. */
  now(): Timestamp {
    return new Timestamp({ t: this.seconds, i: this.events.length + 1 });
  }

  /** Logs an insert event (visible to open streams at once) and wakes awaiting getMores. */
  insert(db: string, coll: string, doc: Document): void {
    const seq = this.events.length + 1;
    this.events.push({
      _id: { _data: this.token(seq) },
      operationType: "insert",
      clusterTime: new Timestamp({ t: this.seconds, i: seq }),
      wallTime: new Date(),
      ns: { db, coll },
      documentKey: { _id: doc._id },
      fullDocument: doc,
    });
    for (const wake of [...this.waiters]) wake();
  }

  private token(seq: number): string {
    return seq.toString(16).padStart(16, "0");
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => undefined);
    let buffered = Buffer.alloc(0);
    socket.on("data", (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4 && buffered.length >= buffered.readInt32LE(0)) {
        const length = buffered.readInt32LE(0);
        const message = buffered.subarray(0, length);
        buffered = buffered.subarray(length);
        void this.answer(socket, message);
      }
    });
  }

  private async answer(socket: Socket, message: Buffer): Promise<void> {
    const requestId = message.readInt32LE(4);
    const opCode = message.readInt32LE(12);
    if (opCode === OP_QUERY) {
      // flags, fullCollectionName (cstring), numberToSkip, numberToReturn, query
      let at = 20;
      while (message[at] !== 0) at++;
      at += 1 + 8;
      const query = BSON.deserialize(message.subarray(at), { promoteLongs: false });
      this.send(socket, OP_REPLY, requestId, await this.run(query));
      return;
    }
    if (opCode !== OP_MSG) {
      socket.destroy();
      return;
    }
    const flags = message.readUInt32LE(16);
    let body: Document | undefined;
    const end = flags & 1 ? message.length - 4 : message.length;
    for (let at = 20; at < end; ) {
      const kind = message[at];
      if (kind === 0) {
        const size = message.readInt32LE(at + 1);
        body = BSON.deserialize(message.subarray(at + 1, at + 1 + size), { promoteLongs: false });
        at += 1 + size;
      } else {
        at += 1 + message.readInt32LE(at + 1);
      }
    }
    const reply = await this.run(body ?? {});
    if (!(flags & 2)) this.send(socket, OP_MSG, requestId, reply); // moreToCome: no reply expected
  }

  private send(socket: Socket, opCode: number, responseTo: number, doc: Document): void {
    if (socket.destroyed) return;
    const bson = Buffer.from(BSON.serialize(doc));
    const head = Buffer.alloc(16);
    const prefix = opCode === OP_REPLY ? Buffer.alloc(20) : Buffer.alloc(5);
    if (opCode === OP_REPLY) prefix.writeInt32LE(1, 16); // numberReturned
    head.writeInt32LE(16 + prefix.length + bson.length, 0);
    head.writeInt32LE(Math.floor(Math.random() * 1e9), 4);
    head.writeInt32LE(responseTo, 8);
    head.writeInt32LE(opCode, 12);
    socket.write(Buffer.concat([head, prefix, bson]));
  }

  private async run(cmd: Document): Promise<Document> {
    const name = Object.keys(cmd)[0];
    switch (name) {
      case "hello":
      case "isMaster":
      case "ismaster": {
        const me = `127.0.0.1:${this.port}`;
        return {
          helloOk: true,
          ismaster: true,
          isWritablePrimary: true,
          setName: "rs0",
          setVersion: 1,
          hosts: [me],
          primary: me,
          me,
          maxBsonObjectSize: 16 * 1024 * 1024,
          maxMessageSizeBytes: 48_000_000,
          maxWriteBatchSize: 100_000,
          localTime: new Date(),
          logicalSessionTimeoutMinutes: 30,
          connectionId: ++this.connectionId,
          minWireVersion: 0,
          maxWireVersion: 21,
          readOnly: false,
          ok: 1,
        };
      }
      case "ping":
      case "endSessions":
        return { ok: 1 };
      case "buildInfo":
        return { version: "7.0.12", versionArray: [7, 0, 12, 0], ok: 1 };
      case "listCommands":
        return { commands: {}, ok: 1 };
      case "aggregate":
        return this.aggregate(cmd);
      case "getMore":
        return this.getMore(cmd);
      case "killCursors": {
        const ids = (cmd.cursors as Long[]).map((id) => BigInt(id.toString()));
        for (const id of ids) this.cursors.delete(id);
        return { cursorsKilled: cmd.cursors, cursorsNotFound: [], cursorsAlive: [], cursorsUnknown: [], ok: 1 };
      }
      default:
        return { ok: 0, code: 59, codeName: "CommandNotFound", errmsg: `no such command: '${name}'` };
    }
  }

  private aggregate(cmd: Document): Document {
    this.aggregates.push(cmd);
    const stage = (cmd.pipeline as Document[])[0]?.$changeStream as Document | undefined;
    // Not mongod's answer (mongod would run the pipeline): refused so a test cannot pass on a stage nobody serves.
    if (!stage) return { ok: 0, code: 2, codeName: "BadValue", errmsg: "this stand-in serves $changeStream aggregates only" };
    let next = this.events.length;
    if (stage.startAtOperationTime) {
      const start = stage.startAtOperationTime as Timestamp;
      next = this.events.findIndex((e) => (e.clusterTime as Timestamp).compare(start) >= 0);
      if (next < 0) next = this.events.length;
    } else if (stage.resumeAfter) {
      next = Number.parseInt(String((stage.resumeAfter as { _data: string })._data), 16);
    }
    const id = ++this.nextCursorId;
    const cursor = { next };
    this.cursors.set(id, cursor);
    return { cursor: { firstBatch: this.take(cursor), id: Long.fromBigInt(id), ns: "admin.$cmd.aggregate", postBatchResumeToken: { _data: this.token(cursor.next) } }, ok: 1 };
  }

  private take(cursor: OpenCursor): Document[] {
    const out = this.events.slice(cursor.next);
    cursor.next = this.events.length;
    return out;
  }

  private async getMore(cmd: Document): Promise<Document> {
    const id = BigInt((cmd.getMore as Long).toString());
    const maxTimeMS = cmd.maxTimeMS === undefined ? undefined : Number(cmd.maxTimeMS);
    this.getMores.push({ cursorId: id, maxTimeMS });
    const cursor = this.cursors.get(id);
    if (!cursor) return { ok: 0, code: 43, codeName: "CursorNotFound", errmsg: `cursor id ${id} not found` };
    if (cursor.next >= this.events.length) {
      const wait = maxTimeMS ? maxTimeMS : 1000;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, wait);
        this.waiters.add(done);
      });
    }
    return { cursor: { nextBatch: this.take(cursor), id: Long.fromBigInt(id), ns: "admin.$cmd.aggregate", postBatchResumeToken: { _data: this.token(cursor.next) } }, ok: 1 };
  }
}
