#include <stdlib.h>

#include "check.h"
#include "http/exchange.h"
#include "http/router.h"

static void handler(struct exchange *x) { (void)x; }

static const struct route TABLE[] = {
    {"GET", "/teams", handler, 0, 0, NULL},
    {"POST", "/teams", handler, 0, 0, NULL},
    {"GET", "/teams/{id}", handler, 0, 0, NULL},
    {"PATCH", "/teams/{id}", handler, 0, 0, NULL},
    {"GET", "/teams/special", handler, 0, 0, NULL},
    {"GET", "/episodes/{id}/allocations/{allocation_id}", handler, 0, 0, NULL},
};
#define COUNT (sizeof TABLE / sizeof TABLE[0])

static enum route_match find(const char *method, const char *path, const struct route **r,
                             char **params, size_t *n, char *allow) {
  return route_find(TABLE, COUNT, method, path, r, params, n, allow, 64);
}

static void free_params(char **params, size_t n) {
  for (size_t i = 0; i < n; i++) free(params[i]);
}

static void test_literal_and_parameter_paths(void) {
  const struct route *r;
  char *params[ROUTE_MAX_PARAMS];
  size_t n;
  char allow[64];
  CHECK(find("GET", "/teams", &r, params, &n, allow) == MATCH_FOUND && r == &TABLE[0] && n == 0);
  CHECK(find("PATCH", "/teams/abc", &r, params, &n, allow) == MATCH_FOUND && r == &TABLE[3]);
  CHECK(n == 1);
  CHECK_STR(params[0], "abc");
  free_params(params, n);
  CHECK(find("GET", "/episodes/e1/allocations/a2", &r, params, &n, allow) == MATCH_FOUND);
  CHECK(n == 2);
  CHECK_STR(params[0], "e1");
  CHECK_STR(params[1], "a2");
  free_params(params, n);
}

static void test_literal_segment_beats_parameter(void) {
  const struct route *r;
  char *params[ROUTE_MAX_PARAMS];
  size_t n;
  char allow[64];
  CHECK(find("GET", "/teams/special", &r, params, &n, allow) == MATCH_FOUND && r == &TABLE[4]);
  CHECK(n == 0);
  /* PATCH exists only for the parameter template: the literal path allows GET alone */
  CHECK(find("PATCH", "/teams/special", &r, params, &n, allow) == MATCH_WRONG_METHOD);
  CHECK_STR(allow, "GET");
}

static void test_unknown_paths_and_wrong_methods(void) {
  const struct route *r;
  char *params[ROUTE_MAX_PARAMS];
  size_t n;
  char allow[64];
  CHECK(find("GET", "/nowhere", &r, params, &n, allow) == MATCH_NO_PATH);
  CHECK(find("GET", "/teams/", &r, params, &n, allow) == MATCH_NO_PATH);
  CHECK(find("GET", "//teams", &r, params, &n, allow) == MATCH_NO_PATH);
  CHECK(find("GET", "teams", &r, params, &n, allow) == MATCH_NO_PATH);
  CHECK(find("GET", "/teams/a/b", &r, params, &n, allow) == MATCH_NO_PATH);
  CHECK(find("DELETE", "/teams", &r, params, &n, allow) == MATCH_WRONG_METHOD);
  CHECK_STR(allow, "GET, POST");
  CHECK(find("TRACE", "/teams/x", &r, params, &n, allow) == MATCH_WRONG_METHOD);
  CHECK_STR(allow, "GET, PATCH");
}

static void test_head_is_served_by_get(void) {
  const struct route *r;
  char *params[ROUTE_MAX_PARAMS];
  size_t n;
  char allow[64];
  CHECK(find("HEAD", "/teams", &r, params, &n, allow) == MATCH_FOUND && r == &TABLE[0]);
}

static void test_service_route_table_is_well_formed(void) {
  for (size_t i = 0; i < ROUTE_COUNT; i++) {
    CHECK(ROUTES[i].handler != NULL);
    CHECK(ROUTES[i].path[0] == '/');
    CHECK((ROUTES[i].flags & ROUTE_PUBLIC) || ROUTES[i].roles != 0);
    for (size_t j = i + 1; j < ROUTE_COUNT; j++)
      CHECK(strcmp(ROUTES[i].method, ROUTES[j].method) || strcmp(ROUTES[i].path, ROUTES[j].path));
  }
}

int main(void) {
  test_literal_and_parameter_paths();
  test_literal_segment_beats_parameter();
  test_unknown_paths_and_wrong_methods();
  test_head_is_served_by_get();
  test_service_route_table_is_well_formed();
  return checks_report();
}
