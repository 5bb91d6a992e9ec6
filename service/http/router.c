#include "http/router.h"

#include <stdlib.h>
#include <string.h>

#include "http/exchange.h"

#define MAX_SEGMENTS 16

/* Splits a path into segments (pointers into buf). Returns -1 for paths we never route:
 * not absolute, empty segments (// or a trailing slash), or too deep. */
static int split_path(const char *path, char *buf, size_t size, char **segments) {
  size_t len = strlen(path);
  if (path[0] != '/' || len >= size) return -1;
  memcpy(buf, path, len + 1);
  if (len == 1) return 0;
  int n = 0;
  char *p = buf + 1;
  while (p) {
    if (n == MAX_SEGMENTS) return -1;
    char *slash = strchr(p, '/');
    if (slash) *slash = '\0';
    if (*p == '\0') return -1;
    segments[n++] = p;
    p = slash ? slash + 1 : NULL;
  }
  return n;
}

/* A score ranking literal segments earlier in the path higher, or -1 when it does not match. */
static long match_score(const char *template, char **segments, int n) {
  char buf[256];
  char *tseg[MAX_SEGMENTS];
  int tn = split_path(template, buf, sizeof buf, tseg);
  if (tn != n) return -1;
  long score = 0;
  for (int i = 0; i < n; i++) {
    bool is_param = tseg[i][0] == '{';
    if (!is_param && strcmp(tseg[i], segments[i]) != 0) return -1;
    if (!is_param) score |= 1L << (MAX_SEGMENTS - i);
  }
  return score;
}

static bool same_method(const char *route_method, const char *method) {
  /* HEAD is answered by the GET handler; the HTTP library drops the body. */
  return strcmp(route_method, method) == 0 ||
         (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

enum route_match route_find(const struct route *table, size_t count, const char *method,
                            const char *path, const struct route **found, char **params,
                            size_t *param_count, char *allow, size_t allow_size) {
  char buf[1024];
  char *segments[MAX_SEGMENTS];
  *found = NULL;
  *param_count = 0;
  if (allow_size) allow[0] = '\0';
  int n = split_path(path, buf, sizeof buf, segments);
  if (n < 0) return MATCH_NO_PATH;

  const struct route *best = NULL;
  long best_score = -1;
  bool path_known = false;
  long best_path_score = -1;
  for (size_t i = 0; i < count; i++) {
    long score = match_score(table[i].path, segments, n);
    if (score < 0) continue;
    if (score > best_path_score) best_path_score = score;
    path_known = true;
    if (same_method(table[i].method, method) && score > best_score) {
      best = &table[i];
      best_score = score;
    }
  }
  if (!path_known) return MATCH_NO_PATH;
  if (!best || best_score < best_path_score) {
    /* Allow lists the methods of the most specific template this path matches. */
    for (size_t i = 0; i < count; i++) {
      if (match_score(table[i].path, segments, n) != best_path_score) continue;
      if (allow[0]) strncat(allow, ", ", allow_size - strlen(allow) - 1);
      strncat(allow, table[i].method, allow_size - strlen(allow) - 1);
    }
    if (best && best_score < best_path_score) best = NULL;
    if (!best) return MATCH_WRONG_METHOD;
  }

  char tbuf[256];
  char *tseg[MAX_SEGMENTS];
  split_path(best->path, tbuf, sizeof tbuf, tseg);
  for (int i = 0; i < n && *param_count < ROUTE_MAX_PARAMS; i++)
    if (tseg[i][0] == '{') params[(*param_count)++] = strdup(segments[i]);
  *found = best;
  return MATCH_FOUND;
}
