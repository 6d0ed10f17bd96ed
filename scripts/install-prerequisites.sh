#!/usr/bin/env bash
# The Debian packages onceflow's tests need besides Node.js (20.19+), installed only when missing:
#   java (default-jre-headless)  DynamoDB Local, for npm start and the integration/e2e tests
#   chromium                     the local dashboard's headless browser test (test/e2e/dashboard.test.ts)
#   spin, gcc                    the model checks (models/, test/unit/model-check.test.ts)
# README's "Prerequisites" and .ci/run both run this. Needs root (or sudo) when something is missing.
set -euo pipefail

missing=()
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
command -v spin >/dev/null 2>&1 || missing+=(spin)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)

if ((${#missing[@]} == 0)); then
  echo "prerequisites: java, chromium, spin and gcc are installed"
  exit 0
fi

sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
echo "installing missing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
