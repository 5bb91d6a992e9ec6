#include "http/negotiate.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RANGE_MAX 128

/* How well a media range matches an offer: 3 exact, 2 type/\*, 1 *\/\*, 0 not at all. */
static int specificity(const char *range, const char *offer) {
  if (strcmp(range, "*/*") == 0) return 1;
  const char *slash = strchr(offer, '/');
  size_t type_len = (size_t)(slash - offer);
  if (strncasecmp(range, offer, type_len) == 0 && range[type_len] == '/' &&
      strcmp(range + type_len + 1, "*") == 0)
    return 2;
  return strcasecmp(range, offer) == 0 ? 3 : 0;
}

/* q of one element's parameters ("; q=0.5; charset=x"): 1 unless given; out of range counts
 * as 0. */
static double quality(const char *params) {
  for (const char *p = params; p && (p = strchr(p, ';')); p++) {
    const char *name = p + 1;
    while (*name == ' ' || *name == '\t') name++;
    if ((name[0] == 'q' || name[0] == 'Q') && name[1] == '=') {
      char *end = NULL;
      double q = strtod(name + 2, &end);
      return end == name + 2 || q < 0 || q > 1 ? 0 : q;
    }
  }
  return 1;
}

/* Copies the media range of an element (up to ';' or its end), trimmed, into out. */
static void element_range(const char *element, size_t len, char out[RANGE_MAX]) {
  size_t n = 0;
  for (size_t i = 0; i < len && element[i] != ';' && n + 1 < RANGE_MAX; i++)
    if (element[i] != ' ' && element[i] != '\t') out[n++] = element[i];
  out[n] = '\0';
}

/* The q the header gives one offer: that of the most specific matching range, 0 when none. */
static double offer_quality(const char *accept, const char *offer) {
  int best = 0;
  double q = 0;
  for (const char *element = accept; *element;) {
    size_t len = strcspn(element, ",");
    char range[RANGE_MAX];
    element_range(element, len, range);
    int s = specificity(range, offer);
    if (s > best) {
      char params[RANGE_MAX];
      size_t plen = len < RANGE_MAX - 1 ? len : RANGE_MAX - 1;
      memcpy(params, element, plen);
      params[plen] = '\0';
      best = s;
      q = quality(params);
    }
    element += len;
    if (*element == ',') element++;
  }
  return q;
}

int negotiate_media_type(const char *accept, const char *const *offers, size_t count) {
  if (!accept || accept[strspn(accept, " \t")] == '\0') return count ? 0 : -1;
  int chosen = -1;
  double chosen_q = 0;
  for (size_t i = 0; i < count; i++) {
    double q = offer_quality(accept, offers[i]);
    if (q > chosen_q) {
      chosen = (int)i;
      chosen_q = q;
    }
  }
  return chosen;
}
