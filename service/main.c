/* carecoord: start-up. Configuration → database pool → routes → serve; or one of the
 * operator's subcommands. */
#include <curl/curl.h>
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/sealer.h"
#include "auth/dev_token.h"
#include "auth/jwt.h"
#include "config.h"
#include "db/db.h"
#include "db/migrate.h"
#include "healthcheck.h"
#include "http/metrics.h"
#include "http/router.h"
#include "http/server.h"
#include "log.h"
#include "resources/resources.h"
#include "webhooks/delivery.h"

#define EXIT_USAGE 2

static const char USAGE[] =
    "usage: carecoord <command>\n"
    "  serve                      run the HTTP service\n"
    "  migrate                    apply database migrations (owner role)\n"
    "  routes                     print the route table\n"
    "  health                     exit 0 if the service configured alike answers GET /healthz\n"
    "                             with 200 within 3 seconds (the container's health check)\n"
    "  partner CODE KIND NAME [--inactive]\n"
    "                             register (or update) a partner organisation (owner role);\n"
    "                             KIND: adult_social_care, probation, drug_and_alcohol, other\n"
    "  token --sub S --role R [--role R ...] [--org O] [--ttl SECONDS]\n"
    "                             DEV ONLY: mint a token signed with the dev key\n"
    "Configuration comes from CARECOORD_* environment variables (see README.md).\n";

static const char *env_lookup(const char *name) { return getenv(name); }

static int load_config(struct config *cfg) {
  struct config_errors errors;
  if (config_load(env_lookup, cfg, &errors) == 0) return 0;
  for (size_t i = 0; i < errors.count; i++) fprintf(stderr, "config: %s\n", errors.messages[i]);
  return -1;
}

static int compare_routes(const void *a, const void *b) {
  const struct route *ra = *(const struct route *const *)a, *rb = *(const struct route *const *)b;
  int c = strcmp(ra->path, rb->path);
  return c ? c : strcmp(ra->method, rb->method);
}

static int command_routes(void) {
  const struct route *sorted[256];
  size_t n = ROUTE_COUNT < 256 ? ROUTE_COUNT : 256;
  for (size_t i = 0; i < n; i++) sorted[i] = &ROUTES[i];
  qsort(sorted, n, sizeof sorted[0], compare_routes);
  for (size_t i = 0; i < n; i++) printf("%s %s\n", sorted[i]->method, sorted[i]->path);
  return 0;
}

static int command_migrate(const struct config *cfg) {
  if (!cfg->migration_database_url) {
    fprintf(stderr, "config: CARECOORD_MIGRATION_DATABASE_URL: required by migrate\n");
    return EXIT_USAGE;
  }
  return migrate_run(cfg->migration_database_url, cfg->app_role) == 0 ? 0 : 1;
}

/* Partner organisations are registered by operators, with the owner's connection: the
 * application role may only read them, so no request can add one. */
static int command_partner(const struct config *cfg, int argc, char **argv) {
  bool inactive = argc == 5 && strcmp(argv[4], "--inactive") == 0;
  if (argc != 4 && !inactive) {
    fputs(USAGE, stderr);
    return EXIT_USAGE;
  }
  if (!cfg->migration_database_url) {
    fprintf(stderr, "config: CARECOORD_MIGRATION_DATABASE_URL: required by partner\n");
    return EXIT_USAGE;
  }
  PGconn *pg = PQconnectdb(cfg->migration_database_url);
  const char *params[] = {argv[1], argv[2], argv[3], inactive ? "false" : "true"};
  PGresult *res = NULL;
  if (PQstatus(pg) == CONNECTION_OK)
    res = PQexecParams(pg,
                       "INSERT INTO partner_organisations (code, kind, name, active)"
                       " VALUES ($1, $2, $3, $4::boolean) ON CONFLICT (code) DO UPDATE"
                       " SET kind = EXCLUDED.kind, name = EXCLUDED.name, active = EXCLUDED.active",
                       4, NULL, params, NULL, NULL, 0);
  int rc = res && PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : 1;
  if (rc)
    fprintf(stderr, "partner: %s", PQerrorMessage(pg));
  else
    fprintf(stderr, "partner: %s registered (%s)\n", argv[1], inactive ? "inactive" : "active");
  PQclear(res);
  PQfinish(pg);
  return rc;
}

