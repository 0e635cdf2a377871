// A single-node replica set on a real mongod (tier 2), started with mongodb-memory-server-core from
// MONGOMS_SYSTEM_BINARY or the mongod on PATH. Required lazily: only gated suites call this.
import { mongodTier } from "./tiers";

export interface ReplSetLike {
  getUri(): string;
  stop(options?: unknown): Promise<unknown>;
}

export async function startReplicaSet(): Promise<ReplSetLike> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { MongoMemoryReplSet } = require("mongodb-memory-server-core") as {
    MongoMemoryReplSet: { create(options: unknown): Promise<ReplSetLike> };
  };
  return MongoMemoryReplSet.create({
    replSet: { count: 1, storageEngine: "wiredTiger" },
    binary: { systemBinary: process.env.MONGOMS_SYSTEM_BINARY || mongodTier().binary },
  });
}
