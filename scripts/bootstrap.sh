#!/usr/bin/env bash
# Prepare a fresh machine: a virtualenv in .venv with vllm-infra installed.
#   scripts/bootstrap.sh        the library and its CLI (enough for `vllm-infra plan`)
#   scripts/bootstrap.sh test   also the test tools, the real vllm-router and nginx (Debian package) for the
#                               loopback tests
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip

if [[ "${1:-}" == "test" ]]; then
  if ! { command -v nginx || [[ -x /usr/sbin/nginx ]]; } >/dev/null || ! command -v envsubst >/dev/null; then
    sudo_cmd=""
    [[ "$(id -u)" -ne 0 ]] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq nginx-light gettext-base >/dev/null
  fi
  # The tests start their own nginx on loopback ports; the distribution's service is not needed.
  (command -v service >/dev/null && service nginx stop >/dev/null 2>&1) || true
  .venv/bin/python -m pip install --quiet -e '.[test]'
else
  .venv/bin/python -m pip install --quiet -e .
fi
