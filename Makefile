# Custos — two commands do everything on a fresh Debian machine:
#   make demo   install what is missing, build, run the demo story on SoftHSM
#   make test   install what is missing, run every test
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
export GOFLAGS ?= -mod=mod

.PHONY: all setup build demo test lint test-go test-e2e fuzz bench clean kill-sweep kill-points

all: build

setup:
	@scripts/setup.sh

build: setup
	go build -o bin/custos ./cmd/custos

demo: build
	scripts/demo.sh

# CUSTOS_BIN: tests that also check a ledger through the real binary.
# race-writers: two writers, and a writer with resume, 20 rounds each,
# with readers in a loop. kill-points: every ceremony kind killed at every
# 2nd of custos's file writes, before and after each mutating PKCS#11 call,
# and inside each such call at every 5th file write of the module (make
# kill-points does every one).
test: build lint
	rm -f bin/module-counts.txt
	CUSTOS_BIN=$(CURDIR)/bin/custos CUSTOS_MODULE_COUNTS=$(CURDIR)/bin/module-counts.txt go test -race -count=1 -timeout 60m ./...
	@echo "== the tests per PKCS#11 module"; cat bin/module-counts.txt
	scripts/e2e.sh
	scripts/race-writers
	KILL_POINTS_STRIDE=5 KILL_POINTS_WRITE_STRIDE=2 scripts/kill-points

# gofmt, no non-test Go file over 600 lines, go vet and staticcheck (a pinned version, fetched by go run);
# third_party/ holds copies of other projects' code: gofmt'd, not held to the 600 lines.
lint: setup
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt: not formatted: $$unformatted" >&2; exit 1; fi
	@long=$$(for f in $$(git ls-files '*.go' | grep -v -e '_test\.go$$' -e '^third_party/'); do n=$$(wc -l <"$$f"); [ "$$n" -le 600 ] || echo "$$f ($$n lines)"; done); \
	  if [ -n "$$long" ]; then echo "lint: a Go file over 600 lines, split it by concern: $$long" >&2; exit 1; fi
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# every fuzz target of the module for FUZZTIME seconds each (default 30;
# long, not part of make test); corpora in each package's testdata/fuzz/,
# exit 1 on a crasher. The targets and what each asserts: docs/fuzzing.md.
FUZZTIME ?= 30
fuzz: setup
	scripts/fuzz $(FUZZTIME)

# a seeded random kill sweep for DURATION seconds (SEED= replays its
# choices); not part of make test
DURATION ?= 60
kill-sweep: setup
	DURATION=$(DURATION) scripts/kill-sweep

# every kill point of each ceremony kind (each file write custos makes,
# before, after and inside each mutating PKCS#11 call), resumed and
# checked; deterministic; make test runs it with a stride inside calls
kill-points: setup
	scripts/kill-points

bench: build
	go test -run '^$$' -bench . -benchmem ./hsm/ ./ledger/...

clean:
	rm -rf bin demo
