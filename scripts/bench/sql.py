#!/usr/bin/env python3
"""to-sql vs the two Tencent templates' logic ported to Python 3 vs the databases' own bulk loaders, on the same
10,000 JSON log lines (one SCF event, ~6 MB) loaded into the same table, in one run:

PostgreSQL: to-sql (one process per batch: connect, read the table, COPY, offsets, commit) vs the
            KafkaToCDWByTrigger logic (psycopg2 `copy_from` of the batch in one transaction, warm connection, in
            this process) vs `psql \\copy` of the same rows from a file (the floor: the server's own client).
MariaDB:    to-sql vs the CkafkaToMysql logic (pymysql, autocommit, one INSERT per record, warm connection) vs
            `mariadb` `LOAD DATA LOCAL INFILE` of the same rows (the floor).
Then sustained rows/s: to-sql over many batches of consecutive offsets, one process per batch.
Every run loads into a fresh table; runs are interleaved. Prints one JSON object with medians.

usage: python -m bench.sql --event EVENT --to-sql BIN --pg-url URL --mysql-url URL [--runs 3] [--batches 10]
"""
import argparse
import io
import json
import os
import statistics
import subprocess
import tempfile
import time
import urllib.parse

import psycopg2
import pymysql

from .child import child

p = argparse.ArgumentParser()
p.add_argument("--event", required=True)
p.add_argument("--to-sql", required=True)
p.add_argument("--pg-url", required=True)
p.add_argument("--mysql-url", required=True)
p.add_argument("--runs", type=int, default=3)
p.add_argument("--batches", type=int, default=10)
a = p.parse_args()

event_text = open(a.event, encoding="utf-8").read()
event = json.loads(event_text)
COLUMNS = ["topic", "partition", "offset", "log_id", "level", "seq", "time", "msg"]


def rows_of(ev):
    """The rows every tool writes: metadata plus the JSON value's fields."""
    out = []
    for r in ev["Records"]:
        c = r["Ckafka"]
        doc = json.loads(c["msgBody"])
        out.append((c["topic"], c["partition"], c["offset"], doc["log_id"], doc["level"], doc["seq"], doc["time"],
                    doc["msg"]))
    return out


def tsv(rows):
    esc = lambda v: str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")  # noqa: E731
    return "".join("\t".join(esc(v) for v in row) + "\n" for row in rows)


rows = rows_of(event)
records = len(rows)
data_file = tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False, encoding="utf-8")
data_file.write(tsv(rows))
data_file.close()


def parts(url):
    u = urllib.parse.urlparse(url)
    return dict(host=u.hostname, port=u.port, user=urllib.parse.unquote(u.username),
                password=urllib.parse.unquote(u.password), db=u.path.lstrip("/"))


pg, my = parts(a.pg_url), parts(a.mysql_url)
pg_conn = psycopg2.connect(host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"],
                           dbname=pg["db"])
pg_conn.autocommit = True
my_conn = pymysql.connect(host=my["host"], port=my["port"], user=my["user"], password=my["password"],
                          database=my["db"], autocommit=True, local_infile=True, charset="utf8mb4")


def pg_table(name):
    with pg_conn.cursor() as c:
        c.execute(f'DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (topic text, "partition" int, "offset" bigint, '
                  'log_id text, level text, seq bigint, time bigint, msg text)')


def my_table(name):
    with my_conn.cursor() as c:
        c.execute(f"DROP TABLE IF EXISTS {name}")
        c.execute(f"CREATE TABLE {name} (topic varchar(249), `partition` int, `offset` bigint, log_id varchar(64), "
                  "level varchar(8), seq bigint, time bigint, msg text) ENGINE=InnoDB")


def count(conn, name):
    with conn.cursor() as c:
        c.execute(f"SELECT COUNT(*) FROM {name}")
        return c.fetchone()[0]


def run_to_sql(url, name, event_path=a.event):
    return child([a.to_sql, "invoke", "--event", event_path], env={**os.environ, "db_url": url, "db_table": name})


