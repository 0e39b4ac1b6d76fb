#!/usr/bin/env bash
# `make demo-es`: the to-es job on this machine. Starts a local ES-API server (noida-db, a reimplementation of
# the Elasticsearch 8 REST API; installed on first use), builds to-es, dumps every sample event in events/
# into it twice (the second time is a re-delivery: the document count must not change), and shows what
# landed. Stops the server if it started it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Stop on exit only what this run started, not servers that were already up.
started=$(scripts/services.sh start es)
trap '[ -z "$started" ] || scripts/services.sh stop $started' EXIT
# shellcheck disable=SC1091
source .services/env

target=${CARGO_TARGET_DIR:-target}
echo "== building to-es (release; a few minutes on a fresh machine)"
cargo build --release -p to-es
keyword=demo-$(date +%s)
export ES_Address=$CKD_ES_URL ES_Index_KeyWord=$keyword ES_Kafka_Meta_Field=kafka LOG_FORMAT=${LOG_FORMAT:-text}

for round in first re-delivery; do
  echo "== $round: to-es invoke for each sample event"
  for event in events/*.json; do
    printf '%-45s ' "$event"
    "$target/release/to-es" invoke --event "$event" 2>/dev/null
  done
done

curl -s -XPOST "$CKD_ES_URL/$keyword-*/_refresh" >/dev/null
echo
echo "== documents in $keyword-* (after two deliveries of every event):"
curl -s "$CKD_ES_URL/$keyword-*/_count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'
echo "== three of them:"
curl -s "$CKD_ES_URL/$keyword-*/_search?size=3" | python3 -c '
import json, sys
for hit in json.load(sys.stdin)["hits"]["hits"]:
    print(hit["_index"], hit["_id"], json.dumps(hit["_source"], ensure_ascii=False))'
