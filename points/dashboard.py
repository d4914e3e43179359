"""Sections other apps add to the member dashboard, without points importing them.

Apps to the right of points (redemption, reports) register a section in their
AppConfig.ready(); the dashboard renders each section's template with its context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from points.models import Member


@dataclass(frozen=True)
class DashboardSection:
    name: str
    template: str
    context: Callable[[Member], dict]
    order: int = 100
    placement: str = "main"  # "top": a banner above the member card


_sections: dict[str, DashboardSection] = {}


def register_section(section: DashboardSection) -> None:
    _sections[section.name] = section


def sections_for(member: Member, *, placement: str = "main") -> list[tuple[str, dict]]:
    return [
        (section.template, section.context(member))
        for section in sorted(_sections.values(), key=lambda s: (s.order, s.name))
        if section.placement == placement
    ]
