# ferret: `make run` starts the sensor, `make test` runs every test.
# Both first install what a fresh Debian 12 machine lacks and mount the
# pseudo filesystems eBPF needs. Run as root.

SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo

# Build: clang-19 compiles the eBPF C (DESIGN.md); libelf/zlib/pkg-config for
# the vendored libbpf; protoc for containerd's gRPC API. Tests: python3 (syscall
# helpers), gcc (the int 0x80 helper), podman with runc and busybox-static (real
# containers), containerd (its own API), dnsmasq and dig (DNS); libc6-dev for static
# helpers run inside containers; util-linux (unshare) and iproute2 for a flow test in a
# network namespace of its own.
DEB_PACKAGES := clang-19 llvm-19 libelf-dev zlib1g-dev pkg-config make gcc libc6-dev protobuf-compiler python3 procps podman runc containerd busybox-static tar dnsmasq-base dnsutils util-linux iproute2
# Benchmarks only.
BENCH_PACKAGES := dnsmasq-base redis-server redis-tools auditd bpftrace stress-ng fonts-dejavu-core util-linux

.PHONY: run test build deps mounts bench lint

deps:
	@missing=""; for p in $(DEB_PACKAGES) $(EXTRA_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@command -v $(CARGO) >/dev/null || { echo "cargo not found (install Rust with rustup)"; exit 1; }

mounts:
	@mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
	@mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

build: deps
	$(CARGO) build --release --bin ferret

# Rules `make run` loads: Falco's stable rules from the shared corpora when they are there
# on top of ferret's built-in rules; override with RULES="a.yaml dir/".
RULES ?= $(wildcard ../shared/corpora/falco/falco_rules.yaml)

run: build mounts
	./target/release/ferret run --events $(addprefix --rules ,$(RULES)) $(ARGS)

test: deps mounts
	$(CARGO) build --workspace
	$(CARGO) test --workspace

bench: EXTRA_PACKAGES = $(BENCH_PACKAGES)
bench: deps mounts
	$(CARGO) build --release -p ferret -p ferret-bench
	./target/release/ferret-bench $(ARGS)
	./target/release/ferret-rules-bench $(RULES_ARGS)
	./target/release/ferret-dga-eval

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
