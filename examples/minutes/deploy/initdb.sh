#!/bin/sh
# Run once by the postgres image when its data directory is new (docker-entrypoint-initdb.d): the
# app's own login role, which owns nothing and bypasses nothing, so row-level security binds it;
# it may read and write the tables the migrations (run as the owner) will make.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set=password="$MINUTES_APP_PASSWORD" <<'SQL'
create role minutes_app login password :'password';
alter default privileges in schema public grant select, insert, update, delete on tables to minutes_app;
SQL
