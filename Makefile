# strictrun — build, test, demo, install.
#   make demo    run built-in examples under the microkernel profiles (and genode), show summary and trace
#   make test    the whole test suite (real programs under the real filter and tracer)
#   make bench   benchmarks (see BENCHMARKS.md)
PREFIX   ?= /usr/local
SWIFT    ?= swift
CONFIG   ?= debug
APT_PKGS := libseccomp-dev libdw-dev pkg-config gcc make curl openssl chromium libxml2-utils shellcheck python3-venv python3-jsonschema
# Linters of Examples/ci/ from PyPI, in a virtual environment of their own (see PipelineLintTests).
LINT_VENV := .build/lint-tools
LINT_PIP  := check-jsonschema==0.39.0
BIN       = .build/$(CONFIG)/strictrun
DEMO_DIR ?= /tmp/strictrun-demo
# Release builds: the dependencies' generic types by direct metadata accessors too (Package.swift
# says why; strictrun's own targets have the flag there).
RELEASE_FLAGS := -Xswiftc -Xfrontend -Xswiftc -disable-concrete-type-metadata-mangled-name-accessors

.PHONY: all deps build examples test demo install bench clean

all: build

# Debian packages the build and tests need (installs only what is missing; needs root).
deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@[ -x $(LINT_VENV)/bin/check-jsonschema ] || { echo "make deps: installing $(LINT_PIP) into $(LINT_VENV)"; \
	  python3 -m venv $(LINT_VENV) && $(LINT_VENV)/bin/pip install -q $(LINT_PIP); }

build: deps examples
	$(SWIFT) build -c $(CONFIG) --product strictrun $(if $(filter release,$(CONFIG)),$(RELEASE_FLAGS))

examples:
	$(MAKE) -C Examples

test: build
	$(SWIFT) build -c $(CONFIG) --build-tests
	# The broker's suite runs on its own: its clients have network timeouts, and the rest of the
	# suite (ptrace storms, thousands of threads) would starve them on a 2-core machine.
	$(SWIFT) test -c $(CONFIG) --skip-build --filter StrictrunBrokerTests
	$(SWIFT) test -c $(CONFIG) --skip-build --skip StrictrunBrokerTests

demo: build
	@mkdir -p $(DEMO_DIR)
	@echo "== 1. A C JIT that maps memory writable and executable at once (Examples/jit_rwx.c)"
	-$(BIN) run --profile microkernel --trace $(DEMO_DIR)/jit_rwx.jsonl -- Examples/bin/jit_rwx
	@echo; echo "== 2. The same program under the audit profile (nothing denied, everything logged)"
	-$(BIN) run --profile audit --trace $(DEMO_DIR)/jit_rwx-audit.jsonl -- Examples/bin/jit_rwx
	@echo; echo "== 3. A C program that forks (Examples/fork.c)"
	-$(BIN) run --profile microkernel --trace $(DEMO_DIR)/fork.jsonl -- Examples/bin/fork
	@echo; echo "== 4. Node.js 20 with its JIT on: V8 asks for PROT_READ|PROT_WRITE|PROT_EXEC"
	-$(BIN) run --profile microkernel --trace $(DEMO_DIR)/node.jsonl -- node -e 'console.log(1)' 2>&1 | grep -v '^\s*[0-9]*: 0x\|^#\|^$$' || true
	@echo; echo "== 5. The same Node under microkernel-jit: W+X granted as RW, pages flipped RW<->RX, flips counted"
	-$(BIN) run --profile microkernel-jit --trace $(DEMO_DIR)/node-jit.jsonl -- node Examples/jit/regexps.js
	@echo; echo "== 6. Node (--jitless: genode keeps W^X strict) under genode: fs.watch and socketpair are absent, /proc is hidden, the image read-only"
	-$(BIN) run --profile genode --trace $(DEMO_DIR)/node-genode.jsonl -- node --jitless -e 'const fs = require("fs"); try { fs.watch("."); } catch (e) { console.log("fs.watch:", e.code); } console.log("cpus:", require("os").cpus().length); try { fs.writeFileSync("/etc/strictrun-demo", "x"); } catch (e) { console.log("write /etc:", e.code); }'
	@echo; echo "== The trace of run 1 ($(DEMO_DIR)/jit_rwx.jsonl):"
	@cat $(DEMO_DIR)/jit_rwx.jsonl

install:
	$(SWIFT) build -c release --product strictrun $(RELEASE_FLAGS)
	install -D -m 0755 .build/release/strictrun $(DESTDIR)$(PREFIX)/bin/strictrun
	install -d $(DESTDIR)$(PREFIX)/share/strictrun/profiles
	install -m 0644 Profiles/*.yaml $(DESTDIR)$(PREFIX)/share/strictrun/profiles/

bench: build
	Benchmarks/run.sh

clean:
	$(MAKE) -C Examples clean
	rm -rf .build
