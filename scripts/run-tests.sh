#!/bin/sh
# Install everything the test suite needs on a fresh Debian / Raspberry Pi OS machine, then run
# it: mosquitto (the tests start real brokers), systemd-analyze (the unit is verified), the fonts
# and word lists of the line generator, and the package with its test extra in .venv, at the
# versions the suite last passed with (scripts/test-constraints.txt).
set -eu
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    mosquitto mosquitto-clients systemd openssl python3-venv >/dev/null
$SUDO sh scripts/install-train-deps.sh >/dev/null
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -c scripts/test-constraints.txt -e '.[test]'
# Strict: a test that would skip for want of the broker, the model or fonts fails instead.
EDGE_OCR_TESTS_STRICT=1 exec .venv/bin/python -m pytest -q "$@"
