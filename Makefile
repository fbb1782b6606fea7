# cuttle: see README.md. `make demo` and `make test` need root on Debian 12.
GO       ?= go
BIN      := bin/cuttle
FUZZTIME ?= 10s
export PATH := $(PATH):/usr/local/go/bin
export CGO_ENABLED := 0

.PHONY: build demo test unit integration test-faults test-race fuzz vet deps bench clean

VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS  := -X main.version=$(VERSION)

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/cuttle

deps:
	./scripts/install-deps.sh

demo: deps build
	$(GO) run ./internal/cmd/demo $(BIN)

# vet also builds the controller for Windows and macOS (the worker side,
# package agent, is Linux-only) and checks the worker shell scripts.
vet:
	$(GO) vet ./...
	$(GO) vet -tags integration ./...
	GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null ./cmd/cuttle
	GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./cmd/cuttle
	GOOS=darwin GOARCH=amd64 $(GO) build -o /dev/null ./cmd/cuttle
	for f in remote/scripts/*.sh bundle/helpers/octopus.sh; do sh -n "$$f" || exit 1; done
	bash -n bundle/helpers/octopus.bash
	shellcheck -s sh remote/scripts/*.sh bundle/helpers/octopus.sh
	shellcheck -s bash bundle/helpers/octopus.bash

# The whole suite: unit tests, end-to-end tests against real sshd and
# dockerd, then every fuzz target for a short, bounded time.
test: deps vet
	$(GO) test -tags integration -count=1 -timeout 25m ./...
	$(MAKE) fuzz

unit:
	$(GO) test ./...

integration: deps
	$(GO) test -tags integration -count=1 ./integration/...

# The fault-injection suite alone (network namespaces, cut and lossy
# links, killed sshd and controllers, full disks); also part of make test.
test-faults: deps
	$(GO) test -tags integration -count=1 -v -run 'TestFault' ./integration

# The end-to-end suite with the controller built with -race (workers run
# the static build): about 4 minutes; not part of make test.
test-race: deps
	CUTTLE_IT_RACE=1 $(GO) test -tags integration -count=1 -timeout 25m ./integration

# Every fuzz target, each for FUZZTIME (go test -fuzz takes one at a time).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzJoin$$' -fuzztime $(FUZZTIME) ./internal/shellquote
	$(GO) test -run '^$$' -fuzz '^FuzzSplitLine$$' -fuzztime $(FUZZTIME) ./octopus
	$(GO) test -run '^$$' -fuzz '^FuzzFrames$$' -fuzztime $(FUZZTIME) ./wire
	$(GO) test -run '^$$' -fuzz '^FuzzSplitOptions$$' -fuzztime $(FUZZTIME) ./remote
	$(GO) test -run '^$$' -fuzz '^FuzzBlocksMatchLines$$' -fuzztime $(FUZZTIME) ./remote
	$(GO) test -run '^$$' -fuzz '^FuzzMaskedChunks$$' -fuzztime $(FUZZTIME) ./internal/mask
	$(GO) test -run '^$$' -fuzz '^FuzzHolds$$' -fuzztime $(FUZZTIME) ./internal/mask
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./config
	$(GO) test -run '^$$' -fuzz '^FuzzDelta$$' -fuzztime $(FUZZTIME) ./wire
	$(GO) test -run '^$$' -fuzz '^FuzzApplyDelta$$' -fuzztime $(FUZZTIME) ./wire
	$(GO) test -run '^$$' -fuzz '^FuzzReadSignature$$' -fuzztime $(FUZZTIME) ./wire
	$(GO) test -run '^$$' -fuzz '^FuzzParseFlag$$' -fuzztime $(FUZZTIME) ./packages
	$(GO) test -run '^$$' -fuzz '^FuzzExtract$$' -fuzztime $(FUZZTIME) ./agent

# Benchmarks against peers (OpenSSH ssh/scp/sftp, Ansible), printed as a
# Markdown table; the program writes all of bench/RESULTS.md (the analysis
# is in bench/NOTES.md). About 10 minutes; not part of make test.
bench: deps build
	$(GO) run ./bench -cuttle $(BIN) -results bench/RESULTS.md

clean:
	rm -rf bin
