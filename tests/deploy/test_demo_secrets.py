"""No demo secrets in production: seed_demo refuses under the production settings, and
`check --deploy` fails (error level) while the demo POS key or a demo password is left."""

import os

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError

from merchants.demo import DEMO_POS_KEY
from merchants.models import Merchant, Store, Terminal
from merchants.services.terminals import terminal_revoke, terminal_rotate_key
from points.checks import check_no_demo_secrets
from tests.deploy.conftest import REPO, production_env, run_python

DEMO_PASSWORD = "demo12345"


def demo_terminal():
    merchant, _ = Merchant.objects.get_or_create(slug="m", defaults={"name": "M"})
    store, _ = Store.objects.get_or_create(merchant=merchant, code="s", defaults={"name": "S"})
    terminal = Terminal(store=store, name="收银台 1")
    terminal.set_key(DEMO_POS_KEY)
    terminal.save()
    return terminal


def check_ids(settings):
    settings.DEBUG = False
    return sorted(error.id for error in check_no_demo_secrets())


def test_seed_demo_refuses_under_production_settings(tmp_path):
    env = production_env(tmp_path, DATABASE_URL=os.environ["DATABASE_URL"])

    result = run_python(["manage.py", "seed_demo"], env)

    assert result.returncode != 0
    assert "seed_demo refuses to run under production settings" in result.stderr


def test_seed_demo_refuses_when_demo_data_is_not_allowed(db, settings):
    settings.DEMO_DATA_ALLOWED = False

    with pytest.raises(CommandError, match="production"):
        call_command("seed_demo")
    assert not get_user_model().objects.filter(username="admin").exists()


@pytest.mark.django_db
def test_the_demo_pos_key_is_an_error_with_debug_off(settings):
    demo_terminal()

    assert check_ids(settings) == ["jifen.E001"]


@pytest.mark.django_db
def test_a_demo_user_with_the_demo_password_is_an_error(settings):
    get_user_model().objects.create_user(username="admin", password=DEMO_PASSWORD)
    get_user_model().objects.create_user(username="someone", password=DEMO_PASSWORD, is_staff=True)
    get_user_model().objects.create_user(username="demo", password="a-real-password-9")

    settings.DEBUG = False
    errors = check_no_demo_secrets()

    assert [e.id for e in errors] == ["jifen.E002"]
    assert "admin" in errors[0].msg and "someone" in errors[0].msg and "demo," not in errors[0].msg


@pytest.mark.django_db
def test_a_clean_database_passes(settings):
    get_user_model().objects.create_user(username="admin", password="a-real-password-9")

    assert check_ids(settings) == []


@pytest.mark.django_db
def test_debug_on_is_not_checked(settings):
    demo_terminal()
    settings.DEBUG = True

    assert check_no_demo_secrets() == []


@pytest.mark.django_db
def test_a_rotated_or_revoked_demo_key_passes(settings):
    rotated = demo_terminal()
    terminal_rotate_key(terminal=rotated)
    assert check_ids(settings) == []
    Terminal.objects.all().delete()
    revoked = demo_terminal()
    terminal_revoke(terminal=revoked)
    assert check_ids(settings) == []


@pytest.mark.django_db
def test_check_deploy_fails_on_a_seeded_database(settings):
    call_command("seed_demo", stdout=open(os.devnull, "w"))
    settings.DEBUG = False

    with pytest.raises(SystemCheckError) as failed:
        call_command("check", deploy=True, stdout=open(os.devnull, "w"))
    assert "jifen.E001" in str(failed.value) and "jifen.E002" in str(failed.value)


@pytest.mark.django_db
def test_seed_demo_does_not_re_create_a_rotated_demo_key(settings):
    call_command("seed_demo", stdout=open(os.devnull, "w"))
    terminal = Terminal.objects.get(name="收银台 1")
    terminal_rotate_key(terminal=terminal)

    call_command("seed_demo", stdout=open(os.devnull, "w"))

    settings.DEBUG = False
    assert "jifen.E001" not in [e.id for e in check_no_demo_secrets()]
    assert Terminal.objects.filter(name="收银台 1").count() == 1


def test_env_example_does_not_seed_the_demo():
    lines = (REPO / ".env.example").read_text().splitlines()
    assert not [line for line in lines if line.strip().startswith("SEED_DEMO")]
    assert "seed_demo" not in (REPO / "deploy/release.sh").read_text().split("# No demo")[0]
