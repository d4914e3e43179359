"""The site's own views live in config/: the health probe and the four error pages."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory

from config import urls, views

pytestmark = pytest.mark.django_db


def test_the_error_handlers_are_the_sites_own():
    assert urls.handler400 == "config.views.bad_request"
    assert urls.handler403 == "config.views.permission_denied"
    assert urls.handler404 == "config.views.page_not_found"
    assert urls.handler500 == "config.views.server_error"


def test_healthz_answers_from_config(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert response.resolver_match.func.__module__ == "config.views"


def test_healthz_refuses_other_methods(client):
    assert client.post("/healthz").status_code == 405


def test_a_request_for_an_unknown_host_gets_the_friendly_400(client):
    response = client.get("/accounts/login/", HTTP_HOST="evil.example.com")
    assert response.status_code == 400
    assert "请求有误" in response.content.decode()


def test_an_unknown_page_gets_the_friendly_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "页面不存在" in response.content.decode()


def test_permission_denied_renders_the_403_page():
    request = RequestFactory().get("/staff/")
    request.user = AnonymousUser()
    response = views.permission_denied(request, PermissionDenied())
    assert response.status_code == 403
    assert "无权访问" in response.content.decode()


def test_server_error_renders_the_self_contained_500_page():
    response = views.server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert "您的积分不受影响" in response.content.decode()
