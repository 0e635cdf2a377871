// The Atlas cluster a migration writes into: a new dedicated, M0 or flex cluster, or an existing one.
//
// What Atlas would refuse (or silently do differently) is refused here, at construction, so `pulumi preview`
// shows it before anything is created. Each rule names the Atlas page it comes from.
import * as pulumi from "@pulumi/pulumi";
import * as mongodbatlas from "@pulumi/mongodbatlas";

export interface NewClusterArgs {
  name: pulumi.Input<string>;
  /** "M0", "FLEX", or a dedicated size such as "M10". (M2/M5 no longer exist: use "FLEX".) */
  tier: string;
  /** Cloud provider: "AWS", "GCP" or "AZURE". */
  provider: pulumi.Input<string>;
  /** Atlas region name, e.g. "EU_WEST_1". */
  region: pulumi.Input<string>;
  /** Major version for dedicated clusters, e.g. "8.0"; must be at least the source's. Not for M0/FLEX. */
  mongoDbMajorVersion?: pulumi.Input<string>;
  /** Storage for dedicated clusters. Not for M0/FLEX. */
  diskSizeGb?: pulumi.Input<number>;
  /** Shards for a sharded target (M30 and larger only); omit for a replica set. */
  shards?: number;
  /**
   * Keeps the application's data when the stack is destroyed (default true): Atlas termination protection
   * is turned on (dedicated and flex clusters), and the cluster (and a project this component created) is
   * left in Atlas by `pulumi destroy` (`retainOnDelete`). Set false only for throw-away targets.
   */
  deletionProtection?: boolean;
}

export interface TargetClusterArgs {
  projectId: pulumi.Input<string>;
  /** Create a cluster… */
  cluster?: NewClusterArgs;
  /** …or use one that exists. */
  existingClusterName?: pulumi.Input<string>;
  /** Tier of the existing cluster when known ("M0", "FLEX", "M10"…): lets `engine: "auto"` and preflight decide. */
  existingClusterTier?: string;
}

/** Cloud providers Atlas deploys to (the `providerName`/`backingProviderName` enum of the v2 cluster spec). */
const PROVIDERS = new Set(["AWS", "GCP", "AZURE"]);

/** What the rules found: errors refuse the program, notes are things only Atlas can check (logged as warnings). */
export interface ClusterVerdict {
  errors: string[];
  notes: string[];
}

/**
 * The offline rules for a new cluster. Pure: the component throws the errors and logs the notes.
 * `projectIsNew` says whether the project is created by the same component (then it holds no other M0).
 */
export function checkNewCluster(c: NewClusterArgs, projectIsNew: boolean): ClusterVerdict {
  const errors: string[] = [];
  const notes: string[] = [];
  const tier = String(c.tier ?? "").toUpperCase();
  const shards = c.shards ?? 0;
  if (!/^(M\d+|FLEX)$/.test(tier)) {
    errors.push(`tier "${c.tier}" is not an Atlas tier: write "M0", "FLEX", or a dedicated size such as "M10" or "M30"`);
    return { errors, notes };
  }
  if (typeof c.provider === "string" && !PROVIDERS.has(c.provider.toUpperCase())) {
    errors.push(`provider "${c.provider}" is not one Atlas deploys to: write "AWS", "GCP" or "AZURE"`);
  }
  if (!Number.isInteger(shards) || shards < 0 || shards > 50) {
    // https://www.mongodb.com/docs/atlas/cluster-config/sharded-cluster/ — "between 1 and 50 shards, inclusive".
    errors.push(`shards must be a whole number from 1 to 50 (or left out for a replica set), not ${String(c.shards)}`);
  }
  if (tier === "M2" || tier === "M5") {
    // https://www.mongodb.com/docs/atlas/tutorial/create-new-cluster/ — "As of February 2025, you can create Flex
    // clusters, and can no longer create M2 and M5 clusters"; the createCluster API turns M2/M5 into Flex.
    errors.push(`Atlas no longer creates ${tier} clusters (they became Flex clusters in February 2025): set tier: "FLEX"`);
    return { errors, notes };
  }
  if (tier === "FLEX" || tier === "M0") {
    const what = tier === "FLEX" ? "Flex clusters" : "M0 clusters";
    // https://www.mongodb.com/docs/atlas/reference/flex-limitations/ and …/free-shared-limitations/: no sharded
    // clusters, MongoDB version chosen (and upgraded) by Atlas, storage size not configurable.
    if (shards > 0) errors.push(`${what} cannot be sharded; choose M30 or larger for shards, or leave shards out`);
    if (c.mongoDbMajorVersion !== undefined)
      errors.push(`${what} run the MongoDB version Atlas chooses (8.0 today) and would ignore mongoDbMajorVersion: leave it out, or choose a dedicated tier (M10+) to pick a version`);
    if (c.diskSizeGb !== undefined)
      errors.push(`${what} have a fixed storage size and would ignore diskSizeGb: leave it out, or choose a dedicated tier (M10+)`);
  }
  if (tier === "M0") {
    // https://www.mongodb.com/docs/atlas/reference/free-shared-limitations/ — one M0 per project; only a subset
    // of each provider's regions offers M0. The region list is Atlas's and changes: Atlas checks it at create.
    if (!projectIsNew) notes.push("Atlas allows one M0 cluster per project: creating it fails if the project already has one");
    notes.push(`only some ${typeof c.provider === "string" ? c.provider : "provider"} regions offer M0 clusters; Atlas checks region ${typeof c.region === "string" ? c.region : "(unknown yet)"} when it creates the cluster`);
  } else if (tier !== "FLEX") {
    const size = Number(tier.slice(1));
    // https://www.mongodb.com/docs/atlas/cluster-config/sharded-cluster/ — "Shard your cluster (M30 and up)";
    // https://www.mongodb.com/docs/atlas/manage-clusters/ — M10 and M20 support replica sets only.
    if (shards > 0 && size < 30) errors.push(`Atlas shards only M30 and larger clusters, not ${tier}: set tier: "M30" (or larger), or leave shards out`);
  }
  return { errors, notes };
}

