# rtcloud: `make dev` runs everything in one process; `make test` runs the tests.
GO ?= go
TEST_TIMEOUT ?= 20m

.PHONY: dev build test test-deps vet fuzz bench

dev:
	$(GO) run ./cmd/rtcloud dev

build:
	$(GO) build -o bin/rtcloud ./cmd/rtcloud

test-deps:
	./scripts/test-deps.sh

test: test-deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

# Short fuzzing runs of every network parser.
fuzz:
	./scripts/fuzz.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
