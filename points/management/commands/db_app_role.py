"""`manage.py db_app_role`: create (idempotently) and grant the append-only application role.

The release step runs it as the database owner after `migrate`. The password comes from the
environment (APP_DB_PASSWORD by default), never from the command line, where `ps` shows it.
"""

import os

from django.core.management.base import BaseCommand, CommandError

from points.db_roles import DEFAULT_APP_ROLE, RoleNameInvalid, app_role_ensure


class Command(BaseCommand):
    help = "Create and grant the append-only application database role (docs/operations.md)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--role",
            default=os.environ.get("APP_DB_USER") or DEFAULT_APP_ROLE,
            help="The role's name (default: $APP_DB_USER, else jifen_app).",
        )
        parser.add_argument(
            "--password-env",
            default="APP_DB_PASSWORD",
            help="The environment variable holding the role's password (default APP_DB_PASSWORD).",
        )

    def handle(self, *args, role, password_env, **options):
        password = os.environ.get(password_env) or None
        try:
            created = app_role_ensure(role=role, password=password)
        except RoleNameInvalid as error:
            raise CommandError(str(error)) from error
        if password is None:
            self.stderr.write(
                f"{password_env} is empty: the role has no password (trust authentication only)."
            )
        self.stdout.write(
            f"Application role {role} {'created' if created else 'already existed'}; "
            "grants applied (ledger tables: SELECT and INSERT only)."
        )
