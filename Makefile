# weed: the two commands users need are `make run` and `make test`.
GO       ?= go
BIN      := bin/weed
# Count-based budgets: a duration -fuzztime can fail spuriously with "context
# deadline exceeded" in Go 1.26 (golang/go#75804); a count has no deadline to race.
FUZZTIME ?= 10000x
# Every parser's fuzz target (package:target), run for FUZZTIME each by `make fuzz`.
FUZZ_TARGETS := \
	./needle:FuzzParseFileID ./needle:FuzzParseURLPath ./needle:FuzzParseTTL \
	./needle:FuzzParseRecord ./needle:FuzzWalkIdx ./needle:FuzzCompactMap \
	./volume:FuzzLoadVolume ./volume:FuzzParseUpload ./volume:FuzzHandlerPath \
	./volume:FuzzOnePartMatchesMultipart ./volume:FuzzParseMinFreeSpace ./master:FuzzPlainQuery ./master:FuzzPlainFormBody \
	./filer:FuzzCleanPath ./filer:FuzzFilerUpload ./client:FuzzParseChunkManifest \
	./master:FuzzFSMRestore ./topology:FuzzHeartbeats ./internal/security:FuzzParse
# Packages whose tests exercise concurrency run under the race detector.
RACE_PKGS := ./needle/... ./volume/... ./topology/... ./replication/... ./master/... ./filer/... ./client/... ./benchmark/... ./internal/...

.PHONY: all build run test deps vet fmt-check unit race e2e fuzz bench bench-cluster bench-cpu bench-profile clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/weed

# A working store on embedded defaults: master 9333, volume 8080, filer 8888, data in ./data.
run: build
	mkdir -p data
	./$(BIN) -logtostderr server -dir=./data -filer

# Install what the tests need: redis-server (the filer's Redis store),
# prometheus with promtool (the metrics tests) and chromium (the console
# test), each only when missing; apt-get update only when an install fails.
DEPS := redis-server:redis-server promtool:prometheus prometheus:prometheus chromium:chromium
deps:
	@SUDO=$$(command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo); \
	for dep in $(DEPS); do \
		cmd=$${dep%%:*}; pkg=$${dep##*:}; \
		command -v $$cmd >/dev/null 2>&1 && continue; \
		echo "installing $$pkg"; \
		$$SUDO apt-get install -y -q $$pkg >/dev/null 2>&1 || \
		{ $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q $$pkg >/dev/null; }; \
		command -v $$cmd >/dev/null || { echo "$$cmd still missing"; exit 1; }; \
	done

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test: deps fmt-check vet build
	WEED_REQUIRE_REDIS=1 WEED_REQUIRE_TOOLS=1 $(GO) test -race -timeout 20m $(RACE_PKGS)
	WEED_REQUIRE_REDIS=1 WEED_REQUIRE_TOOLS=1 WEED_BINARY=$(CURDIR)/$(BIN) $(GO) test -timeout 20m ./cmd/... ./testcluster/... ./e2e/...
	$(MAKE) fuzz

# Every parser's fuzz target, briefly. Run longer by hand: make fuzz FUZZTIME=2000000x
fuzz:
	@set -e; for pkgtarget in $(FUZZ_TARGETS); do \
		pkg=$${pkgtarget%%:*}; target=$${pkgtarget##*:}; \
		echo "fuzz $$pkg $$target"; \
		$(GO) test -run='^$$' -fuzz="^$$target$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

# In-process benchmarks with allocs/op (docs/performance.md).
bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./needle/ ./volume/ ./master/ ./internal/httpx/

# weed against the ceiling of its benchmark client, medians of 3 runs
# (benchmark/run.sh; knobs: RUNS, N, C, REPLICATION, FSYNC, SERVER_ENV, CLIENT).
bench-cluster:
	benchmark/run.sh

# CPU time per request of the client and of each server, per phase, for the
# ceiling, the null cluster and weed (benchmark/cpu.sh; knobs: RUNS, N, C, CLIENT).
bench-cpu:
	benchmark/cpu.sh

# CPU and allocation profiles of the master, a volume server and the client
# under each phase (benchmark/profile.sh; OUT=profiles).
bench-profile:
	benchmark/profile.sh

clean:
	rm -rf bin
