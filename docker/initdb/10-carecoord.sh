#!/usr/bin/env bash
# Run by the postgres image once, on the first start of an empty data volume
# (/docker-entrypoint-initdb.d): the roles and the database that scripts/run makes for
# development. carecoord_owner owns the database and runs the migrations; carecoord_app is the
# service's role, given its privileges by `carecoord migrate`. The passwords come from the files
# named by CARECOORD_OWNER_PASSWORD_FILE and CARECOORD_APP_PASSWORD_FILE (docker/make-secrets)
# and reach psql through its environment, never its command line.
set -euo pipefail

CC_OWNER_PASSWORD="$(<"${CARECOORD_OWNER_PASSWORD_FILE:?}")" \
  CC_APP_PASSWORD="$(<"${CARECOORD_APP_PASSWORD_FILE:?}")" \
  psql -X -q -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres <<'SQL'
\getenv owner_password CC_OWNER_PASSWORD
\getenv app_password CC_APP_PASSWORD
CREATE ROLE carecoord_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
CREATE ROLE carecoord_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
CREATE DATABASE carecoord OWNER carecoord_owner TEMPLATE template0 ENCODING 'UTF8';
REVOKE CONNECT ON DATABASE carecoord FROM PUBLIC;
GRANT CONNECT ON DATABASE carecoord TO carecoord_owner, carecoord_app;
SQL
echo "initdb: roles carecoord_owner, carecoord_app and database carecoord created"
