#!/bin/sh
# Install the peer OCR systems scripts/evaluate.py measures our models against: Tesseract 5
# (Debian's libtesseract, called in process through tesserocr) and RapidOCR's PP-OCRv4
# recognizer (rapidocr-onnxruntime, which ships its ONNX models). Safe to run again.
#
#   scripts/install-eval-deps.sh            # PYTHON=.venv/bin/python to pick the interpreter
#
# tesserocr is built from source against Debian's libtesseract on purpose: its PyPI wheel
# bundles a different Tesseract (5.5 with its own leptonica and no tessdata path), which would
# not be the Tesseract a device gets from apt.
set -eu

PYTHON=${PYTHON:-python3}
PACKAGES="tesseract-ocr tesseract-ocr-eng libtesseract-dev libleptonica-dev pkg-config g++"

missing=""
for pkg in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done
if [ -n "$missing" ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    echo "installing:$missing"
    $SUDO apt-get update
    # shellcheck disable=SC2086  # word splitting of the package list is intended
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends $missing
else
    echo "all evaluation apt packages installed"
fi

# A tesserocr that reports another Tesseract than the system's is the bundled wheel: rebuild it.
system_version=$(tesseract --version 2>&1 | head -n 1)
linked_version=$("$PYTHON" -c 'import tesserocr; print(tesserocr.tesseract_version().splitlines()[0])' 2>/dev/null || true)
if [ "$linked_version" != "$system_version" ]; then
    echo "building tesserocr against $system_version (found: ${linked_version:-none})"
    "$PYTHON" -m pip install --force-reinstall --no-deps --no-binary tesserocr tesserocr
else
    echo "tesserocr already uses $system_version"
fi
"$PYTHON" -m pip install rapidocr-onnxruntime
