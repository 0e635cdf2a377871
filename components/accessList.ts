// The project IP access list entries a migration needs (app servers, the migration host, …).
import * as pulumi from "@pulumi/pulumi";
import * as mongodbatlas from "@pulumi/mongodbatlas";
import { childName, legacyAlias } from "./names";

export interface AccessListEntry {
  /** A CIDR block such as "203.0.113.0/24"… */
  cidr?: pulumi.Input<string>;
  /** …or one IP address. */
  ip?: pulumi.Input<string>;
  comment?: pulumi.Input<string>;
  /**
   * Needed only while migrating (e.g. the migration host, or the allow-all entry old mLab guides used):
   * the entry is left out of the program once `cutover` is true, so Pulumi deletes it at the end of the
   * `pulumi up` that performs the cutover, after the Migration finished (deletes of removed resources run
   * after creates and updates, and not at all when the update fails). Whatever `protect` or
   * `retainOnDelete` the component has, a temporary entry is never protected and never retained.
   */
  temporary?: boolean;
  /**
   * The stable part of the entry's Pulumi name. Defaults to the cidr or ip when it is a plain string; give
   * one when the address is computed (an Output), so that adding or removing other entries never renames it.
   */
  key?: string;
}

/** Why a temporary entry must not inherit the component's protect/retainOnDelete (issue B4). */
export const TEMPORARY_OPTIONS = { protect: false, retainOnDelete: false } as const;

/** The key an entry is named by: its explicit key, or its literal address. */
export function accessEntryKey(entry: AccessListEntry): string | undefined {
  if (entry.key !== undefined) return entry.key;
  const address = entry.cidr ?? entry.ip;
  return typeof address === "string" ? address : undefined;
}

/** Checks the entries: exactly one of cidr/ip, keys unique. Throws in the component user's terms. */
export function checkAccessList(name: string, entries: AccessListEntry[]): void {
  const seen = new Map<string, number>();
  entries.forEach((entry, i) => {
    if (!!entry.cidr === !!entry.ip) throw new Error(`${name}: accessList[${i}] needs exactly one of cidr or ip`);
    const key = accessEntryKey(entry);
    if (key === undefined) return;
    const before = seen.get(key);
    if (before !== undefined) throw new Error(`${name}: accessList[${before}] and accessList[${i}] are both "${key}"; list each address once (or give each a distinct key)`);
    seen.set(key, i);
  });
}

export function createAccessList(
  name: string,
  projectId: pulumi.Input<string>,
  entries: AccessListEntry[],
  cutover: boolean,
  base: pulumi.CustomResourceOptions,
): mongodbatlas.ProjectIpAccessList[] {
  checkAccessList(name, entries);
  return entries.flatMap((entry, i) => {
    if (entry.temporary && cutover) return [];
    const key = accessEntryKey(entry);
    // Named by the address (not the list position) so removing one entry renames no other; the alias keeps
    // stacks created by earlier versions (named by position) from replacing every entry once.
    const resourceName = key === undefined ? `${name}-access-${i}` : childName(name, "access", key);
    const opts: pulumi.CustomResourceOptions = {
      ...base,
      ...(key === undefined ? {} : { aliases: [legacyAlias(`${name}-access-${i}`)] }),
      ...(entry.temporary ? TEMPORARY_OPTIONS : {}),
    };
    return [
      new mongodbatlas.ProjectIpAccessList(
        resourceName,
        { projectId, cidrBlock: entry.cidr, ipAddress: entry.ip, comment: entry.comment ?? `${name} migration` },
        opts,
      ),
    ];
  });
}
