// MongoClusterPort: placeholder until the driver adapter lands (next commit).
import type { ClusterPort } from "./port";
import type { OpenClusterOptions } from "./open";

export class MongoClusterPort {
  static async connect(_uri: string, _options: OpenClusterOptions = {}): Promise<ClusterPort> {
    throw new Error("MongoClusterPort is not implemented yet");
  }
}
