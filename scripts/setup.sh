#!/usr/bin/env bash
# Set up mailroom on this machine: system packages (Tesseract with German, Poppler, the
# German word list that checks OCR plausibility),
# a Python virtual environment in .venv and the project in it.
#   scripts/setup.sh          to run mailroom
#   scripts/setup.sh --test   also the test tools (pytest, ruff, mypy, S3 server, Chromium)
#   scripts/setup.sh --bench  also OCRmyPDF for the benchmarks
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
apt_packages=(tesseract-ocr tesseract-ocr-deu poppler-utils fonts-dejavu-core wngerman)
# Fonts of the DIN sample letters (tests, benchmarks/reading.py): office fonts and
# handwriting fonts (mailroom/demo/fonts.py names the package of every face).
font_packages=(fonts-dejavu-extra fonts-liberation fonts-liberation2 fonts-urw-base35 fonts-freefont-ttf
  fonts-crosextra-carlito fonts-crosextra-caladea fonts-ebgaramond fonts-open-sans
  fonts-femkeklaver fonts-kaushanscript fonts-kristi fonts-ecolier-court fonts-sjfonts fonts-klee)
for arg in "$@"; do
  case "$arg" in
    # The fault drills (tests/drills, benchmarks/drills) start private RabbitMQ and
    # PostgreSQL servers of their own, from these packages.
    --test) extras="${extras:+$extras,}dev"; apt_packages+=(chromium rabbitmq-server postgresql "${font_packages[@]}") ;;
    --bench) extras="${extras:+$extras,}dev,bench"; apt_packages+=(chromium rabbitmq-server postgresql "${font_packages[@]}") ;;
    *) echo "unknown option $arg" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) for apt-get install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: Python 3.11 or newer needed ($python is $("$python" --version 2>&1))" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
if ! .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}" \
    >.venv/pip-install.log 2>&1; then
  cat .venv/pip-install.log >&2
  echo "setup: pip install failed (log above)" >&2
  exit 1
fi
.venv/bin/mailroom --help >/dev/null
echo "setup: ready ($(tesseract --version 2>&1 | head -1), $(pdftoppm -v 2>&1 | head -1))" >&2
