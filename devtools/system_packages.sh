#!/usr/bin/env bash
# Debian packages the test tiers need, installed only when missing (so `make test` works on a fresh machine):
#   iproute2             the Kubernetes harness's network namespaces (`ip`) and listener checks (`ss`)
#   postgresql           the deploy tier's Airflow metadata database
#   chromium(-driver)    the deploy tier's UI checks in a real browser
set -euo pipefail
missing=()
command -v ip >/dev/null && command -v ss >/dev/null || missing+=(iproute2)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
((${#missing[@]})) || exit 0
if [ "$(id -u)" != 0 ]; then
  echo "!!! missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
  exit 2
fi
echo "installing Debian packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
