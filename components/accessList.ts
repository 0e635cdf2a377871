// The project IP access list entries a migration needs (app servers, the migration host, …).
import * as pulumi from "@pulumi/pulumi";
import * as mongodbatlas from "@pulumi/mongodbatlas";

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
   * after creates and updates, and not at all when the update fails).
   */
  temporary?: boolean;
}

export function createAccessList(
  name: string,
  projectId: pulumi.Input<string>,
  entries: AccessListEntry[],
  cutover: boolean,
  parent: pulumi.Resource,
): mongodbatlas.ProjectIpAccessList[] {
  return entries.flatMap((entry, i) => {
    if (!!entry.cidr === !!entry.ip) throw new Error(`${name}: accessList[${i}] needs exactly one of cidr or ip`);
    if (entry.temporary && cutover) return [];
    return [
      new mongodbatlas.ProjectIpAccessList(
        `${name}-access-${i}`,
        { projectId, cidrBlock: entry.cidr, ipAddress: entry.ip, comment: entry.comment ?? `${name} migration` },
        { parent },
      ),
    ];
  });
}
