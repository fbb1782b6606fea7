# cuttle: see README.md. `make demo` and `make test` need root on Debian 12.
GO       ?= go
BIN      := bin/cuttle
FUZZTIME ?=
export PATH := $(PATH):/usr/local/go/bin
export CGO_ENABLED := 0

.PHONY: build runners release demo test unit integration test-faults test-race fuzz vet deps bench clean

VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS  := -X main.version=$(VERSION)

# The controller for this machine, carrying the step runners for
# linux/amd64 and linux/arm64 (cmd/cuttle-runner, embedded compressed).
build: runners
	$(GO) build -trimpath -buildvcs=auto -tags embedrunners -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/cuttle

# The step runners alone, for every worker platform (about 2.8 MB each
# compressed); gzip -n keeps them byte-identical across builds.
RUNNER_ARCHS := amd64 arm64
runners:
	mkdir -p bundle/runners bin
	for a in $(RUNNER_ARCHS); do \
	  GOOS=linux GOARCH=$$a $(GO) build -trimpath -tags nethttpomithttp2 -ldflags "-s -w" -o bin/cuttle-runner-linux-$$a ./cmd/cuttle-runner || exit 1; \
	  gzip -9 -n -c bin/cuttle-runner-linux-$$a > bundle/runners/linux-$$a.gz.tmp && mv bundle/runners/linux-$$a.gz.tmp bundle/runners/linux-$$a.gz || exit 1; \
	done

# Release archives for every controller platform in dist/, with
# SHA256SUMS: reproducible (same commit, same bytes), version from the tag.
RELEASE_PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
release: runners
	rm -rf dist && mkdir -p dist/stage
	set -e; mtime=$$(git log -1 --format=%ct); for p in $(RELEASE_PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; name=cuttle-$(VERSION)-$$os-$$arch; exe=; ext=tar.gz; \
	  [ $$os = windows ] && exe=.exe && ext=zip; \
	  mkdir -p dist/stage/$$name; \
	  GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -buildvcs=auto -tags embedrunners -ldflags "-s -w $(LDFLAGS)" -o dist/stage/$$name/cuttle$$exe ./cmd/cuttle; \
	  cp README.md SECURITY.md dist/stage/$$name/; \
	  $(GO) run ./internal/cmd/release -mtime $$mtime -o dist/$$name.$$ext dist/stage/$$name; \
	done
	rm -rf dist/stage
	cd dist && sha256sum cuttle-* > SHA256SUMS && cat SHA256SUMS

deps:
	./scripts/install-deps.sh

demo: deps build
	$(GO) run ./internal/cmd/demo $(BIN)

# vet also builds the controller for Windows and macOS (the worker side,
# package agent, is Linux-only) and checks the worker shell scripts.
# The controller's packages with their tests, type-checked for macOS and
# Windows by vet (the Linux-only test helpers, workers' runner, benches and
# integration tests are left out).
CROSS_PKGS = $$($(GO) list ./... | grep -v -e /integration -e /bench -e /internal/testenv -e /internal/cmd/demo -e /cmd/cuttle-runner)

vet:
	$(GO) vet ./...
	$(GO) vet -tags integration ./...
	GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null ./cmd/cuttle
	GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./cmd/cuttle
	GOOS=darwin GOARCH=amd64 $(GO) build -o /dev/null ./cmd/cuttle
	GOOS=windows GOARCH=amd64 $(GO) vet $(CROSS_PKGS)
	GOOS=darwin GOARCH=arm64 $(GO) vet $(CROSS_PKGS)
	for f in remote/scripts/*.sh bundle/helpers/octopus.sh bundle/helpers/octopus-common.sh; do sh -n "$$f" || exit 1; done
	bash -n bundle/helpers/octopus.bash
	shellcheck -s sh remote/scripts/*.sh bundle/helpers/octopus-common.sh
	shellcheck -x -s sh bundle/helpers/octopus.sh
	shellcheck -x -s bash bundle/helpers/octopus.bash

# The whole suite: unit tests, end-to-end tests against real sshd and
# dockerd; the unit tests again and the end-to-end suite again with the
# race detector (the controller built with -race); then every fuzz target
# for a short, bounded time. The first run is of the static build that
# ships (CGO_ENABLED=0: Go's own resolver and user lookup); -race needs
# cgo, so the race runs are of another build and do not replace it.
test: deps vet
	$(GO) test -tags integration -count=1 -timeout 25m ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...
	$(MAKE) test-race
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
# the static build): about 6 minutes; part of make test.
test-race: deps
	CUTTLE_IT_RACE=1 $(GO) test -tags integration -count=1 -timeout 25m ./integration

# Every fuzz target (go test -fuzz takes one at a time), each for a count
# of inputs that takes about 10 s here, or for FUZZTIME when it is set
# (FUZZTIME=1m). A count, not a duration, by default: with a duration, Go
# 1.26's fuzzing coordinator can fail a target with a bare "context
# deadline exceeded" as the time runs out (go.dev/issue/75804, fixed in
# Go 1.27); make test failed on it once.
fuzz = $(GO) test -run '^$$' -fuzz '^$(1)$$' -fuzztime $(if $(FUZZTIME),$(FUZZTIME),$(3)x) $(2)
fuzz:
	$(call fuzz,FuzzJoin,./internal/shellquote,15000)
	$(call fuzz,FuzzSplitLine,./octopus,250000)
	$(call fuzz,FuzzFrames,./wire,140000)
	$(call fuzz,FuzzSplitOptions,./remote,55000)
	$(call fuzz,FuzzBlocksMatchLines,./remote,9000)
	$(call fuzz,FuzzMaskedChunks,./internal/mask,180000)
	$(call fuzz,FuzzHolds,./internal/mask,20000)
	$(call fuzz,FuzzLoad,./config,8000)
	$(call fuzz,FuzzDelta,./wire,90000)
	$(call fuzz,FuzzApplyDelta,./wire,250000)
	$(call fuzz,FuzzReadSignature,./wire,250000)
	$(call fuzz,FuzzParseFlag,./packages,100000)
	$(call fuzz,FuzzExtract,./agent,14000)

# Benchmarks against peers (OpenSSH ssh/scp/sftp, Ansible), printed as a
# Markdown table; the program writes all of bench/RESULTS.md (the analysis
# is in bench/NOTES.md). About 10 minutes; not part of make test.
bench: deps build
	$(GO) run ./bench -cuttle $(BIN) -results bench/RESULTS.md

clean:
	rm -rf bin
