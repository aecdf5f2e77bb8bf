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
test: test-deps ## run vet and every test (installs what the tests need first)
	$(GO) vet ./...
	KAPPA_REQUIRE_SERVICES=1 $(GO) test -count=1 -timeout 14m ./...

.PHONY: test-deps
test-deps: ## install the test peers the tests start themselves (kinesalite via npm)
	@scripts/install-kinesalite.sh "$(TOOLS)/kinesalite"

.PHONY: kinesis
kinesis: test-deps ## run kinesalite (Kinesis emulator) on 127.0.0.1:4567 until Ctrl-C
	node internal/testsvc/kinesistest/kinesalite.js "$(TOOLS)/kinesalite/node_modules/kinesalite" 4567 127.0.0.1

.PHONY: demo
demo: ## run the main demo on embedded defaults (no setup)
	$(GO) run ./examples/analytics

.PHONY: bench
bench: ## W1 through kappa and a plain Go loop at 1e6 and 1e7 events; prints events/s and the ratio
	$(GO) run ./examples/windowsum -bench -n 1000000
	$(GO) run ./examples/windowsum -bench -n 10000000

.PHONY: vet
vet: ## go vet
	$(GO) vet ./...

.PHONY: fmt
fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')
