#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: system packages, .venv, editable install of pcc.
# Used by `make test`, `make demo` and friends; safe to run again and again.
set -euo pipefail
cd "$(dirname "$0")/.."

# msgpack-c is libmsgpack-dev on Debian 12 and libmsgpack-c-dev from Debian 13 on (the build's
# pkg-config probe accepts both names). libtss2-dev (tpm2-tss), swtpm and swtpm-tools
# (swtpm_setup, swtpm_localca: the TPM tests' software TPM and its manufacturer CA) carry the same
# names on Debian 12 and 13.
MSGPACK_DEV=libmsgpack-dev
debian_major=$(. /etc/os-release 2>/dev/null; echo "${VERSION_ID:-12}" | cut -d. -f1)
if [ "${debian_major:-12}" -ge 13 ] 2>/dev/null; then
    MSGPACK_DEV=libmsgpack-c-dev
fi
APT_PACKAGES=(build-essential pkg-config libssl-dev "$MSGPACK_DEV" libopenblas-dev libseccomp-dev
              redis-server libtss2-dev swtpm swtpm-tools)
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.pcc-deps
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ]; then
    echo "setup: installing Python packages into .venv"
    .venv/bin/pip install -q --upgrade pip setuptools wheel
    .venv/bin/pip install -q --no-build-isolation -e '.[test]'
    touch "$stamp"
fi
# Rebuild the extension in place (incremental for the C sources that changed).
.venv/bin/python setup.py -q build_ext --inplace
