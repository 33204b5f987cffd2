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
	./volume:FuzzLoadVolume ./volume/volumeserver:FuzzParseUpload ./volume/volumeserver:FuzzHandlerPath \
	./volume/volumeserver:FuzzOnePartMatchesMultipart ./volume:FuzzParseMinFreeSpace ./master:FuzzPlainQuery ./master:FuzzPlainFormBody \
	./filer:FuzzCleanPath ./filer:FuzzFilerUpload ./client:FuzzParseChunkManifest \
	./images:FuzzJPEGOrientation ./images:FuzzResize \
	./master/raftnode:FuzzFSMRestore ./topology:FuzzHeartbeats ./internal/security:FuzzParse
# Packages whose tests exercise concurrency run under the race detector.
RACE_PKGS := ./needle/... ./volume/... ./topology/... ./replication/... ./master/... ./filer/... ./client/... ./benchmark/... ./internal/...

.PHONY: all build run test deps vet fmt-check unit race e2e fuzz bench bench-cluster bench-cpu bench-profile bench-filer clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/weed

# A working store on embedded defaults: master 9333, volume 8080, filer 8888, data in ./data.
# -volume.max=0 sizes the volume count from the free disk space, at 512 MB a volume, so that
# new collections find room (the default -max=7 is used up by the first submit's growth).
# RUN_FLAGS adds flags, e.g. make run RUN_FLAGS="-master.port=19333 -volume.port=18080 -filer.port=18888".
run: build
	mkdir -p data
	./$(BIN) -logtostderr server -dir=./data -filer -volume.max=0 -master.volumeSizeLimitMB=512 $(RUN_FLAGS)

# Install what the tests need: redis-server (the filer's Redis store),
# redis-sentinel and redis-cli (redis-tools: the Sentinel and Cluster tests),
# prometheus with promtool (the metrics tests) and chromium (the console
# test), each only when missing; apt-get update only when an install fails.
DEPS := redis-server:redis-server redis-sentinel:redis-sentinel redis-cli:redis-tools promtool:prometheus prometheus:prometheus chromium:chromium
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
		grep -qs "^func $$target(" $$pkg/*_test.go || { echo "fuzz target $$target not in $$pkg"; exit 1; }; \
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

# One 512 MiB file PUT and GET through a filer, weed against a SeaweedFS
# binary (benchmark/filer.sh; knobs: SEAWEEDFS_BIN, RUNS, SIZE_MB, MAXMB).
bench-filer:
	benchmark/filer.sh

clean:
	rm -rf bin
