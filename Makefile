# ckafka-dump — build, test, run locally.
#   make demo                        run the main job locally (no cloud account needed)
#   make test                        every test, against real servers started on 127.0.0.1
#   make invoke FN=to-es EVENT=events/scf-ckafka.json [ARGS=--dry-run]
#   make bench                       benchmarks → BENCHMARKS.md
#   make build                       release bootstraps in target/release/{to-cos,to-es,to-kafka}
FUNCTIONS := to-cos to-es to-kafka
# Servers the integration tests need (scripts/services.sh names).
SERVICES ?= tansu kafka-scram kafka-plain es opensearch es-auth
export SERVICES

.PHONY: test demo invoke bench build services-start services-stop

test:
	scripts/test.sh

demo:
	scripts/demo.sh

invoke:
	cargo run -q -p $(FN) -- invoke --event $(EVENT) $(ARGS)

bench:
	scripts/bench.sh

build:
	cargo build --release $(addprefix -p ,$(FUNCTIONS))

services-start:
	scripts/services.sh start $(SERVICES)

services-stop:
	scripts/services.sh stop
