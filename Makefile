# The segmentation workbench. `make run` builds and serves; `make test` installs what tests need and runs them.
SHELL := /bin/bash
GO ?= go
BIN := bin/workbench
DATA ?= ./data
ADDR ?= 127.0.0.1:8080
WEB_SRC := $(shell find web/src web/public -type f 2>/dev/null) web/package.json web/package-lock.json web/build.mjs web/tsconfig.json

# Debian packages: OpenBLAS for the engine, Chromium for browser tests, nibabel/scipy to check our files and metrics.
BUILD_PKGS := libopenblas-dev gcc
TEST_PKGS := $(BUILD_PKGS) chromium python3-nibabel python3-scipy python3-numpy
GOLDEN_PKGS := $(TEST_PKGS) python3-torch python3-argon2

.PHONY: run build web deps-build deps-test deps-golden test test-go test-web fuzz bench golden clean

run: build
	$(BIN) serve --data $(DATA) --addr $(ADDR)

build: deps-build web
	@echo "building $(BIN) (the first build downloads Go modules and compiles SQLite: about a minute and a half)"
	CGO_ENABLED=1 $(GO) build -o $(BIN) ./cmd/workbench

web: web/dist/index.html

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SRC)
	cd web && npm run build

# Installs missing Debian packages only (apt is slow; a machine that has them skips this).
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

deps-build:
	$(call apt_install,$(BUILD_PKGS))

deps-test:
	$(call apt_install,$(TEST_PKGS))

deps-golden:
	$(call apt_install,$(GOLDEN_PKGS))

test: deps-test web test-go fuzz test-web

# gofmt sees every Go file on disk (untracked ones too, and outside a git checkout), not just git's list.
# The race detector runs over the packages with concurrent request, cache and run-state code; it adds about
# half a minute.
test-go:
	@unformatted="$$(find . -name '*.go' -not -path './web/node_modules/*' -exec gofmt -l {} +)"; \
	test -z "$$unformatted" || { echo "gofmt needed:"; echo "$$unformatted"; exit 1; }
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...
	$(GO) test -race -count=1 -timeout 15m ./server ./store

# Short fuzzing runs (10 s per target; go test fuzzes one target at a time) of what faces user input: the
# NIfTI header and whole-file readers, the stored mask codec, the label save path through a real server, and
# slice interpolation over arbitrary labels, and the label map checks.
# The long campaign outside CI runs each for 20 minutes or more, one at a time, e.g.
#   nice -n 19 go test -run '^$' -fuzz '^FuzzPutLabel$' -fuzztime 20m -fuzzminimizetime 10s -parallel 1 ./server
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzReadHeader$$' -fuzztime 10s ./nifti
	$(GO) test -run '^$$' -fuzz '^FuzzReadBytes$$' -fuzztime 10s ./nifti
	$(GO) test -run '^$$' -fuzz '^FuzzMaskCodec$$' -fuzztime 10s ./store
	$(GO) test -run '^$$' -fuzz '^FuzzPutLabel$$' -fuzztime 10s ./server
	$(GO) test -run '^$$' -fuzz '^FuzzFill$$' -fuzztime 10s ./internal/interp
	$(GO) test -run '^$$' -fuzz '^FuzzLabelMap$$' -fuzztime 10s ./internal/ingest

test-web: web/node_modules/.package-lock.json
	cd web && npm test

# Speed and memory targets, our engine beside PyTorch in the same run.
bench: deps-golden web
	$(GO) test -run '^$$' -bench . -benchmem $$($(GO) list ./... | grep -v '/ml$$')
	@echo "== ml engine (3 timed iterations each), then the same SmallUNet work in PyTorch (ml/testdata/bench_torch.py)"
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 3x ./ml
	cd ml && /usr/bin/python3 testdata/bench_torch.py 3

# Regenerates golden fixtures from the reference implementations (nibabel, PyTorch, scipy); not part of `make test`.
golden: deps-golden
	@for f in $$(find . -path ./web/node_modules -prune -o -name 'gen_*.py' -path '*/testdata/*' -print); do \
		echo "== $$f"; (cd $$(dirname $$(dirname $$f)) && /usr/bin/python3 testdata/$$(basename $$f)) || exit 1; \
	done

# web/dist/.gitignore is tracked (it lets Go build before the app is), so only the build output goes.
clean:
	rm -rf bin
	find web/dist -mindepth 1 -not -name .gitignore -exec rm -rf {} +
