# rtcloud: `make dev` runs everything in one process; `make test` runs the tests.
GO ?= go
TEST_TIMEOUT ?= 20m

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/rtcloud/rtcloud/internal/version.Version=$(VERSION)

.PHONY: dev build image image-media test test-deps vet fuzz bench

dev:
	$(GO) run ./cmd/rtcloud dev

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/rtcloud ./cmd/rtcloud

# The container image (Containerfile), with podman, buildah or docker:
# rtcloud:$(VERSION). IMAGE=registry/name to name it for a registry.
image:
	VERSION=$(VERSION) ./scripts/image.sh

# The media image: the same plus ffmpeg, for egress, ingress and sip.
image-media:
	VERSION=$(VERSION) KIND=media ./scripts/image.sh

test-deps:
	./scripts/test-deps.sh

test: test-deps
	$(GO) vet ./...
	GO=$(GO) TEST_TIMEOUT=$(TEST_TIMEOUT) ./scripts/gotest.sh

# Short fuzzing runs of every network parser.
fuzz:
	./scripts/fuzz.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
