# Custos — two commands do everything on a fresh Debian machine:
#   make demo   install what is missing, build, run the demo story on SoftHSM
#   make test   install what is missing, run every test
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
export GOFLAGS ?= -mod=mod

.PHONY: all setup build demo test test-go test-e2e fuzz bench clean

all: build

setup:
	@scripts/setup.sh

build: setup
	go build -o bin/custos ./cmd/custos

demo: build
	scripts/demo.sh

test: setup
	go vet ./...
	go test -race -count=1 -timeout 60m ./...
	scripts/e2e.sh

bench: build
	go test -run '^$$' -bench . -benchmem ./hsm/ ./ledger/...

clean:
	rm -rf bin demo
