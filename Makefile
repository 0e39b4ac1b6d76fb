# ckafka-dump — build, test, run locally, package.
#   make demo                        run the main job locally: to-cos into a local directory (no server, no account)
#   make demo-es                     to-es into a local ES-API server
#   make demo-sql                    to-sql into local PostgreSQL and MariaDB, each batch delivered twice
#   make demo-restore                a topic dumped by to-cos into a local directory, then restored into a new topic
#   make test                        every test, against real servers started on 127.0.0.1
#   make invoke FN=to-es EVENT=events/scf-ckafka.json [ARGS=--dry-run]
#   make bench                       benchmarks, start-up/footprint and fuzzing → BENCHMARKS.md
#   make fuzz [FUZZ_RUNS=N]          cargo-fuzz targets, 10M executions each (part of make bench)
#   make lambda [ARCH=arm64|x86_64]  release bootstraps in $CARGO_TARGET_DIR/lambda/<function>/bootstrap (cargo lambda + zig)
#   make package [ARCH=...]          dist/<function>-<arch>.zip, each with an executable bootstrap
#   make build-ToEsFunction ...      what `sam build --build-in-source` calls (BuildMethod: makefile)
FUNCTIONS := to-cos to-es to-kafka to-sql restore
ARCH ?= arm64
# Servers the integration tests need (scripts/services.sh names).
SERVICES ?= tansu kafka-scram kafka-plain es opensearch es-auth s3 postgres mariadb
export SERVICES

CACHE := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/ckafka-dump
# One cargo target directory for the clones on this machine, beside the cached tools: a fresh clone compiles only
# the workspace's own crates. `make ... CARGO_TARGET_DIR=target` keeps it in the clone.
CARGO_TARGET_DIR ?= $(CACHE)/target
export CARGO_TARGET_DIR
# cargo-lambda finds zig (PyPI ziglang) through the python3 of its venv.
CARGO_LAMBDA := PATH=$(CACHE)/venv/bin:$$PATH $(CACHE)/venv/bin/cargo-lambda
RUST_TARGET_arm64 := aarch64-unknown-linux-gnu
RUST_TARGET_x86_64 := x86_64-unknown-linux-gnu
LAMBDA_FLAG_arm64 := --arm64
LAMBDA_FLAG_x86_64 := --x86-64

.PHONY: test demo demo-es invoke bench fuzz build lambda package services-start services-stop \
	build-ToCosFunction build-ToEsFunction build-ToKafkaFunction build-ToSqlFunction build-RestoreFunction \
	demo-sql demo-restore

test:
	scripts/test.sh

demo:
	scripts/demo.sh

demo-es:
	scripts/demo-es.sh

demo-sql:
	scripts/demo-sql.sh

demo-restore:
	scripts/demo-restore.sh

invoke:
	cargo run -q -p $(FN) -- invoke --event $(EVENT) $(ARGS)

bench:
	scripts/bench.sh

fuzz:
	scripts/fuzz.sh

build:
	cargo build --release $(addprefix -p ,$(FUNCTIONS))

# One workspace build for all functions: glibc binaries for provided.al2023 (and SCF's CustomRuntime), cross-
# linked by cargo-lambda's zig, so no cross gcc is needed on the build machine.
lambda:
	scripts/services.sh tools
	rustup target list --installed | grep -qx $(RUST_TARGET_$(ARCH)) || rustup target add $(RUST_TARGET_$(ARCH))
	$(CARGO_LAMBDA) lambda build --release $(LAMBDA_FLAG_$(ARCH)) $(addprefix -p ,$(FUNCTIONS))

package: lambda
	mkdir -p dist
	for fn in $(FUNCTIONS); do \
	  rm -f dist/$$fn-$(ARCH).zip; \
	  (cd $(CARGO_TARGET_DIR)/lambda/$$fn && chmod 755 bootstrap && python3 -m zipfile -c $(CURDIR)/dist/$$fn-$(ARCH).zip bootstrap); \
	done
	ls -l dist/

# SAM's logical ids → packages.
FUNCTION_ToCosFunction := to-cos
FUNCTION_ToEsFunction := to-es
FUNCTION_ToKafkaFunction := to-kafka
FUNCTION_ToSqlFunction := to-sql
FUNCTION_RestoreFunction := restore

build-ToCosFunction build-ToEsFunction build-ToKafkaFunction build-ToSqlFunction build-RestoreFunction: build-%: lambda
	cp $(CARGO_TARGET_DIR)/lambda/$(FUNCTION_$*)/bootstrap $(ARTIFACTS_DIR)/bootstrap

services-start:
	scripts/services.sh start $(SERVICES)

services-stop:
	scripts/services.sh stop
