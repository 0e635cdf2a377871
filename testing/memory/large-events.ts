// The size limits mongod puts on documents and change events, and how it splits an event that is too large.
//
// Sources (MongoDB server, src/mongo):
// - bson/util/builder.h: BSONObjMaxUserSize = 16 MiB (a stored document), BSONObjMaxInternalSize = 16 MiB + 16 KiB
//   (any BSON the server builds, a change event included). bson/bsonobj.cpp rejects a larger object with
//   BSONObjectTooLarge (10334) "BSONObj size: N (0x…) is invalid. Size must be between 0 and 16793600(16MB)" —
//   the error an over-limit change event fails its getMore with when the stream cannot split it.
// - db/pipeline/document_source_change_stream_split_large_event.{h,cpp}: with `$changeStreamSplitLargeEvent`
//   an event is returned whole while its size plus its resume token's size (the cursor's postBatchResumeToken)
//   is at most kBSONObjMaxChangeEventSize = BSONObjMaxInternalSize - 8 KiB; otherwise it is split.
// - db/pipeline/change_stream_split_event_helpers.cpp, splitChangeEvent: every top-level field but `_id` is
//   sorted by (its BSON size, its name); fragments are filled greedily in that order, each starting with its own
//   `_id` (the resume token with the fragment's number) and `splitEvent: { fragment, of }`; a field that does not
//   fit alone fails with 7182500.
// - jstests/change_streams/split_large_event.js: fragments reassemble with Object.assign; resuming after fragment
//   k returns fragments k+1…of.

import { BSON, type Document } from "mongodb";
import type { ChangeEvent } from "../../provider/cluster/port";
import { serverError } from "./errors";

export const BSON_OBJ_MAX_USER_SIZE = 16 * 1024 * 1024;
export const BSON_OBJ_MAX_INTERNAL_SIZE = BSON_OBJ_MAX_USER_SIZE + 16 * 1024;
export const MAX_CHANGE_EVENT_SIZE = BSON_OBJ_MAX_INTERNAL_SIZE - 8 * 1024;

/** BSON size of one element `key: value` (type byte, key cstring, value): the document's size minus its frame. */
function elementSize(key: string, value: unknown): number {
  return bsonSize({ [key]: value }) - 5;
}

/** BSON size without serializing (js-bson's serializer cannot write documents over ~17 MB anyway). */
export function bsonSize(doc: Document): number {
  return BSON.calculateObjectSize(doc, { ignoreUndefined: false });
}

export function eventTooLargeError(size: number, event: ChangeEvent): Error {
  return serverError(
    10334,
    "BSONObjectTooLarge",
    `BSONObj size: ${size} (0x${size.toString(16).toUpperCase()}) is invalid. Size must be between 0 and ${BSON_OBJ_MAX_INTERNAL_SIZE}(16MB) ` +
      `First element: _id: ${JSON.stringify(event._id)}`,
  );
}

/**
 * Splits an event into fragments as mongod does. `tokenFor(n)` is the resume token of fragment n (1-based).
 * Returns the fragments in order.
 */
export function splitEvent(event: ChangeEvent, tokenFor: (fragment: number) => Document): ChangeEvent[] {
  const tokenSize = elementSize("_id", event._id);
  const maxFragment = MAX_CHANGE_EVENT_SIZE - tokenSize;
  const fields = Object.entries(event)
    .filter(([key]) => key !== "_id")
    .map(([key, value]) => ({ key, value, size: elementSize(key, value) }))
    .sort((a, b) => a.size - b.size || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const fragments: Document[] = [];
  for (let i = 0; i < fields.length; ) {
    const n = fragments.length + 1;
    const fragment: Document = { _id: tokenFor(n), splitEvent: { fragment: n, of: 0 } };
    // Metadata (the sort key, i.e. the token again) travels with the fragment, as toBsonWithMetaData counts it.
    let size = bsonSize(fragment) + elementSize("$sortKey", fragment._id);
    do {
      fragment[fields[i].key] = fields[i].value;
      size += fields[i].size;
    } while (++i < fields.length && size + fields[i].size <= maxFragment);
    if (size > maxFragment) {
      throw serverError(
        7182500,
        "Location7182500",
        `Splitting change event failed: fragment size ${size} is greater than maximum allowed fragment size ${maxFragment}`,
      );
    }
    fragments.push(fragment);
  }
  for (const f of fragments) (f.splitEvent as { of: number }).of = fragments.length;
  return fragments as ChangeEvent[];
}

/** Whether `event` must be split (split stage) or fails the stream (no split stage). */
export function eventSize(event: ChangeEvent): number {
  return bsonSize(event);
}
