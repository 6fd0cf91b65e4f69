"""A trigram index for ``v1/search`` on image descriptions, on PostgreSQL only.

``description__icontains`` is ``UPPER(description::text) LIKE UPPER('%…%')``: no B-tree index can serve it, so
without this every search scans the image table. ``pg_trgm`` is a trusted extension (PostgreSQL 13+), so the
database owner may create it; where that is refused the migration logs a warning and search keeps working
(by a scan). SQLite and other databases are left alone.
"""

from __future__ import annotations

import logging

from django.db import migrations, transaction

logger = logging.getLogger(__name__)

INDEX = "sylabs_image_description_trgm"
TABLE = "django_sylabs_library_image"


def create_index(apps, schema_editor):  # type: ignore[no-untyped-def]
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception as exc:  # noqa: BLE001 - optional speed-up; search works without it
        logger.warning("pg_trgm is not available (%s); v1/search will scan image descriptions", exc)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON {TABLE} USING gin ((UPPER(description::text)) gin_trgm_ops)"
        )


def drop_index(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("django_sylabs_library", "0004_token_scope_audit_event")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
