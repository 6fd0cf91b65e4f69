#!/usr/bin/env bash
# Start the example project on http://127.0.0.1:${PORT:-8000} with a demo user and an API token.
#
# usage: scripts/run-example.sh        (from anywhere; works on a fresh clone)
# env:   PORT (8000), PYTHON (python3, used only to create .venv), SYLABS_EXAMPLE_DATA_DIR (<repo>/var)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
port=${PORT:-8000}

if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
  venv=$VIRTUAL_ENV
else
  venv=$repo/.venv
  if [ ! -x "$venv/bin/python" ]; then
    echo "==> creating $venv"
    "${PYTHON:-python3}" -m venv "$venv"
  fi
fi
py=$venv/bin/python

echo "==> installing django-sylabs-library (editable) with the example and test extras"
"$py" -m pip install -q -e ".[test]"

manage=("$py" example_project/manage.py)
echo "==> migrating"
"${manage[@]}" migrate --noinput

"${manage[@]}" shell -v 0 -c '
from django.contrib.auth import get_user_model
User = get_user_model()
if not User.objects.filter(username="demo").exists():
    User.objects.create_user("demo", email="demo@example.invalid", password="demo")
    print("created user demo (password: demo)")
'

token=$("${manage[@]}" sylabs_library_token demo --name example | tail -n 1)

cat <<MSG

==========================================================================
 Example library: http://127.0.0.1:${port}/
 Web login:       user "demo", password "demo"   (http://127.0.0.1:${port}/accounts/login/)
 API token:       ${token}

 In another terminal:

   apptainer remote add --no-login --insecure mylib 127.0.0.1:${port}
   apptainer remote login mylib
       (paste the token above)
   apptainer push -U my.sif library://demo/collection/container:tag
   apptainer pull library://demo/collection/container:tag

 Stop the server with Ctrl-C.
==========================================================================

MSG

exec "$py" -m gunicorn example_project.wsgi:application -c example_project/gunicorn.conf.py \
  -b "127.0.0.1:${port}" -w 2 --threads 4 --timeout 600 \
  --access-logfile - --error-logfile -
