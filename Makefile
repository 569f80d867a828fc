# wtt — build, test and demo. `make demo` and `make test` need only Go and
# Python 3 with moto (preinstalled on the project's machines).

GO            ?= go
PYTHON        ?= python3
EMULATOR_PORT ?= 4566
BIN           := bin
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS       := -s -w -X github.com/whatsthetime/wtt/pkg/cli.Version=$(VERSION) \
                 -X github.com/whatsthetime/wtt/pkg/cli.Commit=$(shell git rev-parse --short HEAD 2>/dev/null || echo none) \
                 -X github.com/whatsthetime/wtt/pkg/cli.Date=$(shell date -u +%Y-%m-%dT%H:%M:%SZ)

.PHONY: all build test test-deps test-go test-emulator demo emulator bench lint clean tutorial release-snapshot test-release goreleaser

all: build

## build: bin/wtt and the linux time server it delivers (bin/whatsthetime-linux-amd64)
# wtt is static, as the release archives (.goreleaser.yaml) and the test
# suites build it: a cgo build loads libc through the dynamic loader at
# every start, 1-2.5 ms of a 20 ms command (perf stat -r 100 wtt --help).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/wtt ./cmd/wtt
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '-s -w' -o $(BIN)/whatsthetime-linux-amd64 ./timeserver
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '-s -w' -o $(BIN)/whatsthetime-linux-arm64 ./timeserver

## test: every Go test (unit and end-to-end against a fresh emulator) and the emulator's own tests,
## side by side (docs/performance.md, "make test"); each part's output is printed when it ends
test:
	@$(MAKE) --no-print-directory -j4 --output-sync=target test-vet test-go test-emulator-api test-emulator-dataplane

# -parallel: the end-to-end suites mostly wait (waiters, health checks,
# leases), so more of them run at once than there are cores; each has
# emulators of its own.
TEST_PARALLEL ?= 8
test-go: test-deps
	$(GO) test -count=1 -parallel $(TEST_PARALLEL) -timeout 40m ./...

.PHONY: test-vet
test-vet:
	$(GO) vet ./...

## test-deps: what the tests need from Debian (Chromium), installed when missing
test-deps:
	./scripts/test-deps.sh

# The data plane's tests run the time server bin/ holds, so build first.
# The two modules start emulators of their own and run side by side under -j.
.PHONY: test-emulator-api test-emulator-dataplane
test-emulator: test-emulator-api test-emulator-dataplane
test-emulator-api: build
	cd emulator && $(PYTHON) -m unittest test_wtt_emulator test_speedups test_keepalive
test-emulator-dataplane: build
	cd emulator && $(PYTHON) -m unittest test_dataplane

## demo: the whole story on the local emulator, plans and status printed, then torn down
demo: build
	./scripts/demo.sh

## tutorial: docs/tutorial.md from a real walk up the ladder on a fresh emulator (make test checks it)
tutorial:
	WTT_UPDATE_TUTORIAL=1 $(GO) test -count=1 -timeout 30m -v -run '^TestTutorial$$' ./scripts/tutorial/

## emulator: the local AWS endpoint in the foreground on 127.0.0.1:$(EMULATOR_PORT), data plane on
emulator: build
	$(PYTHON) emulator/wtt_emulator.py --host 127.0.0.1 --port $(EMULATOR_PORT)

## bench: the time server's throughput and the planner's call counts
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./timeserver/ ./pkg/...
	./bench/timeserver.sh
	$(MAKE) bench-ladder
	$(MAKE) bench-ladder-cpu
	$(MAKE) bench-emulator

## bench-ladder: the ladder beside an aws-cli runbook of it, requests per command, start-up
.PHONY: bench-ladder
bench-ladder: build
	./bench/ladder.sh

## bench-ladder-cpu: wtt's own CPU per ladder command (perf stat), beside its wall time
.PHONY: bench-ladder-cpu
bench-ladder-cpu: build
	./bench/ladder-cpu.sh

## bench-emulator: the emulator's CPU per request with and without its speedups (emulator/speedups.py)
.PHONY: bench-emulator
bench-emulator: build
	./bench/emulator.sh

## release-snapshot: every release archive in dist/, as a tagged release would make them (nothing published)
GORELEASER_VERSION ?= v2.15.1
GORELEASER         ?= $(shell command -v goreleaser 2>/dev/null || echo $$($(GO) env GOPATH)/bin/goreleaser)
release-snapshot: goreleaser
	$(GORELEASER) release --snapshot --clean --skip=publish

## test-release: unpack the linux/amd64 release archive into an empty folder and run up and down from it
test-release: goreleaser
	$(GO) test -count=1 -run 'TestReleaseArchive' -v ./e2e/

goreleaser:
	@test -x "$(GORELEASER)" || $(GO) install github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION)

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

clean:
	rm -rf $(BIN) dist

## diagrams: docs/diagrams, one picture per rung, drawn by `wtt diagram` from the emulator
.PHONY: diagrams
diagrams: build
	./scripts/diagrams.sh
