// Names of the component's children. A child is named by a stable key (an address, a username), never by its
// position in a list: with positions, removing the first entry renamed every later one, which Pulumi shows as
// replacements (and, for users, username collisions while old and new overlap).
import * as pulumi from "@pulumi/pulumi";

/** `${component}-${kind}-${key}`, with characters that would confuse a URN (":" of IPv6, spaces) made "-". */
export function childName(component: string, kind: string, key: string): string {
  return `${component}-${kind}-${key.replace(/[^A-Za-z0-9._/@-]/g, "-")}`;
}

/**
 * The name an earlier version gave the same child. An alias with only `name` keeps the child's type and
 * parent, so the existing resource in state is adopted under the new name with no replacement.
 * Upgrade first, then edit the list: in the run that adopts the new names, a position still means the old
 * entry at that position.
 */
export function legacyAlias(oldName: string): pulumi.Alias {
  return { name: oldName };
}
