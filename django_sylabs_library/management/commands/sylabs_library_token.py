"""Create an API token for a user; the raw token is the last line of stdout."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from django_sylabs_library.exceptions import LibraryError
from django_sylabs_library.flows import audit
from django_sylabs_library.flows.namespaces import ensure_user_entity
from django_sylabs_library.flows.tokens import create_token
from django_sylabs_library.models import Token


class Command(BaseCommand):
    help = "Create an API token for USERNAME and print it (last line of output)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--create-user", action="store_true", help="create the user if missing")
        parser.add_argument("--name", default="cli", help="token name (default: cli)")
        parser.add_argument("--expires-days", type=int, default=None, help="days until it expires")
        parser.add_argument(
            "--read-only",
            action="store_true",
            help="a read-only token: pull, search and list only (no push, tag, delete or settings)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with audit.command_context("sylabs_library_token"):
            self._handle(**options)

    def _handle(self, **options: Any) -> None:
        User = get_user_model()
        username = options["username"]
        user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
        if user is None:
            if not options["create_user"]:
                raise CommandError(f"no user {username!r} (use --create-user to create it)")
            user = User.objects.create_user(**{User.USERNAME_FIELD: username})
            user.set_unusable_password()
            user.save()
            self.stderr.write(f"created user {username}")
        try:
            entity = ensure_user_entity(user)
            scope = Token.Scope.READ if options["read_only"] else Token.Scope.WRITE
            _, raw = create_token(user, options["name"], options["expires_days"], scope=scope)
        except LibraryError as exc:
            raise CommandError(exc.message) from exc
        access = "read-only " if options["read_only"] else ""
        self.stderr.write(f"{access}token {options['name']!r} for {username} (entity {entity.name}):")
        self.stdout.write(raw)
