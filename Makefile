# MedSync WhatsApp. The two commands: `make run` and `make test` (see README.md).
SHELL := /bin/bash
.PHONY: run up down test fuzz build release deps bench clean ha-up ha-down restore-drill
# Seconds each libFuzzer target runs under `make fuzz` (`make fuzz FUZZ_SECONDS=600`).
FUZZ_SECONDS ?= 60

run: deps release
	@scripts/stack up
	@source .run/env && echo && echo "MedSync is running at $$MEDSYNC_URL" && \
	  echo "  inbox:     $$MEDSYNC_URL/  (sign in as $$MEDSYNC_OWNER_EMAIL / demo-password)" && \
	  echo "  token:     $$MEDSYNC_TOKEN" && echo "  workspace: $$MEDSYNC_WORKSPACE_ID" && \
	  echo "  sandbox:   $$SANDBOX_URL" && echo "Ctrl-C stops everything."
	@trap 'echo; scripts/stack down; exit 0' INT TERM; while sleep 1; do :; done

up: deps release
	@scripts/stack up

down:
	@scripts/stack down

# The stack on a PostgreSQL primary and synchronous standby with automatic failover (pg_auto_failover).
ha-up: deps release
	@scripts/stack ha-up

ha-down:
	@scripts/stack ha-down

# Point-in-time recovery to the second before an accidental DELETE, on a cluster of its own.
restore-drill: deps
	@swift build --product medsync-jobs && scripts/restore-drill

test:
	@scripts/test

fuzz:
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz run

deps:
	@scripts/stack deps

# The Swift runtime and Foundation linked in: no toolchain needed where the binaries run, and each
# process maps only what it uses (bench/README.md, RSS).
release:
	@for p in medsync-fcgi medsync-jobs medsync-sandbox; do swift build -c release --static-swift-stdlib --product $$p || exit 1; done

build:
	swift build

bench: deps release
	@scripts/stack up
	@bench/run

clean:
	scripts/stack down || true
	rm -rf .build .run
