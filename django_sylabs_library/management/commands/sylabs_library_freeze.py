"""Freeze or unfreeze one tag: ``entity/collection/container:tag`` (all architectures, or --arch)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_sylabs_library.exceptions import InvalidInput, NotFound
from django_sylabs_library.models import Container, Tag
from django_sylabs_library.refs import parse_ref


class Command(BaseCommand):
    help = "Freeze (or with --unfreeze, unfreeze) a tag: frozen tags never move or go away."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("ref", help="entity/collection/container:tag")
        parser.add_argument("--unfreeze", action="store_true")
        parser.add_argument("--arch", default="", help="only this architecture")

    def handle(self, *args: Any, **options: Any) -> None:
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
        tags = Tag.objects.filter(container=container, name=ref.tag)
        if options["arch"]:
            tags = tags.filter(arch=options["arch"])
        frozen = not options["unfreeze"]
        count = tags.update(frozen=frozen)
        if not count:
            raise CommandError(f"tag {ref.tag} not found in {ref.path}")
        self.stdout.write(f"{'froze' if frozen else 'unfroze'} {ref} ({count} architecture(s))")
