#!/usr/bin/env python
"""Django's command-line utility for the example project.

Run it from anywhere, e.g. ``python example_project/manage.py migrate`` from the repository root: the
repository root is put on ``sys.path`` so that ``example_project.settings`` (and an uninstalled checkout of
``django_sylabs_library``) can be imported.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    try:
        from django.core.management import execute_from_command_line
    except ImportError as exc:  # pragma: no cover
        raise ImportError(
            "Couldn't import Django. Is it installed and is the virtual environment active? "
            'Try: pip install -e ".[example]"'
        ) from exc
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