def pg_template(name):
    # KafkaToCDWByTrigger: one StringIO of the batch, copy_from in one transaction (here: the same rows).
    w, c = time.perf_counter(), time.process_time()
    batch = rows_of(json.loads(event_text))
    conn = pg_conn
    conn.autocommit = False
    with conn.cursor() as cur:
        cur.copy_from(io.StringIO(tsv(batch)), name, sep="\t", null="\\N",
                      columns=["topic", "partition", "offset", "log_id", "level", "seq", "time", "msg"])  # psycopg2 quotes them
    conn.commit()
    conn.autocommit = True
    return time.perf_counter() - w, time.process_time() - c


def pg_floor(name):
    cols = 'topic, "partition", "offset", log_id, level, seq, time, msg'
    return child(["psql", "-q", "-h", pg["host"], "-p", str(pg["port"]), "-U", pg["user"], pg["db"], "-c",
                  f"\\copy {name} ({cols}) from '{data_file.name}'"], env={**os.environ, "PGPASSWORD": pg["password"]})


def my_template(name):
    # CkafkaToMysql: autocommit, one INSERT per record (the template inserted offset and msgBody; here the row).
    w, c = time.perf_counter(), time.process_time()
    batch = rows_of(json.loads(event_text))
    with my_conn.cursor() as cur:
        for row in batch:
            cur.execute(f"INSERT INTO {name} (topic, `partition`, `offset`, log_id, level, seq, time, msg) "
                        "VALUES (%s,%s,%s,%s,%s,%s,%s,%s)", row)
    return time.perf_counter() - w, time.process_time() - c


def my_floor(name):
    return child(["mariadb", "--no-defaults", f"-h{my['host']}", f"-P{my['port']}", f"-u{my['user']}",
                  f"-p{my['password']}", "--local-infile=1", my["db"], "-e",
                  f"LOAD DATA LOCAL INFILE '{data_file.name}' INTO TABLE {name} "
                  "(topic, `partition`, `offset`, log_id, level, seq, time, msg)"])


suites = {
    "postgres": (pg_table, pg_conn, {
        "to-sql": lambda n: run_to_sql(a.pg_url + "?sslmode=disable", n),
        "template (psycopg2 copy_from)": pg_template,
        "psql \\copy (floor)": pg_floor,
    }),
    "mariadb": (my_table, my_conn, {
        "to-sql": lambda n: run_to_sql(a.mysql_url, n),
        "template (pymysql row by row)": my_template,
        "LOAD DATA LOCAL INFILE (floor)": my_floor,
    }),
}
result = {"records": records, "event_bytes": len(event_text.encode()), "runs": a.runs}
for db, (make_table, conn, tools) in suites.items():
    times = {name: {"wall": [], "cpu": []} for name in tools}
    for i in range(a.runs):
        for name, fn in tools.items():
            table = f"bench_{db}_{os.getpid()}_{i}_{list(tools).index(name)}"
            make_table(table)
            wall, cpu = fn(table)
            assert count(conn, table) == records, f"{db} {name}: {count(conn, table)} rows"
            times[name]["wall"].append(wall)
            times[name]["cpu"].append(cpu)
    result[db] = {name: {"median_wall_s": statistics.median(t["wall"]), "median_cpu_s": statistics.median(t["cpu"])}
                  for name, t in times.items()}

# Sustained: consecutive batches into one table, one to-sql process per batch (cold start and connect included).
with tempfile.TemporaryDirectory() as d:
    paths = []
    for b in range(a.batches):
        ev = json.loads(event_text)
        for r in ev["Records"]:
            r["Ckafka"]["offset"] += b * 1_000_000
        path = os.path.join(d, f"batch{b}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(ev, f, ensure_ascii=False)
        paths.append(path)
    for db, make_table, url, conn in [("postgres", pg_table, a.pg_url + "?sslmode=disable", pg_conn),
                                      ("mariadb", my_table, a.mysql_url, my_conn)]:
        sustained = f"bench_sustained_{os.getpid()}"
        make_table(sustained)
        w = time.perf_counter()
        for path in paths:
            run_to_sql(url, sustained, path)
        wall = time.perf_counter() - w
        assert count(conn, sustained) == records * a.batches
        result[db]["sustained_rows_per_s"] = records * a.batches / wall
        result[db]["sustained_batches"] = a.batches

os.remove(data_file.name)
print(json.dumps(result))
