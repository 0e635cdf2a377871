// The Atlas cluster a migration writes into: a new dedicated, M0 or flex cluster, or an existing one.
import * as pulumi from "@pulumi/pulumi";
import * as mongodbatlas from "@pulumi/mongodbatlas";

export interface NewClusterArgs {
  name: pulumi.Input<string>;
  /** "M0", "FLEX", or a dedicated size such as "M10". */
  tier: string;
  /** Cloud provider: "AWS", "GCP" or "AZURE". */
  provider: pulumi.Input<string>;
  /** Atlas region name, e.g. "EU_WEST_1". */
  region: pulumi.Input<string>;
  /** Major version for dedicated clusters, e.g. "8.0"; must be at least the source's. */
  mongoDbMajorVersion?: pulumi.Input<string>;
  diskSizeGb?: pulumi.Input<number>;
  /** Shards for a sharded target (dedicated tiers only); omit for a replica set. */
  shards?: number;
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

/** Tiers Atlas serves from shared infrastructure; live migration tools do not accept them as targets. */
const FREE_OR_SHARED = new Set(["M0", "M2", "M5"]);

export class TargetCluster extends pulumi.ComponentResource {
  readonly clusterName: pulumi.Output<string>;
  readonly tier: string | undefined;
  /** `mongodb+srv://host` without credentials. */
  readonly standardSrv: pulumi.Output<string>;

  constructor(name: string, args: TargetClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("atlas-migration:index:TargetCluster", name, {}, opts);
    if (!!args.cluster === (args.existingClusterName !== undefined)) {
      throw new Error(`${name}: target needs exactly one of cluster (create one) or existingClusterName (use one)`);
    }
    const child = { parent: this };
    if (args.cluster) {
      const c = args.cluster;
      const tier = c.tier.toUpperCase();
      this.tier = tier;
      if (tier === "FLEX") {
        const flex = new mongodbatlas.FlexCluster(
          `${name}-flex`,
          { projectId: args.projectId, name: c.name, providerSettings: { backingProviderName: c.provider, regionName: c.region } },
          child,
        );
        this.clusterName = flex.name;
        this.standardSrv = flex.connectionStrings.standardSrv;
      } else {
        const shared = FREE_OR_SHARED.has(tier);
        const shards = c.shards ?? 0;
        if (shards > 0 && shared) throw new Error(`${name}: ${tier} clusters cannot be sharded; choose M30 or larger for shards`);
        const regionConfig = shared
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
            mongoDbMajorVersion: shared ? undefined : c.mongoDbMajorVersion,
            // One replication spec per shard (the current AdvancedCluster schema).
            replicationSpecs: Array.from({ length: Math.max(1, shards) }, () => ({ regionConfigs: [regionConfig] })),
          },
          child,
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
