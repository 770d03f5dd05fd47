# Kubernetes integration tier: included by the top-level Makefile.
#   make k8s-build   build (or reuse) etcd, kube-apiserver, kube-controller-manager, ray-operator,
#                    kueue (skipped with KUBERAY_HARNESS_KUEUE=0)
#   make k8s-up      start the harness; prints the KUBECONFIG to export
#   make k8s-status  show the harness's processes
#   make k8s-down    stop everything it started (by PID) and remove its network namespace
# Binaries live in ~/.cache/airflow-provider-kuberay (override with KUBERAY_HARNESS_CACHE).

UV_RUN ?= uv run
GO_BIN ?= $(shell command -v go 2>/dev/null || { test -x /usr/local/go/bin/go && echo /usr/local/go/bin/go; })
HARNESS_PATH := $(if $(GO_BIN),$(dir $(GO_BIN)):,)$(PATH)

.PHONY: k8s-build k8s-prepare k8s-up k8s-down k8s-status

# For `make test`: build when Go is there; otherwise say loudly that the tier will not run (its
# tests then report as skipped with the reason) and carry on. Kueue builds in the background at the
# lowest CPU priority (3 of a cold build's 9 minutes), beside the other builds and the unit tiers;
# `make test-system` runs this with KUEUE_BUILD= (everything in the foreground), so it waits for that
# build: a Go build beside the real-Ray tier made its event-loop timing check fail.
KUEUE_BUILD ?= --kueue-in-background
k8s-prepare:
	@if [ -n "$$KUBECONFIG" ]; then echo "k8s tier: using the cluster in KUBECONFIG=$$KUBECONFIG"; \
	elif [ -z "$(GO_BIN)" ]; then echo "!!! k8s tier NOT RUN: no Go toolchain (go) to build the Kubernetes harness"; \
	else PATH="$(HARNESS_PATH)" $(UV_RUN) python -m harness.build $(KUEUE_BUILD); fi

k8s-build:
	@if [ -z "$(GO_BIN)" ]; then \
		echo "!!! k8s tier NOT RUN: no Go toolchain (go) to build the Kubernetes harness"; exit 2; fi
	PATH="$(HARNESS_PATH)" $(UV_RUN) python -m harness.build

k8s-up: k8s-build
	$(UV_RUN) python -m harness.controlplane up

k8s-down:
	$(UV_RUN) python -m harness.controlplane down

k8s-status:
	$(UV_RUN) python -m harness.controlplane status
