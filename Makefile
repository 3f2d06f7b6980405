# agentns — the two commands are `make run` and `make test` (see README.md).
SWIFT ?= swift
DATA ?= $(CURDIR)/.data

.PHONY: deps build run test bench clean

deps:
	@./scripts/install-deps.sh

build: deps
	$(SWIFT) build

# Sets up and runs the demo: an echo agent in a fresh database, driven through its namespace.
run: deps
	$(SWIFT) build --product agentns-demo
	$$($(SWIFT) build --show-bin-path)/agentns-demo $(DATA)

# The whole test suite (unit, conformance, crash tests).
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test

# Benchmarks in release mode; prints figures and ratios against baselines measured in the same run.
bench: deps
	$(SWIFT) build -c release --product agentns-bench
	$$($(SWIFT) build -c release --show-bin-path)/agentns-bench

clean:
	rm -rf .build .data
