# multilayer — build, test and benchmark.
SHELL   := bash
GO      ?= go
COUNT   ?= 6
BENCH   ?= .
PKGS    ?= ./...

.PHONY: ci fmt-check vet test test-norace test-ci bench run tidy-check

## ci: what CI runs: formatting, vet, the go.mod check, the race-enabled
## tests (with no skips when CI is set), and the tests that only build
## without the race detector.
ci: fmt-check vet tidy-check test test-norace

# Under ci, go vet has run on every package already: the tests skip the
# subset of it that go test would run again.
ci: TESTFLAGS = -vet=off

fmt-check:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

tidy-check:
	$(GO) mod tidy -diff

## test: the tests, race detector on, summarised by .ci/gotest: one line per
## package, and per skipped test its reason (a test that lacks a tool, such
## as Chromium, names the Debian package to install). With CI set, every
## test must run and a skip fails; without it, skips are only reported.
test:
	@GO=$(GO) bash .ci/gotest $(TESTFLAGS) $(PKGS)

## test-norace: the tests built only without the race detector (files
## tagged //go:build !race: allocation and heap counts, otter's hit ratio),
## which test cannot run, in the packages that have them.
NORACE_FILES = $(shell grep -rl --include='*_test.go' '^//go:build !race' .)
test-norace:
	@files="$(NORACE_FILES)"; [ -n "$$files" ] || exit 0; \
	pkgs=$$(for f in $$files; do dirname "$$f"; done | sort -u); \
	tests=$$(sed -n 's/^func \(Test[A-Za-z0-9_]*\)(.*/\1/p' $$files | sort -u | paste -sd'|'); \
	$(GO) test -count=1 -run "^($$tests)$$" $$pkgs

# test-ci is the old name of test, kept for scripts that call it.
test-ci: test

## bench: every benchmark, COUNT runs each, summarised by benchstat.
bench:
	$(GO) test -run='^$$' -bench='$(BENCH)' -benchmem -count=$(COUNT) $(PKGS) | tee bench.txt
	@command -v benchstat >/dev/null || $(GO) install golang.org/x/perf/cmd/benchstat@latest
	@$$( $(GO) env GOPATH )/bin/benchstat bench.txt

## run: the main example, in memory, no server needed.
run:
	$(GO) run ./examples/bucket
