# Nexa Integrations. `make run` shows the system working; `make test` runs every test.
SHELL := /bin/bash
DEBIAN_PACKAGES := libprotobuf-c-dev protobuf-c-compiler libpq-dev libcurl4-openssl-dev libssl-dev ca-certificates python3 wrk bc \
	postgresql postgresql-contrib protobuf-compiler python3-protobuf python3-boto3 curl stress-ng
PG_PORT ?= 55432
PG_TEST_PORT ?= 55433
DATA := $(CURDIR)/.data
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN = $(shell swift build --show-bin-path)

.PHONY: deps build proto proto-check db db-stop run test test-repeat bench fuzz clean

deps: ## Install the Debian packages the build and the services need (once).
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

build: deps
	swift build

proto: deps ## Regenerate protoc-c output and Swift bindings from Protos/.
	./deploy/scripts/proto.sh

proto-check: deps ## Fail if the committed generated code is stale.
	./deploy/scripts/proto.sh check

db: deps ## Start the project-local PostgreSQL on $(PG_PORT).
	./deploy/scripts/pg.sh start $(DATA)/pg $(PG_PORT)

db-stop:
	./deploy/scripts/pg.sh stop $(DATA)/pg

run: build db ## Build, start PostgreSQL and every service, show them working. Ctrl-C stops all.
	NEXA_DATABASE_URL=postgresql://nexa@127.0.0.1:$(PG_PORT)/nexa ./deploy/scripts/run.sh "$(BIN)"

test: deps proto-check ## Every test, against a throwaway PostgreSQL.
	swift build --build-tests
	PG_TEST_PORT=$(PG_TEST_PORT) ./deploy/scripts/test.sh "$(BIN)"

N ?= 10
LOAD ?= 0
test-repeat: deps proto-check ## The whole suite N times (default 10) on one build; LOAD=2 adds 2 CPU hogs. Prints how many runs passed.
	swift build --build-tests
	PG_TEST_PORT=$(PG_TEST_PORT) LOAD=$(LOAD) ./deploy/scripts/test.sh "$(BIN)" $(N)

bench: deps ## RPC beside a bare SwiftNIO echo; CRM matching; mail sentiment/intent accuracy; webhook ingest, import and mail sync beside their baselines; pushed-mail latency (release).
	swift build -c release
	./deploy/scripts/bench.sh
	./deploy/scripts/bench-webhooks.sh
	./deploy/scripts/bench-import.sh
	./deploy/scripts/bench-mail-sync.sh
	./deploy/scripts/bench-mail-push.sh

fuzz: deps ## libFuzzer on the frame and message decoders for a bounded time (FUZZ_SECONDS, default 60).
	./deploy/scripts/fuzz.sh

clean:
	-./deploy/scripts/pg.sh stop $(DATA)/pg
	-./deploy/scripts/pg.sh stop $(DATA)/pg-test
	rm -rf .build .build-fuzz $(DATA)
