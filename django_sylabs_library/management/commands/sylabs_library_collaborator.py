"""Collaborators of a collection, for scripts: add, remove or list users and teams.

    manage.py sylabs_library_collaborator add    alice/tools bob
    manage.py sylabs_library_collaborator add    alice/tools --team lab-x --role owner
    manage.py sylabs_library_collaborator remove alice/tools bob
    manage.py sylabs_library_collaborator list   alice/tools

An operator tool: it acts whatever the collection roles (like the admin), through the same
functions as the collection settings page (``flows.collaborators``).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_sylabs_library.exceptions import LibraryError
from django_sylabs_library.flows import audit, collaborators


class Command(BaseCommand):
    help = "Add, remove or list collaborators (users or teams) of a collection: entity/collection."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", choices=["add", "remove", "list"])
        parser.add_argument("collection", help="entity/collection")
        parser.add_argument("username", nargs="?", help="a user (or use --team)")
        parser.add_argument("--team", help="a team (or any group) instead of a user")
        parser.add_argument(
            "--role",
            choices=sorted(collaborators.ROLES),
            default="collaborator",
            help="collaborator (see and pull; the default) or owner (also push, tag, delete)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with audit.command_context("sylabs_library_collaborator"):
            self._handle(**options)

    def _handle(self, **options: Any) -> None:
        action = options["action"]
        try:
            collection = collaborators.find_collection(options["collection"])
            if action == "list":
                if options["username"] or options["team"]:
                    raise CommandError("list takes no user or team")
                self._list(collection)
                return
            if bool(options["username"]) == bool(options["team"]):
                raise CommandError(f"{action} needs a USERNAME or --team TEAM (not both)")
            principal = collaborators.find_principal(username=options["username"], team=options["team"])
            if action == "add":
                grant = collaborators.add_collaborator(None, collection, principal, options["role"], check=False)
                self.stdout.write(f"{principal.label} is {grant.role_name} of {collection}")
            else:
                collaborators.remove_collaborator(None, collection, principal, check=False)
                self.stdout.write(f"{principal.label} removed from {collection}")
        except LibraryError as exc:
            raise CommandError(exc.message) from exc

    def _list(self, collection: Any) -> None:
        entity = collection.entity
        visibility = "private" if collection.private else "public"
        self.stdout.write(f"{collection} ({visibility})")
        if entity.owner_id:
            self.stdout.write(f"owner\tuser {entity.owner.get_username()}\t(entity owner)")
        if entity.team_id:
            self.stdout.write(f"owner\tteam {entity.team.name}\t(entity team)")
        for grant in collaborators.list_collaborators(None, collection, check=False):
            self.stdout.write(f"{grant.role_name}\t{grant.principal.label}")
