"""Integration tests: the example project under gunicorn, driven by real clients (``pytest -m integration``)."""
