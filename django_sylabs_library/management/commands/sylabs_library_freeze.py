"""Freeze or unfreeze one tag: ``entity/collection/container:tag`` (all architectures, or --arch)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_sylabs_library.exceptions import InvalidInput, NotFound
from django_sylabs_library.flows import audit
from django_sylabs_library.flows.tags import set_frozen
from django_sylabs_library.models import Container
from django_sylabs_library.refs import parse_ref


class Command(BaseCommand):
    help = "Freeze (or with --unfreeze, unfreeze) a tag: frozen tags never move or go away."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("ref", help="entity/collection/container:tag")
        parser.add_argument("--unfreeze", action="store_true")
        parser.add_argument("--arch", default="", help="only this architecture")

    def handle(self, *args: Any, **options: Any) -> None:
        with audit.command_context("sylabs_library_freeze"):
            self._handle(**options)

    def _handle(self, **options: Any) -> None:
        try:
            ref = parse_ref(options["ref"], default_tag="")
        except InvalidInput as exc:
            raise CommandError(exc.message) from exc
        if not (ref.entity and ref.collection and ref.tag):
            raise CommandError("give a full reference: entity/collection/container:tag")
        container = Container.objects.filter(
            collection__entity__name=ref.entity, collection__name=ref.collection, name=ref.container
        ).first()
        if container is None:
            raise CommandError(str(NotFound(f"container {ref.path} not found")))
        frozen = not options["unfreeze"]
        try:
            count = set_frozen(None, container, ref.tag, options["arch"] or None, frozen, check=False)
        except NotFound:
            raise CommandError(f"tag {ref.tag} not found in {ref.path}") from None
        self.stdout.write(f"{'froze' if frozen else 'unfroze'} {ref} ({count} architecture(s))")
