"""The demo site, seeded once per test that needs it (a module-wide database would outlive
the test's transaction): the sweeps visit every page as the demo users would."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command


@pytest.fixture
def demo(db):
    call_command("seed_demo", stdout=StringIO())
    users = get_user_model().objects
    return {user.username: user for user in users.all()}


@pytest.fixture
def client_as(client, demo):
    """A test client logged in as one of the demo users, in one language."""

    def login(username, language="zh-hans"):
        client.force_login(demo[username])
        client.cookies["django_language"] = language
        return client

    return login
