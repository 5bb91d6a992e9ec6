/* A structural diff of two JSON documents, for care-plan versions (R-CPL-3: changing an active
 * plan creates a new version, and people ask what changed between two): which members changed,
 * with the old and the new value.
 *
 * A change is {"path": <RFC 6901 JSON Pointer into the documents>, "old": <value>, "new":
 * <value>}; "old" is absent for an addition, "new" for a removal. JSON null is a value: a member
 * that is null in one document and missing in the other is a removal or an addition of null.
 * The list describes the differences; it is not a JSON Patch (RFC 6902) to apply in order. */
#ifndef CARECOORD_JSON_DIFF_H
#define CARECOORD_JSON_DIFF_H

#include <jansson.h>

/* Every change from `before` to `after`, and nothing else, as a new array (caller decrefs);
 * NULL only when memory runs out. NULL arguments count as JSON null; neither is changed.
 *
 * - Two objects: member by member, recursively; a member only in `before` is a removal at its
 *   path (old = its whole value), one only in `after` an addition (new = its whole value).
 * - Two arrays: index by index, recursively; items past the end of the shorter array are
 *   removals or additions at their own indexes.
 * - Anything else that is not equal (json_equal: a different type, including 1 against 1.0, or
 *   a different scalar) is one change at that path with both values. Equal values give nothing.
 *
 * Order: depth-first; object members by key in byte order (strcmp order for keys without NUL),
 * so the result does not depend on the order members were inserted in; array indexes
 * ascending. The path of the whole document is "". In keys, "~" is written "~0" and "/" "~1"
 * (RFC 6901 §3). Values are deep copies: the result shares nothing with the inputs. */
json_t *json_diff_new(const json_t *before, const json_t *after);

#endif
