# Shared by scripts/run-app and scripts/run-tests: make .venv and install a requirements file,
# skipping the install when that file has not changed since the last one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"

ensure_venv() {  # $1: requirements file
  local req="$1" stamp
  if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv || {
      echo "Could not create .venv: on Debian, run 'apt-get install -y python3-venv' first." >&2
      exit 1
    }
  fi
  stamp=".venv/.deps-$(basename "$req")-$(cat requirements*.txt | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -r "$req"
    rm -f .venv/.deps-"$(basename "$req")"-* && touch "$stamp"
  fi
}
