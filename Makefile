# kappa — make help lists the targets.
SHELL := /bin/bash
GO ?= go
TOOLS := $(CURDIR)/.tools
export KAPPA_TOOLS := $(TOOLS)

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | sort | awk 'BEGIN{FS=":.*## "}{printf "  make %-14s %s\n", $$1, $$2}'

.PHONY: test
test: test-deps ## run vet, every test, and the core packages again under the race detector
	$(GO) vet ./...
	KAPPA_REQUIRE_SERVICES=1 $(GO) test -count=1 -timeout 14m ./...
	cd examples/external && $(GO) vet -mod=mod ./... && $(GO) test -mod=mod -count=1 ./... # kappa from another module, public API only
	$(GO) test -race -count=1 -timeout 10m ./pipeline/... ./windowing/... ./transforms/... ./pipelinetest/... ./runners/local/...
	scripts/test-prism.sh

.PHONY: test-prism
test-prism: ## run the transforms/windowing/pipeline suites on Beam's Prism runner (runners/beam) and check the refused list
	scripts/test-prism.sh

.PHONY: test-conformance
test-conformance: test-deps ## run the connector conformance suite (io/iotest) on every connector
	KAPPA_REQUIRE_SERVICES=1 $(GO) test -count=1 -run 'TestConformance|TestFeed|TestSuiteCatchesBrokenSources' ./io/...

.PHONY: test-deps
test-deps: ## install the test peers the tests start themselves (kinesalite via npm)
	@scripts/install-kinesalite.sh "$(TOOLS)/kinesalite"
	@scripts/install-postgres.sh
	@scripts/install-protoc.sh
	@scripts/install-chromium.sh # headless browser for the status page test (runners/local/status)

.PHONY: kinesis
kinesis: test-deps ## run kinesalite (Kinesis emulator) on 127.0.0.1:4567 until Ctrl-C
	node internal/testsvc/kinesistest/kinesalite.js "$(TOOLS)/kinesalite/node_modules/kinesalite" 4567 127.0.0.1

.PHONY: s3
s3: ## run an in-memory S3 server (gofakes3) on 127.0.0.1:9100 with bucket kappa until Ctrl-C
	$(GO) run ./internal/testsvc/s3test/cmd/fakes3 -addr 127.0.0.1:9100 -bucket kappa

KAFKA_TOPICS ?= w1:4

.PHONY: kafka
kafka: ## run a Kafka-protocol broker (kfake) on 127.0.0.1:9092 with topics $(KAFKA_TOPICS) until Ctrl-C
	$(GO) run ./cmd/kafkabroker -port 9092 -topics $(KAFKA_TOPICS)

.PHONY: bench-kafka
bench-kafka: ## move 200k W1 records Kafka to Kafka: kafka-go loop vs kappa source+sink (ALO, EOS) vs kgo; records/s
	$(GO) test -run '^$$' -bench BenchmarkKafkaToKafka -benchtime 5x ./io/kafkaio/

.PHONY: bench-parquet
bench-parquet: ## scan 1e6 W1 events from Parquet (local, S3 loopback) via the source and a plain parquet-go loop
	$(GO) test -run '^$$' -bench BenchmarkScan -benchtime 10x -count 3 ./io/parquetio/

.PHONY: bench-postgres
bench-postgres: test-deps ## upsert 100k-row epochs into a private PostgreSQL (fsync on) via io/pgio vs a plain pgx loop; rows/s, ms per small epoch
	$(GO) test -run '^$$' -bench BenchmarkUpsert -benchtime 5x ./io/pgio/
	$(GO) test -run '^$$' -bench BenchmarkSmallEpochs -benchtime 200x ./io/pgio/

.PHONY: demo
demo: ## the Kappa demo on embedded defaults (Kafka broker in-process, Parquet in a temp folder; no setup)
	$(GO) run ./examples/analytics -kappa

BENCH_N ?= 1000000 10000000

.PHONY: bench
bench: ## W1 through kappa and a plain Go loop (1e6, 1e7 events; BENCH_N="... 100000000" adds 1e8): events/s, ratio, peak RSS
	scripts/bench.sh $(BENCH_N)

.PHONY: vet
vet: ## go vet
	$(GO) vet ./...

.PHONY: fmt
fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

NEXMARK_N ?= 10000000

.PHONY: bench-nexmark
bench-nexmark: ## Nexmark q0–q8, q11, q12 on kappa at NEXMARK_N events (1e7; q0–q2 ×10), 1 and 2 workers, vs Flink per core
	NEXMARK_N=$(NEXMARK_N) scripts/bench-nexmark.sh