/** Programs may create at most one M0 per literal project id (Atlas's rule); tracked per process. */
const m0Projects = new Set<string>();

export class TargetCluster extends pulumi.ComponentResource {
  readonly clusterName: pulumi.Output<string>;
  readonly tier: string | undefined;
  /** `mongodb+srv://host` without credentials. */
  readonly standardSrv: pulumi.Output<string>;
  /** Whether the cluster is kept by `pulumi destroy` (deletionProtection). */
  readonly retained: boolean;

  constructor(
    name: string,
    args: TargetClusterArgs & { projectIsNew?: boolean; literalProjectId?: string },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super("atlas-migration:index:TargetCluster", name, {}, opts);
    if (!!args.cluster === (args.existingClusterName !== undefined)) {
      throw new Error(`${name}: target needs exactly one of cluster (create one) or existingClusterName (use one)`);
    }
    const child = { parent: this };
    this.retained = false;
    if (args.cluster) {
      const c = args.cluster;
      const tier = String(c.tier).toUpperCase();
      const verdict = checkNewCluster(c, args.projectIsNew === true);
      const literal = args.literalProjectId ?? (typeof args.projectId === "string" ? args.projectId : undefined);
      if (tier === "M0" && literal !== undefined) {
        if (m0Projects.has(literal)) verdict.errors.push(`project ${literal} already gets an M0 cluster in this program, and Atlas allows one M0 per project`);
        m0Projects.add(literal);
      }
      if (verdict.errors.length) throw new Error(`${name}: ${verdict.errors.join("; ")}`);
      for (const note of verdict.notes) pulumi.log.warn(`${name}: ${note}`, this);
      this.tier = tier;
      const protect = c.deletionProtection ?? true;
      this.retained = protect;
      // The cluster holds the application's data after cutover: `pulumi destroy` leaves it in Atlas unless the
      // user turned deletionProtection off (then destroy deletes it, as they asked).
      const clusterOpts: pulumi.CustomResourceOptions = protect ? { parent: this, retainOnDelete: true } : { parent: this };
      if (tier === "FLEX") {
        const flex = new mongodbatlas.FlexCluster(
          `${name}-flex`,
          {
            projectId: args.projectId,
            name: c.name,
            providerSettings: { backingProviderName: c.provider, regionName: c.region },
            terminationProtectionEnabled: protect,
          },
          clusterOpts,
        );
        this.clusterName = flex.name;
        this.standardSrv = flex.connectionStrings.standardSrv;
      } else {
        const free = tier === "M0";
        const shards = c.shards ?? 0;
        const regionConfig = free
          ? { providerName: "TENANT", backingProviderName: c.provider, regionName: c.region, priority: 7, electableSpecs: { instanceSize: tier } }
          : {
              providerName: c.provider,
              regionName: c.region,
              priority: 7,
              electableSpecs: { instanceSize: tier, nodeCount: 3, diskSizeGb: c.diskSizeGb },
            };
        const cluster = new mongodbatlas.AdvancedCluster(
          `${name}-cluster`,
          {
            projectId: args.projectId,
            name: c.name,
            clusterType: shards > 0 ? "SHARDED" : "REPLICASET",
            mongoDbMajorVersion: free ? undefined : c.mongoDbMajorVersion,
            // One replication spec per shard (the current AdvancedCluster schema).
            replicationSpecs: Array.from({ length: Math.max(1, shards) }, () => ({ regionConfigs: [regionConfig] })),
            // UNCONFIRMED whether Atlas accepts termination protection on M0 (the UI offers it only for paid
            // clusters): M0 relies on retainOnDelete alone.
            terminationProtectionEnabled: free ? undefined : protect,
          },
          clusterOpts,
        );
        this.clusterName = cluster.name;
        this.standardSrv = cluster.connectionStrings.standardSrv;
      }
    } else {
      this.tier = args.existingClusterTier?.toUpperCase();
      const existing = mongodbatlas.getAdvancedClusterOutput({ projectId: args.projectId, name: args.existingClusterName! }, child);
      this.clusterName = existing.name;
      this.standardSrv = existing.connectionStrings.standardSrv;
    }
    this.registerOutputs({ clusterName: this.clusterName, standardSrv: this.standardSrv });
  }
}

/** The SRV connection string with a database user's credentials in it (percent-encoded). A secret. */
export function connectionStringWithUser(
  standardSrv: pulumi.Input<string>,
  username: pulumi.Input<string>,
  password: pulumi.Input<string>,
): pulumi.Output<string> {
  return pulumi.secret(
    pulumi.all([standardSrv, username, password]).apply(([srv, user, pass]) => {
      const scheme = srv.startsWith("mongodb+srv://") ? "mongodb+srv://" : "mongodb://";
      const rest = srv.slice(scheme.length);
      const sep = rest.includes("/") ? "" : "/";
      return `${scheme}${encodeURIComponent(user)}:${encodeURIComponent(pass)}@${rest}${sep}`;
    }),
  );
}
