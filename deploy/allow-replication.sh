#!/bin/sh
# Run once by the database image when it creates its data directory (docker-entrypoint-initdb.d):
# lets the `replica` service (docker compose --profile replica) stream WAL with the same password.
set -eu
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
