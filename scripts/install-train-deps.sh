#!/bin/sh
# Install the Debian packages the synthetic line generator (scripts/synth.py) draws on:
# fonts of many designs and the English word lists. Safe to run again: apt-get skips what is there.
set -eu

PACKAGES="
wamerican
wbritish
fonts-dejavu-core
fonts-dejavu-extra
fonts-liberation
fonts-liberation2
fonts-noto-core
fonts-noto-mono
fonts-freefont-ttf
fonts-urw-base35
fonts-croscore
fonts-crosextra-carlito
fonts-crosextra-caladea
fonts-open-sans
fonts-roboto-unhinted
fonts-inconsolata
fonts-lato
fonts-cantarell
fonts-texgyre
fonts-ocr-a
fonts-ocr-b
fonts-b612
fonts-hack
fonts-go
fonts-jetbrains-mono
fonts-firacode
fonts-sil-andika
fonts-league-spartan
fonts-cabin
fonts-comfortaa
fonts-quicksand
fonts-anonymous-pro
fonts-bebas-neue
fonts-inter
fonts-manrope
fonts-linuxlibertine
"

missing=""
for pkg in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done

if [ -z "$missing" ]; then
    echo "all generator packages installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "installing:$missing"
$SUDO apt-get update
# shellcheck disable=SC2086  # word splitting of the package list is intended
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends $missing
