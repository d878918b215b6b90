# multilayer — build, test and benchmark.
SHELL   := bash
GO      ?= go
COUNT   ?= 6
BENCH   ?= .
PKGS    ?= ./...

.PHONY: ci fmt-check vet test test-ci bench run tidy-check

## ci: what CI runs: formatting, vet, and the race-enabled tests with no skips.
ci: fmt-check vet tidy-check test-ci

fmt-check:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

tidy-check:
	$(GO) mod tidy -diff

## test: the tests, race detector on.
test:
	$(GO) test -race -count=1 $(PKGS)

# test-ci runs the tests verbosely into a log, prints the package lines, and
# fails if any test was skipped: under CI, integration tests must run.
test-ci:
	@set -o pipefail; log=$$(mktemp); \
	if ! $(GO) test -race -count=1 -v $(PKGS) >"$$log" 2>&1; then \
		grep -E -- '^(---|===|ok|FAIL|panic|\s+\S+_test\.go)' "$$log" | grep -v -E '^(=== (RUN|PAUSE|CONT))|--- PASS' | tail -n 200; \
		echo "tests failed"; exit 1; fi; \
	grep -E '^(ok|FAIL|\?)\s' "$$log"; \
	if grep -E -- '--- SKIP' "$$log"; then echo "skipped tests: under CI every test must run"; exit 1; fi; \
	echo "$$(grep -c -E -- '--- PASS' "$$log") passed, 0 failed"

## bench: every benchmark, COUNT runs each, summarised by benchstat.
bench:
	$(GO) test -run='^$$' -bench='$(BENCH)' -benchmem -count=$(COUNT) $(PKGS) | tee bench.txt
	@command -v benchstat >/dev/null || $(GO) install golang.org/x/perf/cmd/benchstat@latest
	@$$( $(GO) env GOPATH )/bin/benchstat bench.txt

## run: the main example, in memory, no server needed.
run:
	$(GO) run ./examples/bucket
