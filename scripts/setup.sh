#!/usr/bin/env bash
# Set up a fresh machine for edgekit development: system tools the tests use (a real sshd
# for the remote-bench test, a JVM Kotlin compiler for the Android demo's shared code, headless
# Chromium for the `edgekit report` page check in tests/test_report.py), then
# a virtual environment in .venv with every extra installed editable.
# Usage: bash scripts/setup.sh        (idempotent; EDGEKIT_NO_APT=1 skips the apt step,
#        EDGEKIT_NO_AARCH64=1 the aarch64 emulation environment)
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

# The aarch64 environment (qemu-user + arm64 Python + torch-free edgekit from aarch64 wheels) that
# tests/test_aarch64.py and the emulated SSH bench test use: about 1 min on a fresh machine
# (docs/aarch64.md). EDGEKIT_NO_AARCH64=1 skips it; without it those tests skip with one line.
if [[ "${EDGEKIT_NO_AARCH64:-0}" != "1" ]]; then
    bash scripts/aarch64-env.sh || echo "setup: the aarch64 environment was not made (see above): its tests will skip" >&2
fi
