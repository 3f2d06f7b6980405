# agentns — the two commands are `make run` and `make test` (see README.md).
SWIFT ?= swift
DATA ?= $(CURDIR)/.data
LOCAL_MODEL ?= 1
# make soak MINUTES=120: the soak's length.
MINUTES ?= 30

.PHONY: deps build run demo test soak bench bench-http bench-fuse bench-model bench-containers bench-exec bench-scale bench-alarms clean

deps:
	@./scripts/install-deps.sh

build: deps
	$(SWIFT) build

# Sets up and runs agentd on 127.0.0.1:5640 with a demo echo agent; data in ./.data. Unless
# LOCAL_MODEL=0, also a local model (llama-server + SmolLM2-135M on 127.0.0.1:5641; the first run
# builds llama.cpp, about 15-20 minutes, cached in ~/.cache/agentns) behind an llm agent "assistant".
run: deps
	$(SWIFT) build
	BIN=$$($(SWIFT) build --show-bin-path) DATA='$(DATA)' MOUNT='$(MOUNT)' LOCAL_MODEL='$(LOCAL_MODEL)' ./scripts/run.sh

# The in-process demo: an echo agent driven through its namespace, no server.
demo: deps
	$(SWIFT) build --product agentns-demo
	$$($(SWIFT) build --show-bin-path)/agentns-demo $(DATA)/demo

# The whole test suite: unit, conformance, crash, HTTP and SSE tests, the CLI end-to-end
# script, then real FUSE mounts in both modes (needs /dev/fuse and root or user_allow_other).
test: deps
	@mkdir -p .build && git status --porcelain --untracked-files=all > .build/tree-before 2>/dev/null || true
	$(SWIFT) build --build-tests
	$(SWIFT) test
	BIN=$$($(SWIFT) build --show-bin-path) bash Tests/shell/cli_test.sh
	BIN=$$($(SWIFT) build --show-bin-path) bash Tests/shell/fuse_test.sh remote
	BIN=$$($(SWIFT) build --show-bin-path) bash Tests/shell/fuse_test.sh inprocess
	python3 Tests/fire/page_cache.py --bin $$($(SWIFT) build --show-bin-path) --rounds 10000 --remote-rounds 1000
	python3 Tests/fire/log_retention.py --bin $$($(SWIFT) build --show-bin-path)
	python3 Tests/fire/local_model.py --bin $$($(SWIFT) build --show-bin-path)
	python3 Tests/fire/hostile_http.py --bin $$($(SWIFT) build --show-bin-path)
	BIN=$$($(SWIFT) build --show-bin-path) bash Tests/fire/schemathesis.sh
	python3 Tests/fire/auth_secrets.py --bin $$($(SWIFT) build --show-bin-path)
	python3 Tests/fire/faults.py --bin $$($(SWIFT) build --show-bin-path)
	python3 Tests/fire/fsync_order.py --bin $$($(SWIFT) build --show-bin-path)
	python3 Tests/fire/watch_order.py --bin $$($(SWIFT) build --show-bin-path) --writers 16 --per-writer 200 --watchers 4
	python3 Tests/fire/crash_load.py --bin $$($(SWIFT) build --show-bin-path) --rounds 5
	python3 Tests/fire/crash_load.py --bin $$($(SWIFT) build --show-bin-path) --rounds 3 --via fuse --senders 16
	python3 Tests/fire/compute_crash.py --bin $$($(SWIFT) build --show-bin-path) --rounds 3
	@# The sandbox supervisor against its agentd dying at every moment of its start (the C of ans_spawn itself).
	cc -O1 -Wall -Wno-format-truncation -o .build/spawn_race Tests/sandbox/spawn_race.c -ISources/CSandbox/include && .build/spawn_race 1000
	python3 Tests/fire/containers.py --bin $$($(SWIFT) build --show-bin-path)
	python3 Tests/fire/exec_agents.py --bin $$($(SWIFT) build --show-bin-path)
	python3 Tests/fire/exec_crash.py --bin $$($(SWIFT) build --show-bin-path) --rounds 3
	# 2 minutes is mostly warm-up: RSS rises ~6 MB and levels off after 2-3 minutes (caches filling:
	# SQLite's page cache per connection as the database grows, the row and status caches).
	# make soak's 30 minutes, the leak check, keeps the 4 MB default.
	python3 Tests/fire/soak.py --bin $$($(SWIFT) build --show-bin-path) --minutes 2 --slack-mb 8
	@# No test may write into the source tree: the tree is as it was before the run.
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git status --porcelain --untracked-files=all | diff .build/tree-before - >/dev/null || { \
	    echo "make test changed the source tree (a test wrote outside its temporary directory):"; \
	    git status --porcelain --untracked-files=all | diff .build/tree-before - ; exit 1; }; \
	  echo "source tree unchanged by the tests"; fi

# The long proofs (release build, about 50 minutes): 100 crash rounds over HTTP, 10 through
# FUSE, and a 30-minute soak of mixed load.
soak: deps
	$(SWIFT) build -c release
	python3 Tests/fire/crash_load.py --bin $$($(SWIFT) build -c release --show-bin-path) --rounds 100
	python3 Tests/fire/crash_load.py --bin $$($(SWIFT) build -c release --show-bin-path) --rounds 10 --via fuse --senders 16
	python3 Tests/fire/soak.py --bin $$($(SWIFT) build -c release --show-bin-path) --minutes $(MINUTES)

# Benchmarks in release mode; prints figures and ratios against baselines measured in the same run.
bench: deps
	$(SWIFT) build -c release --product agentns-bench
	$$($(SWIFT) build -c release --show-bin-path)/agentns-bench

# HTTP benchmarks: wrk against agentd and nginx, durable sends against raw SQLite (same run).
bench-http: deps
	./scripts/bench-http.sh

# FUSE benchmarks: stat and open/read/close through the mounts against tmpfs and libfuse's hello.c.
bench-fuse: deps
	./scripts/bench-fuse.sh

# containers/: a real agentd's sessions and execs over HTTP against bare bwrap with the provider's flags (same run; as root).
bench-containers: deps
	$(SWIFT) build -c release --product agentd
	$(SWIFT) build -c release --product agentns-bench
	$$($(SWIFT) build -c release --show-bin-path)/agentns-bench --containers

# Exec agents' ticks through a real agentd against bare bwrap with a tick's flags (as root, from the repository root).
bench-exec: deps
	$(SWIFT) build -c release --product agentd
	$(SWIFT) build -c release --product agentns-bench
	$$($(SWIFT) build -c release --show-bin-path)/agentns-bench --exec

# How many agents one node holds: AGENTS (default 1,000,000; the goal is stated at 10,000,000)
# created 1,000 per request, then bytes per agent, restart time, RSS and cold status reads.
AGENTS ?= 1000000
bench-scale: deps
	$(SWIFT) build -c release --product agentd
	python3 scripts/bench-scale.py --bin $$($(SWIFT) build -c release --show-bin-path) --agents $(AGENTS)

# Agents that are awake: 10,000 counters with 1 s alarms, their tick lag, ticks/s and CPU.
bench-alarms: deps
	$(SWIFT) build -c release --product agentd
	python3 scripts/bench-alarms.py --bin $$($(SWIFT) build -c release --show-bin-path) --agents 10000 --seconds 60

# The local model's speed: tokens/s straight from llama-server and through agentd's compute/ (same run).
bench-model: deps
	$(SWIFT) build
	python3 Tests/fire/local_model.py --bin $$($(SWIFT) build --show-bin-path) --bench

clean:
	rm -rf .build .data
