#!/bin/sh
# Install edge-ocr as a systemd service on a Raspberry Pi (or any Debian-like system).
# Idempotent: run it again to upgrade the package; an existing config and password are kept.
#
#   sudo scripts/install-pi.sh            # from a source checkout
#   PREFIX=/opt/edge-ocr sudo -E scripts/install-pi.sh
#
# Creates: system user edge-ocr (in group video), /opt/edge-ocr/venv (with system site
# packages, so Raspberry Pi OS's python3-picamera2 is visible), /etc/edge-ocr/edge-ocr.yaml,
# /etc/edge-ocr/mqtt-password (empty = no password), /var/lib/edge-ocr/inbox and the unit
# /etc/systemd/system/edge-ocr.service. It enables the service but starts it only when
# START=1, so the config can be edited first.
set -eu

PREFIX=${PREFIX:-/opt/edge-ocr}
CONF_DIR=/etc/edge-ocr
STATE_DIR=/var/lib/edge-ocr
UNIT=/etc/systemd/system/edge-ocr.service
SRC=$(cd "$(dirname "$0")/.." && pwd)

if [ "$(id -u)" -ne 0 ]; then
    echo "install-pi.sh: run as root (sudo)" >&2
    exit 1
fi

if command -v apt-get >/dev/null 2>&1; then
    missing=""
    for pkg in python3-venv python3-pip; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
    done
    if [ -n "$missing" ]; then
        apt-get update
        # shellcheck disable=SC2086
        apt-get install -y $missing
    fi
fi

if ! id edge-ocr >/dev/null 2>&1; then
    useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
        --shell /usr/sbin/nologin edge-ocr
fi
if getent group video >/dev/null 2>&1; then
    usermod -a -G video edge-ocr
fi

install -d -m 0755 "$PREFIX"
if [ ! -x "$PREFIX/venv/bin/python" ]; then
    python3 -m venv --system-site-packages "$PREFIX/venv"
fi
"$PREFIX/venv/bin/pip" install --quiet --upgrade pip
"$PREFIX/venv/bin/pip" install --quiet --upgrade "$SRC"

install -d -m 0750 -o root -g edge-ocr "$CONF_DIR"
if [ ! -e "$CONF_DIR/edge-ocr.yaml" ]; then
    install -m 0640 -o root -g edge-ocr "$SRC/config/edge-ocr.yaml" "$CONF_DIR/edge-ocr.yaml"
else
    install -m 0640 -o root -g edge-ocr "$SRC/config/edge-ocr.yaml" \
        "$CONF_DIR/edge-ocr.yaml.example"
fi
if [ ! -e "$CONF_DIR/mqtt-password" ]; then
    # Read by systemd (LoadCredential=) only: root-owned, unreadable by the service user.
    install -m 0600 -o root -g root /dev/null "$CONF_DIR/mqtt-password"
fi

install -d -m 0750 -o edge-ocr -g edge-ocr "$STATE_DIR"
install -d -m 0770 -o edge-ocr -g edge-ocr "$STATE_DIR/inbox"

sed "s#/opt/edge-ocr/venv#$PREFIX/venv#g" "$SRC/systemd/edge-ocr.service" > "$UNIT.tmp"
chmod 0644 "$UNIT.tmp"
mv "$UNIT.tmp" "$UNIT"
systemctl daemon-reload
systemctl enable edge-ocr.service >/dev/null

if "$PREFIX/venv/bin/edge-ocr" check-config "$CONF_DIR/edge-ocr.yaml"; then
    if [ "${START:-0}" = 1 ]; then
        systemctl restart edge-ocr.service
    elif systemctl is-active --quiet edge-ocr.service; then
        systemctl restart edge-ocr.service
    fi
else
    echo "install-pi.sh: fix $CONF_DIR/edge-ocr.yaml, then: systemctl restart edge-ocr" >&2
fi
echo "edge-ocr installed: config $CONF_DIR/edge-ocr.yaml, inbox $STATE_DIR/inbox," \
     "logs: journalctl -u edge-ocr"
