"""deploy/healthcheck.py, the probe the image and the compose file run in each container."""

import os
import socket
import time

from deploy.healthcheck import beat_is_healthy, web_is_healthy


def test_beat_is_healthy_while_its_schedule_file_is_fresh(tmp_path):
    schedule = tmp_path / "celerybeat-schedule"
    (tmp_path / "celerybeat-schedule.dat").write_bytes(b"")  # dbm.dumb adds suffixes
    assert beat_is_healthy(str(schedule), max_silence=600)


def test_beat_is_unhealthy_once_its_schedule_file_goes_stale(tmp_path):
    written = tmp_path / "celerybeat-schedule"
    written.write_bytes(b"")
    eleven_minutes_ago = time.time() - 11 * 60
    os.utime(written, (eleven_minutes_ago, eleven_minutes_ago))
    assert not beat_is_healthy(str(written), max_silence=600)


def test_beat_is_unhealthy_before_any_schedule_file_exists(tmp_path):
    assert not beat_is_healthy(str(tmp_path / "celerybeat-schedule"), max_silence=600)


def test_web_is_unhealthy_when_nothing_answers():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]  # bound, never listening: refused
        assert not web_is_healthy(port=str(closed_port), timeout=2)
