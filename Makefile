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
# The kill points of two ceremony kinds (about 80 s; make kill-points runs
# all six).
test: build lint
	CUSTOS_BIN=$(CURDIR)/bin/custos go test -race -count=1 -timeout 60m ./...
	scripts/e2e.sh
	KILL_POINTS_KINDS="generate destroy" scripts/kill-points

# gofmt, go vet and staticcheck (a pinned version, fetched by go run).
lint: setup
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt: not formatted: $$unformatted" >&2; exit 1; fi
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# every fuzz test for FUZZTIME seconds each (long; not part of make test)
FUZZTIME ?= 30
fuzz: setup
	scripts/fuzz $(FUZZTIME)

# a seeded random kill sweep for DURATION seconds (SEED= replays its
# choices); not part of make test
DURATION ?= 60
kill-sweep: setup
	DURATION=$(DURATION) scripts/kill-sweep

# every kill point (each fsync/rename/link custos makes) of each ceremony
# kind, resumed and checked; deterministic, about 4 minutes; not part of
# make test
kill-points: setup
	scripts/kill-points

bench: build
	go test -run '^$$' -bench . -benchmem ./hsm/ ./ledger/...

clean:
	rm -rf bin demo
