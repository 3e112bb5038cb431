#!/usr/bin/env bash
# Set up a fresh machine for edgekit development: system tools the tests use (a real sshd
# for the remote-bench test, a JVM Kotlin compiler for the Android demo's shared code, headless
# Chromium for the `edgekit report` page check in tests/test_report.py), then
# a virtual environment in .venv with every extra installed editable.
# Usage: bash scripts/setup.sh        (idempotent; EDGEKIT_NO_APT=1 skips the apt step)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(openssh-server openssh-client kotlin chromium)
if [[ "${EDGEKIT_NO_APT:-0}" != "1" ]] && command -v apt-get >/dev/null; then
    missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if ((${#missing[@]})); then
        SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
fi

PY="${PYTHON:-python3}"
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q -e ".[all,dev]"
.venv/bin/edgekit --version
