#include "db/migrate.h"

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Arbitrary constant shared by every carecoord migrator: "carecoord" in ASCII, truncated. */
#define MIGRATION_LOCK_KEY "7161446297865"

int migrations_latest_version(void) {
  return MIGRATION_COUNT ? MIGRATIONS[MIGRATION_COUNT - 1].version : 0;
}

static void sha256_hex(const char *text, char out[65]) {
  unsigned char digest[32];
  unsigned int len = 0;
  EVP_Digest(text, strlen(text), digest, &len, EVP_sha256(), NULL);
  for (unsigned i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

static int exec_ok(PGconn *pg, const char *sql, int nparams, const char *const *params,
                   PGresult **out) {
  /* A migration file holds many statements, which only the simple protocol accepts; anything
   * carrying a value goes through parameters. */
  PGresult *res = nparams ? PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0)
                          : PQexec(pg, sql);
  ExecStatusType st = PQresultStatus(res);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    fprintf(stderr, "migrate: %s", PQresultErrorMessage(res));
    PQclear(res);
    return -1;
  }
  if (out)
    *out = res;
  else
    PQclear(res);
  return 0;
}

/* Every applied migration must still be the one this binary carries. */
static int check_applied(PGconn *pg, int *applied_max) {
  PGresult *res = NULL;
  if (exec_ok(pg, "SELECT version, checksum FROM schema_migrations ORDER BY version", 0, NULL,
              &res))
    return -1;
  *applied_max = 0;
  int rc = 0;
  for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
    int version = atoi(PQgetvalue(res, r, 0));
    const struct migration *m = NULL;
    for (size_t i = 0; i < MIGRATION_COUNT; i++)
      if (MIGRATIONS[i].version == version) m = &MIGRATIONS[i];
    if (!m) {
      fprintf(stderr, "migrate: database has migration %d, which this binary does not know; "
                      "deploy a newer binary\n", version);
      rc = -1;
      break;
    }
    char sum[65];
    sha256_hex(m->sql, sum);
    if (strcmp(sum, PQgetvalue(res, r, 1)) != 0) {
      fprintf(stderr, "migrate: migration %04d_%s was changed after it was applied; add a new "
                      "migration instead\n", m->version, m->name);
      rc = -1;
    }
    if (version > *applied_max) *applied_max = version;
  }
  /* A migration older than the newest applied one but never applied (e.g. merged in from
   * another branch) would otherwise be skipped silently: refuse instead. */
  for (size_t i = 0; rc == 0 && i < MIGRATION_COUNT; i++) {
    if (MIGRATIONS[i].version >= *applied_max) continue;
    bool applied = false;
    for (int r = 0; r < PQntuples(res) && !applied; r++)
      applied = atoi(PQgetvalue(res, r, 0)) == MIGRATIONS[i].version;
    if (!applied) {
      fprintf(stderr, "migrate: migration %04d_%s is older than the newest applied (%d) but was "
                      "never applied; restore the database or renumber the migration\n",
              MIGRATIONS[i].version, MIGRATIONS[i].name, *applied_max);
      rc = -1;
    }
  }
  PQclear(res);
  return rc;
}

static int apply_one(PGconn *pg, const struct migration *m, const char *app_role) {
  char sum[65], version[16];
  sha256_hex(m->sql, sum);
  snprintf(version, sizeof version, "%d", m->version);
  const char *role_param[] = {app_role};
  const char *record[] = {version, m->name, sum};
  if (exec_ok(pg, "BEGIN", 0, NULL, NULL)) return -1;
  if (exec_ok(pg, "SELECT set_config('carecoord.app_role', $1, true)", 1, role_param, NULL) ||
      exec_ok(pg, m->sql, 0, NULL, NULL) ||
      exec_ok(pg, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
              3, record, NULL) ||
      exec_ok(pg, "COMMIT", 0, NULL, NULL)) {
    PQclear(PQexec(pg, "ROLLBACK"));
    fprintf(stderr, "migrate: %04d_%s failed; nothing of it was applied\n", m->version, m->name);
    return -1;
  }
  fprintf(stderr, "migrate: applied %04d_%s\n", m->version, m->name);
  return 0;
}

int migrate_run(const char *conninfo, const char *app_role) {
  PGconn *pg = PQconnectdb(conninfo);
  if (PQstatus(pg) != CONNECTION_OK) {
    fprintf(stderr, "migrate: cannot connect: %s", PQerrorMessage(pg));
    PQfinish(pg);
    return -1;
  }
  PQclear(PQexec(pg, "SET client_min_messages = warning"));
  int rc = -1, applied_max = 0, applied_now = 0;
  if (exec_ok(pg, "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")", 0, NULL, NULL)) goto done;
  if (exec_ok(pg,
              "CREATE TABLE IF NOT EXISTS schema_migrations ("
              " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
              " applied_at timestamptz NOT NULL DEFAULT now())",
              0, NULL, NULL))
    goto unlock;
  if (check_applied(pg, &applied_max)) goto unlock;
  for (size_t i = 0; i < MIGRATION_COUNT; i++) {
    if (MIGRATIONS[i].version <= applied_max) continue;
    if (apply_one(pg, &MIGRATIONS[i], app_role)) goto unlock;
    applied_now++;
  }
  fprintf(stderr, "migrate: schema at version %d (%d applied now)\n", migrations_latest_version(),
          applied_now);
  rc = 0;
unlock:
  PQclear(PQexec(pg, "SELECT pg_advisory_unlock(" MIGRATION_LOCK_KEY ")"));
done:
  PQfinish(pg);
  return rc;
}
