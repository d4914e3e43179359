"""Settings that would break the compliance rules stop the process at start-up."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def start_with(**env):
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/never_reached",
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bonuses_above_the_cap_are_refused_with_a_clear_message():
    result = start_with(POINTS_SIGNUP_BONUS="150", POINTS_FIRST_PURCHASE_BONUS="100")
    assert result.returncode != 0
    assert "exceeds POINTS_SIGNUP_BONUS_CAP (200)" in result.stderr


@pytest.mark.parametrize(
    "env",
    [
        {"POINTS_SIGNUP_BONUS": "-5"},
        {"POINTS_EXPIRY_MONTHS": "0"},
        {"POINT_VALUE_FLOOR_FEN": "0"},
        {"REFUND_POLICY": "whatever"},
        {"POINTS_SIGNUP_BONUS_CAP": "lots"},
    ],
)
def test_nonsense_settings_are_refused(env):
    assert start_with(**env).returncode != 0


def test_defaults_start():
    result = start_with()
    assert result.returncode == 0, result.stderr
