"""axe-core on the back-office pages this round added or rebuilt, at 390 px, in Chinese: the
pickup desk and the voucher scan (one shared code-entry template) and the earning-rule
history, as the demo administrator sees them (the same templates a merchant gets, with
every permission whatever an earlier test left of the roles). 0 serious or critical
violations."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.management import call_command

from points.models import RuleVersion

pytestmark = pytest.mark.postgres

PAGES = [
    "/admin/redemption/redemption/pickup/",
    "/admin/redemption/voucher/scan/",
    "/admin/points/ruleversion/",
    "/admin/points/ruleversion/{version}/change/",
]


def test_the_rebuilt_back_office_pages_pass_axe_at_390_px(live_server, context):
    call_command("seed_demo")
    version = RuleVersion.objects.filter(merchant__slug="chenguang-demo").first()
    base = live_server.url
    context.add_cookies([{"name": "django_language", "value": "zh-hans", "url": base}])
    page = context.new_page()
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "demo12345")
    page.locator("input[type=submit]").click()
    page.wait_for_load_state()
    axe, problems = Axe(), {}
    for path in PAGES:
        response = page.goto(base + path.format(version=version.pk))
        assert response.status == 200, (path, response.status)
        found = [
            f"{v['id']} ({v['impact']}: {[n['target'] for n in v['nodes']]})"
            for v in Axe.run(axe, page).response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        if found:
            problems[path] = found
    page.close()
    assert problems == {}, problems