static int command_token(const struct config *cfg, int argc, char **argv) {
  static const struct option OPTIONS[] = {{"sub", required_argument, NULL, 's'},
                                          {"role", required_argument, NULL, 'r'},
                                          {"org", required_argument, NULL, 'o'},
                                          {"ttl", required_argument, NULL, 't'},
                                          {NULL, 0, NULL, 0}};
  const char *roles[16];
  struct dev_token_request request = {.roles = roles, .ttl_seconds = 3600};
  int opt;
  while ((opt = getopt_long(argc, argv, "", OPTIONS, NULL)) != -1) {
    if (opt == 's') request.subject = optarg;
    else if (opt == 'o') request.org = optarg;
    else if (opt == 't') request.ttl_seconds = atol(optarg);
    else if (opt == 'r' && request.role_count < 16) roles[request.role_count++] = optarg;
    else {
      fputs(USAGE, stderr);
      return EXIT_USAGE;
    }
  }
  if (!request.subject || request.role_count == 0 || request.ttl_seconds <= 0) {
    fputs(USAGE, stderr);
    return EXIT_USAGE;
  }
  char *token = NULL;
  if (dev_token_mint(cfg, &request, &token) != 0) return 1;
  puts(token);
  free(token);
  return 0;
}

/* Refuses to serve a database whose schema differs from the one this binary was built for. */
static int check_schema(struct db_pool *pool) {
  struct tx tx;
  int version = -1;
  enum cc_status status = tx_begin(pool, &tx);
  if (status == CC_OK) status = db_schema_version(&tx, &version);
  tx_end(&tx);
  if (status != CC_OK) {
    log_message(LOG_ERROR, "cannot reach the database (CARECOORD_DATABASE_URL)");
    return -1;
  }
  if (version != migrations_latest_version()) {
    log_message(LOG_ERROR,
                "database schema is at version %d but this build needs %d: run `carecoord "
                "migrate`%s",
                version, migrations_latest_version(),
                version > migrations_latest_version() ? " with a newer binary" : "");
    return -1;
  }
  return 0;
}

/* The read database is not required at start-up: reports and extracts answer 503 while no server
 * of CARECOORD_READ_DATABASE_URL answers, and everything else works. What it is (a standby, or a
 * primary that a multi-host URL fell back to) and its schema are logged. */
static void check_read_database(struct db_pool *read_pool) {
  struct tx tx;
  int version = -1;
  enum cc_status status = tx_begin(read_pool, &tx);
  if (status == CC_OK) status = db_schema_version(&tx, &version);
  tx_end(&tx);
  struct db_pool_stats stats;
  db_pool_stats(read_pool, &stats);
  if (status != CC_OK)
    log_message(LOG_WARN, "the read database (CARECOORD_READ_DATABASE_URL) is not reachable yet: "
                          "reports and extracts answer 503 until it is");
  else if (version != migrations_latest_version())
    log_message(LOG_WARN, "the read database's schema is at version %d, this build's is %d (a "
                          "standby replays migrations from its primary)",
                version, migrations_latest_version());
  else
    log_message(LOG_INFO, "reports and extracts read from %s (CARECOORD_READ_DATABASE_URL)",
                stats.on_standby ? "a standby" : "a primary");
}

/* glibc gives up to 8 malloc arenas per core, and the worker threads spread over them; each
 * arena keeps its own high-water mark, so resident memory crept up for minutes under steady
 * load (measured: 4 MB over a 5-minute soak with the default, 1 MB and levelling off with 4).
 * The per-thread caches in front of the arenas keep allocation mostly lock-free. */
