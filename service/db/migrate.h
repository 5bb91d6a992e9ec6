/* Schema migrations, compiled into the binary from db/migrations (NNNN_name.sql). Applied in
 * order, each in its own transaction with its row in schema_migrations, under an advisory lock
 * so two migrators cannot interleave. A released migration is never edited: its SHA-256 is
 * recorded and checked on every run. */
#ifndef CARECOORD_MIGRATE_H
#define CARECOORD_MIGRATE_H

#include <stddef.h>

struct migration {
  int version;
  const char *name;
  const char *sql;
};

extern const struct migration MIGRATIONS[];
extern const size_t MIGRATION_COUNT;

/* The version this binary expects the database to be at. */
int migrations_latest_version(void);

/* Applies pending migrations over conninfo (owner role), granting to app_role.
 * Returns 0 on success; prints progress and errors to stderr. */
int migrate_run(const char *conninfo, const char *app_role);

#endif
