// pulumi-atlas-migration/policy: the CrossGuard rules an organisation wants on every migration stack.
//
//   pulumi preview --policy-pack node_modules/pulumi-atlas-migration/policy-pack
//
// (policy-pack/ holds the PulumiPolicy.yaml and the entry point that builds the pack from these policies; a team
// with its own pack adds `...atlasMigrationPolicies()` to its list instead.) Needs @pulumi/policy installed.
//
// The rules:
//   no-allow-all-after-cutover      0.0.0.0/0 only as a temporary entry, and gone once cutover is true
//   full-verification-in-production  a production stack cuts over with verificationMode "full"
//   target-termination-protection    the target cluster keeps Atlas termination protection on
//   migration-user-removed           the migration user is gone once the migration is COMPLETE
//   cutover-readiness                a cutover is previewed only when the stored status says it may proceed
// Each rule is also exported as a plain function over the resources (`check*`), so it can be tested and reused.
import type { Policies, PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";
import { cutoverReadiness, describeReadiness, effectiveVerification, type StoredMigrationState } from "../provider/readiness";

export const TYPES = {
  migration: "pulumi-nodejs:dynamic/atlas-migration:Migration",
  component: "atlas-migration:index:AtlasMigration",
  targetCluster: "atlas-migration:index:TargetCluster",
  accessList: "mongodbatlas:index/projectIpAccessList:ProjectIpAccessList",
  advancedCluster: "mongodbatlas:index/advancedCluster:AdvancedCluster",
  flexCluster: "mongodbatlas:index/flexCluster:FlexCluster",
  databaseUser: "mongodbatlas:index/databaseUser:DatabaseUser",
} as const;

/** The resource facts the rules look at (a PolicyResource has more; tests build these directly). */
export interface StackResource {
  type: string;
  urn: string;
  name: string;
  props: Record<string, any>;
  parent?: StackResource;
}

export interface Finding {
  message: string;
  urn: string;
}

/** Policy configuration (`pulumi preview --policy-pack-config`). */
export interface AtlasMigrationPolicyConfig {
  /** Whether this stack is production (default: true, unless the stack tag `environment` names something else). */
  production?: boolean;
}

const ALL_IPV4 = new Set(["0.0.0.0/0", "0.0.0.0"]);

/** The AtlasMigration component a resource belongs to (walks parents; falls back to the URN's type chain). */
function componentOf(r: StackResource): StackResource | undefined {
  for (let p = r.parent; p; p = p.parent) if (p.type === TYPES.component) return p;
  return undefined;
}

function componentKey(r: StackResource): string | undefined {
  const owner = componentOf(r);
  if (owner) return owner.urn;
  // URN: urn:pulumi:<stack>::<project>::<parent types $-joined>$<type>::<name>; the component's name is not in
  // a child's URN, so without parents we can only say "some AtlasMigration".
  return r.urn.includes(`${TYPES.component}$`) ? "(an AtlasMigration)" : undefined;
}

/** A Migration's state as stored outputs show it. */
function migrationState(m: StackResource): StoredMigrationState & { cutover?: boolean } {
  const p = m.props;
  return {
    phase: p.phase,
    engine: p.engine,
    lagSeconds: p.lagSeconds,
    statusCheckedAt: p.statusCheckedAt,
    startedAt: p.startedAt,
    reason: p.reason,
    progress: p.progress,
    cutover: p.cutover,
  };
}

function finishedOrFinishing(m: StackResource): boolean {
  return m.props.cutover === true || m.props.phase === "COMPLETE";
}

function allowAll(entry: StackResource): string | undefined {
  const address = entry.props.cidrBlock ?? entry.props.ipAddress;
  return typeof address === "string" && ALL_IPV4.has(address.trim()) ? address : undefined;
}

/** 0.0.0.0/0 only as a temporary entry of a migration still syncing; never once cutover is true or COMPLETE. */
export function checkNoAllowAllAfterCutover(resources: StackResource[]): Finding[] {
  const migrations = resources.filter((r) => r.type === TYPES.migration);
  const findings: Finding[] = [];
  for (const entry of resources.filter((r) => r.type === TYPES.accessList)) {
    const address = allowAll(entry);
    if (!address) continue;
    const key = componentKey(entry);
    const own = migrations.filter((m) => key !== undefined && componentKey(m) === key);
    const relevant = own.length > 0 ? own : migrations;
    if (relevant.length === 0) continue;
    const done = relevant.find(finishedOrFinishing);
    if (done) {
      findings.push({
        urn: entry.urn,
        message:
          `${entry.name} allows ${address} and the migration ${done.props.phase === "COMPLETE" ? "is COMPLETE" : "is cut over by this update"}: ` +
          "the application's database would stay open to the whole internet. List the application's own addresses and mark the allow-all entry temporary: true",
      });
      continue;
    }
    const temporary: string[] = relevant.flatMap((m) => m.props.dropsAtCutover?.accessEntries ?? []);
    if (!temporary.includes(address)) {
      findings.push({
        urn: entry.urn,
        message: `${entry.name} allows ${address} and is not temporary, so it outlives the cutover: mark it temporary: true in accessList (it is removed by the cutover \`pulumi up\`)`,
      });
    }
  }
  return findings;
}

function isProduction(config: AtlasMigrationPolicyConfig, stackTags: ReadonlyMap<string, string>): boolean {
  if (typeof config.production === "boolean") return config.production;
  const env = stackTags.get("environment") ?? stackTags.get("env");
  return env === undefined || /^prod/i.test(env);
}

/** Production stacks verify the whole copy (counts and content hashes) at cutover. */
export function checkFullVerification(migration: StackResource, production: boolean): Finding[] | "not-applicable" {
  if (!production) return "not-applicable";
  const p = migration.props;
  const engine: string | undefined = p.engine === "atlas-push" || (p.engine !== "builtin" && p.engine !== "mongosync" && p.source?.cloudManager) ? "atlas-push" : p.engine;
  // Atlas live migration verifies inside its own cutover; this package cannot compare documents there.
  if (engine === "atlas-push") return "not-applicable";
  const mode = effectiveVerification(engine, p.verificationMode);
  if (mode === "full") return [];
  return [{ urn: migration.urn, message: `${migration.name} cuts over with verificationMode "${mode}"; production stacks verify counts and content hashes: set verificationMode: "full"` }];
}

function instanceSizes(cluster: StackResource): string[] {
  const specs = cluster.props.replicationSpecs ?? [];
  return specs.flatMap((s: any) => (s?.regionConfigs ?? []).map((rc: any) => String(rc?.electableSpecs?.instanceSize ?? "")));
}

/** The migration's target keeps Atlas termination protection (the application's data lives there after cutover). */
export function checkTerminationProtection(cluster: StackResource): Finding[] | "not-applicable" {
  if (cluster.type !== TYPES.advancedCluster && cluster.type !== TYPES.flexCluster) return "not-applicable";
  const isTarget = cluster.urn.includes(`${TYPES.targetCluster}$`) || cluster.parent?.type === TYPES.targetCluster;
  if (!isTarget) return "not-applicable";
  // M0 clusters get retainOnDelete only (see components/targetCluster.ts): termination protection is not offered.
  if (cluster.type === TYPES.advancedCluster && instanceSizes(cluster).every((s) => s === "M0")) return "not-applicable";
  if (cluster.props.terminationProtectionEnabled === true) return [];
  return [{ urn: cluster.urn, message: `${cluster.name} is a migration target without termination protection: keep deletionProtection on (the default) so the application's data cannot be deleted by accident` }];
}

/** Once the migration is COMPLETE (or this update cuts it over), its database user no longer exists. */
export function checkMigrationUserRemoved(resources: StackResource[]): Finding[] {
  const findings: Finding[] = [];
  const migrations = resources.filter((r) => r.type === TYPES.migration);
  for (const user of resources.filter((r) => r.type === TYPES.databaseUser && /-migration-user(-\d+)?$/.test(r.name))) {
    const key = componentKey(user);
    const own = migrations.find((m) => key !== undefined && componentKey(m) === key);
    if (own && finishedOrFinishing(own)) {
      findings.push({
        urn: user.urn,
        message: `${user.name} (the migration's database user) still exists although the migration ${own.props.phase === "COMPLETE" ? "is COMPLETE" : "is cut over by this update"}: remove it (AtlasMigration removes it when cutover is true)`,
      });
    }
  }
  return findings;
}

/** A cutover is previewed only when the stored status says it may proceed (provider/readiness.ts). */
export function checkCutoverReadiness(migration: StackResource, now: number): Finding[] | "not-applicable" {
  const p = migration.props;
  if (p.cutover !== true) return "not-applicable";
  // Without stored outputs (a create, or a preview that shows only inputs) there is nothing to judge: the
  // Migration's own check decides at `pulumi up`.
  if (typeof p.phase !== "string") return "not-applicable";
  const verdict = cutoverReadiness(migrationState(migration), { cutover: true, verificationMode: p.verificationMode, cutoverReadiness: p.cutoverReadiness }, now);
  return verdict.ok ? [] : [{ urn: migration.urn, message: `${migration.name}: ${describeReadiness(verdict)}` }];
}

function toStackResource(r: PolicyResource, seen = new Map<string, StackResource>()): StackResource {
  const known = seen.get(r.urn);
  if (known) return known;
  const out: StackResource = { type: r.type, urn: r.urn, name: r.name, props: r.props };
  seen.set(r.urn, out);
  if (r.parent) out.parent = toStackResource(r.parent, seen);
  return out;
}

function report(findings: Finding[] | "not-applicable", reportViolation: ReportViolation, notApplicable?: (reason: string) => never, reason?: string): void {
  if (findings === "not-applicable") {
    if (notApplicable) notApplicable(reason ?? "not a migration resource this rule covers");
    return;
  }
  for (const f of findings) reportViolation(f.message, f.urn);
}

/** The policies, for a PolicyPack of your own or the one in policy-pack/. */
export function atlasMigrationPolicies(): Policies {
  return [
    {
      name: "atlas-migration-no-allow-all-after-cutover",
      description: "0.0.0.0/0 on the Atlas project only as a temporary entry while migrating, never after the cutover.",
      enforcementLevel: "mandatory",
      severity: "critical",
      validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
        const seen = new Map<string, StackResource>();
        report(checkNoAllowAllAfterCutover(args.resources.map((r) => toStackResource(r, seen))), reportViolation);
      },
    },
    {
      name: "atlas-migration-full-verification-in-production",
      description: 'Production stacks cut over with verificationMode "full" (counts and content hashes).',
      enforcementLevel: "mandatory",
      severity: "high",
      configSchema: { properties: { production: { type: "boolean" } } },
      validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
        if (args.type !== TYPES.migration) return;
        const production = isProduction(args.getConfig<AtlasMigrationPolicyConfig>(), args.stackTags);
        report(checkFullVerification(args, production), reportViolation, args.notApplicable, "not a production stack, or Atlas verifies (atlas-push)");
      },
    },
    {
      name: "atlas-migration-target-termination-protection",
      description: "The migration's target cluster keeps Atlas termination protection on.",
      enforcementLevel: "mandatory",
      severity: "high",
      validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
        if (args.type !== TYPES.advancedCluster && args.type !== TYPES.flexCluster) return;
        const verdict = checkTerminationProtection(args);
        if (verdict !== "not-applicable") report(verdict, reportViolation);
      },
    },
    {
      name: "atlas-migration-migration-user-removed",
      description: "The migration's database user is removed once the migration is COMPLETE.",
      enforcementLevel: "mandatory",
      severity: "high",
      validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
        const seen = new Map<string, StackResource>();
        report(checkMigrationUserRemoved(args.resources.map((r) => toStackResource(r, seen))), reportViolation);
      },
    },
    {
      name: "atlas-migration-cutover-readiness",
      description: "A cutover is previewed only when the last refreshed status says it may proceed.",
      enforcementLevel: "mandatory",
      severity: "critical",
      validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
        const seen = new Map<string, StackResource>();
        for (const r of args.resources) {
          if (r.type !== TYPES.migration) continue;
          const verdict = checkCutoverReadiness(toStackResource(r, seen), Date.now());
          if (verdict !== "not-applicable") report(verdict, reportViolation);
        }
      },
    },
  ];
}