#define MALLOC_ARENAS 4

static int command_serve(const struct config *cfg) {
  if (!cfg->database_url) {
    fprintf(stderr, "config: CARECOORD_DATABASE_URL: required by serve\n");
    return EXIT_USAGE;
  }
#ifdef __GLIBC__
  mallopt(M_ARENA_MAX, MALLOC_ARENAS);
#endif
  enum log_level level;
  log_level_parse(cfg->log_level, &level);
  log_set_level(level);
  struct verifier *verifier = verifier_new(cfg);
  if (!verifier) return EXIT_USAGE;

  struct db_pool *pool = NULL, *read_pool = NULL;
  struct metrics *metrics = metrics_new(ROUTE_COUNT);
  /* Extracts hold a connection of the pool they read from for their whole length. */
  struct extract_limit *extract_limit = extract_limit_new(
      cfg->extract_concurrency, cfg->read_database_url ? cfg->read_db_pool_size : cfg->db_pool_size);
  int rc = 1;
  if (!cfg->pseudonym_key_len)
    log_message(LOG_WARN, "extracts are off: CARECOORD_PSEUDONYM_KEY_FILE is not set");
  struct db_pool_settings main_settings = {
      .conninfo = cfg->database_url, .application_name = "carecoord",
      .size = cfg->db_pool_size, .wait_ms = cfg->db_pool_wait_ms,
      .statement_timeout_ms = cfg->db_statement_timeout_ms};
  if (!metrics || !extract_limit || db_pool_new(&main_settings, &pool) != CC_OK) goto done;
  if (check_schema(pool) != 0) goto done;
  if (cfg->read_database_url) {
    struct db_pool_settings read_settings = {
        .conninfo = cfg->read_database_url, .application_name = "carecoord read",
        .size = cfg->read_db_pool_size, .wait_ms = cfg->db_pool_wait_ms,
        .statement_timeout_ms = cfg->db_statement_timeout_ms, .read_only = true,
        .primary_recheck_s = cfg->read_primary_recheck_s};
    if (db_pool_new(&read_settings, &read_pool) != CC_OK) goto done;
    check_read_database(read_pool);
  }
  struct app app = {.config = cfg, .pool = pool, .read_pool = read_pool ? read_pool : pool,
                    .metrics = metrics, .verifier = verifier, .extract_limit = extract_limit};
  /* libcurl is initialised once, before any other thread starts. */
  struct webhooks *webhooks = NULL;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK)
    webhooks = webhooks_start(cfg->database_url, &cfg->webhook);
  else
    log_message(LOG_ERROR, "cannot initialise the HTTP client; webhook deliveries are off");
  struct sealer *sealer = sealer_start(cfg->database_url);
  rc = server_run(&app);
  webhooks_stop(webhooks);
  curl_global_cleanup();
  sealer_stop(sealer);
done:
  db_pool_free(read_pool);
  db_pool_free(pool);
  metrics_free(metrics);
  extract_limit_free(extract_limit);
  verifier_free(verifier);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(USAGE, stderr);
    return EXIT_USAGE;
  }
  const char *command = argv[1];
  if (strcmp(command, "routes") == 0) return command_routes();
  struct config cfg;
  if (load_config(&cfg) != 0) return EXIT_USAGE;
  int rc = EXIT_USAGE;
  if (strcmp(command, "serve") == 0) rc = command_serve(&cfg);
  else if (strcmp(command, "migrate") == 0) rc = command_migrate(&cfg);
  else if (strcmp(command, "health") == 0) rc = argc == 2 ? healthcheck_run(&cfg, 3000) : EXIT_USAGE;
  else if (strcmp(command, "partner") == 0) rc = command_partner(&cfg, argc - 1, argv + 1);
  else if (strcmp(command, "token") == 0) rc = command_token(&cfg, argc - 1, argv + 1);
  else fputs(USAGE, stderr);
  config_free(&cfg);
  return rc;
}
