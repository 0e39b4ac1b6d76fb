#!/usr/bin/env bash
# `make demo-sql`: the to-sql job on this machine. Starts PostgreSQL 15 and MariaDB 10.11 (Debian's packages,
# installed on first use), builds to-sql, and into each database dumps the sample events twice — the second time
# is a re-delivery, which writes nothing — into a table shaped like the MySQL template's (offset, msgBody) and a
# table with JSON fields as columns, then shows the rows, the dead letters and the offsets table. Stops the servers it started.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(scripts/services.sh start postgres mariadb)
trap '[ -z "$started" ] || scripts/services.sh stop $started' EXIT
# shellcheck disable=SC1091
source .services/env

target=${CARGO_TARGET_DIR:-target}
echo "== building to-sql (release; a few minutes on a fresh machine)"
cargo build --release -p to-sql
export LOG_FORMAT=${LOG_FORMAT:-text}
# A record a text column cannot hold (a binary value in one sample event) goes to the dead-letter table.
export dead_letter_table=demo_dead_letters
suffix=$(date +%s)
pg() {
  local password=${CKD_PG_URL#*://*:}
  PGPASSWORD=${password%%@*} psql -h 127.0.0.1 -p "$(echo "$CKD_PG_URL" | sed 's|.*:\([0-9]*\)/.*|\1|')" -U ckd ckd -c "$1"
}
my() {
  local password=${CKD_MYSQL_URL#*://*:}
  mariadb --no-defaults -h127.0.0.1 -P"$(echo "$CKD_MYSQL_URL" | sed 's|.*:\([0-9]*\)/.*|\1|')" -uckd \
    -p"${password%%@*}" ckd --table -e "$1"
}

pg "CREATE TABLE demo_$suffix (\"offset\" bigint, \"msgBody\" text)" >/dev/null
pg "CREATE TABLE demo_fields_$suffix (topic text, \"partition\" int, \"offset\" bigint, kafka_timestamp timestamptz, level text, msg text, value text)" >/dev/null
my "CREATE TABLE demo_$suffix (\`offset\` bigint, \`msgBody\` text);
    CREATE TABLE demo_fields_$suffix (topic varchar(249), \`partition\` int, \`offset\` bigint, kafka_timestamp datetime(3), level varchar(16), msg text, value text)"

for round in first re-delivery; do
  for table in demo_$suffix demo_fields_$suffix; do
    echo "== $round: to-sql invoke for each sample event into PostgreSQL and MariaDB table $table"
    for event in events/*.json; do
      printf '%-45s ' "$event"
      db_url=$CKD_PG_URL db_table=$table "$target/release/to-sql" invoke --event "$event" 2>/dev/null
      printf '%-45s ' "  (MariaDB)"
      db_url=$CKD_MYSQL_URL db_table=$table "$target/release/to-sql" invoke --event "$event" 2>/dev/null
    done
  done
done

echo
echo "== PostgreSQL demo_fields_$suffix (JSON fields by name, metadata by name):"
pg "SELECT topic, \"partition\", \"offset\", kafka_timestamp, level, msg, left(value, 40) AS value FROM demo_fields_$suffix ORDER BY 1, 2, 3"
echo "== MariaDB demo_$suffix (the MySQL template's table):"
my "SELECT \`offset\`, left(msgBody, 50) AS msgBody FROM demo_$suffix ORDER BY 1"
echo "== PostgreSQL's dead letters (each with the database's or the conversion's reason):"
pg "SELECT target_table, topic, \"partition\", \"offset\", error FROM demo_dead_letters WHERE target_table LIKE 'demo%$suffix'"
echo "== the offsets table (each partition's next offset, committed with the rows):"
pg "SELECT * FROM ckafka_dump_offsets WHERE target_table LIKE 'demo%$suffix' ORDER BY 1, 2, 3"
