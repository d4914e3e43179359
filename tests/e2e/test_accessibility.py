"""axe-core on every member page (tests/numbers/pages.py) at 390 px, in zh-hans and en:
0 serious or critical violations, one <h1>, help texts announced (aria-describedby), no
aria-label on a plain <span>, no placeholder or maxlength on month inputs, no sideways
scrolling. Pages not on this branch yet (404) are skipped by name, not silently."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.management import call_command

from activities.models import Activity
from redemption.models import Reward
from tests.numbers.pages import MEMBER_PAGES

pytestmark = pytest.mark.postgres

MARKUP_CHECKS = """() => {
  const problems = [];
  const h1 = document.querySelectorAll('h1').length;
  if (h1 !== 1) problems.push(`${h1} <h1> elements`);
  for (const span of document.querySelectorAll('span[aria-label]')) {
    if (!span.getAttribute('role')) problems.push('aria-label on a plain <span>');
  }
  for (const input of document.querySelectorAll('input[type=month]')) {
    if (input.hasAttribute('placeholder')) problems.push('placeholder on a month input');
    if (input.hasAttribute('maxlength')) problems.push('maxlength on a month input');
  }
  for (const help of document.querySelectorAll('.helptext, [id$=_helptext]')) {
    if (!help.id || !document.querySelector(`[aria-describedby~="${help.id}"]`)) {
      problems.push(`help text not linked: ${help.id || help.textContent.slice(0, 30)}`);
    }
  }
  for (const [, id] of [...document.querySelectorAll('[aria-describedby]')].flatMap(
      (el) => el.getAttribute('aria-describedby').split(/\\s+/).map((ref) => [el, ref]))) {
    if (!document.getElementById(id)) problems.push(`aria-describedby points at no #${id}`);
  }
  if (document.documentElement.scrollWidth > 390) {
    const wide = [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > 390 || el.scrollWidth > el.clientWidth + 1)
      .map((el) => el.tagName.toLowerCase() + (el.className ? '.' + el.className : ''))
      .slice(-3);
    problems.push(`scrolls sideways: ${document.documentElement.scrollWidth}px (${wide})`);
  }
  return problems;
}"""


def _log_in(page, base_url, username):
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "demo12345")
    page.locator("form button[type=submit], form input[type=submit]").last.click()
    page.wait_for_load_state()


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_every_member_page_passes_axe_at_390_px(live_server, context, language):
    call_command("seed_demo")
    reward = Reward.objects.order_by("pk").first()
    activity = Activity.objects.order_by("pk").first()
    base = live_server.url
    context.add_cookies([{"name": "django_language", "value": language, "url": base}])
    axe = Axe()
    problems, skipped = {}, []
    for user in (None, "demo"):
        page = context.new_page()
        if user:
            _log_in(page, base, user)
        for path, who in MEMBER_PAGES:
            if who != user:
                continue
            url = base + path.format(
                reward=reward.pk if reward else 0, community=0, activity=activity.pk
            )
            response = page.goto(url)
            if response.status == 404:
                skipped.append(path)
                continue
            assert response.status == 200, (path, response.status)
            found = [
                f"{v['id']} ({v['impact']}, {len(v['nodes'])} nodes)"
                for v in Axe.run(axe, page).response["violations"]
                if v["impact"] in ("serious", "critical")
            ]
            found += page.evaluate(MARKUP_CHECKS)
            if found:
                problems[path] = found
        page.close()
    assert problems == {}, "\n".join(f"{path}: {found}" for path, found in problems.items())
    assert len(skipped) <= 4, skipped  # only pages other branches add may be missing
