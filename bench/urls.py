"""The product's URLs plus the two trivial views the HTTP benchmarks compare against."""

from django.http import JsonResponse
from django.shortcuts import render
from django.urls import path

from config.urls import urlpatterns as product_urlpatterns


def ping(request):
    """The least a JSON endpoint on this server can do: the baseline of `earn_http_4`."""
    return JsonResponse({"ok": True})


def layout(request):
    """The base layout and nothing else: the baseline of `dashboard_page`."""
    return render(request, "base.html", {})


urlpatterns = [
    path("bench/ping", ping),
    path("bench/layout", layout),
    *product_urlpatterns,
]
