#include "json_diff.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The JSON Pointer of the value being compared, grown and shrunk as the walk descends and
 * returns. It holds bytes with a length, not a C string: Jansson keys may contain NUL. */
struct pointer {
  char *bytes;
  size_t len, cap;
};

static bool pointer_append(struct pointer *p, const char *bytes, size_t len) {
  if (p->len + len > p->cap) {
    size_t cap = p->cap ? p->cap : 64;
    while (cap < p->len + len) cap *= 2;
    char *grown = realloc(p->bytes, cap);
    if (!grown) return false;
    p->bytes = grown;
    p->cap = cap;
  }
  if (len) memcpy(p->bytes + p->len, bytes, len);
  p->len += len;
  return true;
}

/* Appends "/" and the key, escaped as RFC 6901 §3 says: "~" first as "~0", then "/" as "~1". */
static bool pointer_push_key(struct pointer *p, const char *key, size_t key_len) {
  if (!pointer_append(p, "/", 1)) return false;
  for (size_t i = 0; i < key_len; i++) {
    bool ok = key[i] == '~'   ? pointer_append(p, "~0", 2)
              : key[i] == '/' ? pointer_append(p, "~1", 2)
                              : pointer_append(p, key + i, 1);
    if (!ok) return false;
  }
  return true;
}

static bool pointer_push_index(struct pointer *p, size_t index) {
  char segment[32];
  int n = snprintf(segment, sizeof segment, "/%zu", index);
  return n > 0 && (size_t)n < sizeof segment && pointer_append(p, segment, (size_t)n);
}

/* Appends one change; `old` or `new` NULL leaves that member out (an addition or a removal). */
static bool add_change(json_t *changes, const struct pointer *path, const json_t *old,
                       const json_t *new) {
  json_t *change = json_object();
  if (!change) return false;
  /* The keys came from Jansson, so are UTF-8 already, and escaping keeps them so. */
  bool ok =
      json_object_set_new(change, "path",
                          json_stringn_nocheck(path->len ? path->bytes : "", path->len)) == 0;
  if (ok && old) ok = json_object_set_new(change, "old", json_deep_copy(old)) == 0;
  if (ok && new) ok = json_object_set_new(change, "new", json_deep_copy(new)) == 0;
  if (!ok) {
    json_decref(change);
    return false;
  }
  return json_array_append_new(changes, change) == 0; /* which frees change if it fails */
}

struct key {
  const char *bytes;
  size_t len;
};

/* Byte order, a key before any longer key it begins: strcmp's order, NULs included. */
static int key_compare(const void *a, const void *b) {
  const struct key *x = a, *y = b;
  int c = memcmp(x->bytes, y->bytes, x->len < y->len ? x->len : y->len);
  if (c) return c;
  return (x->len > y->len) - (x->len < y->len);
}

static size_t collect_keys(const json_t *object, struct key *keys, size_t n) {
  /* Jansson has no const iterator; iterating does not change the object. */
  for (void *it = json_object_iter((json_t *)object); it;
       it = json_object_iter_next((json_t *)object, it))
    keys[n++] = (struct key){json_object_iter_key(it), json_object_iter_key_len(it)};
  return n;
}

static bool diff_value(const json_t *before, const json_t *after, struct pointer *path,
                       json_t *changes);

static bool diff_member(const json_t *before, const json_t *after, struct pointer *path,
                        json_t *changes) {
  if (before && after) return diff_value(before, after, path, changes);
  return add_change(changes, path, before, after);
}

static bool diff_objects(const json_t *before, const json_t *after, struct pointer *path,
                         json_t *changes) {
  /* Both key sets, sorted together, so each key is met once and in the same order whatever the
   * documents' insertion order. */
  size_t total = json_object_size(before) + json_object_size(after);
  struct key *keys = malloc((total ? total : 1) * sizeof *keys);
  if (!keys) return false;
  size_t n = collect_keys(after, keys, collect_keys(before, keys, 0));
  qsort(keys, n, sizeof *keys, key_compare);
  size_t depth = path->len;
  bool ok = true;
  for (size_t i = 0; ok && i < n; i++) {
    if (i > 0 && key_compare(&keys[i - 1], &keys[i]) == 0) continue; /* in both documents */
    ok = pointer_push_key(path, keys[i].bytes, keys[i].len) &&
         diff_member(json_object_getn(before, keys[i].bytes, keys[i].len),
                     json_object_getn(after, keys[i].bytes, keys[i].len), path, changes);
    path->len = depth;
  }
  free(keys);
  return ok;
}

static bool diff_arrays(const json_t *before, const json_t *after, struct pointer *path,
                        json_t *changes) {
  size_t n_before = json_array_size(before), n_after = json_array_size(after);
  size_t n = n_before > n_after ? n_before : n_after;
  size_t depth = path->len;
  bool ok = true;
  for (size_t i = 0; ok && i < n; i++) {
    ok = pointer_push_index(path, i) &&
         diff_member(json_array_get(before, i), json_array_get(after, i), path, changes);
    path->len = depth;
  }
  return ok;
}

static bool diff_value(const json_t *before, const json_t *after, struct pointer *path,
                       json_t *changes) {
  if (json_is_object(before) && json_is_object(after))
    return diff_objects(before, after, path, changes);
  if (json_is_array(before) && json_is_array(after))
    return diff_arrays(before, after, path, changes);
  if (json_equal(before, after)) return true;
  return add_change(changes, path, before, after);
}

json_t *json_diff_new(const json_t *before, const json_t *after) {
  json_t *changes = json_array();
  struct pointer path = {0};
  bool ok = changes && diff_value(before ? before : json_null(), after ? after : json_null(),
                                  &path, changes);
  free(path.bytes);
  if (!ok) {
    json_decref(changes);
    return NULL;
  }
  return changes;
}
