"""The member's green-consumption report: figures, PDF, storage, download, task, command."""

import subprocess
from datetime import date

import pytest
from django.core.management import CommandError, call_command

from points.models import Notification
from reports.models import GreenReport
from reports.periods import Period, parse_month, parse_year
from reports.selectors import member_green_figures
from reports.services.green import green_report_generate, green_report_render, green_reports_monthly
from reports.tasks import green_reports_monthly_task
from tests.reports.conftest import at, buy, refund

pytestmark = pytest.mark.django_db
NOVEMBER = Period("month", date(2025, 11, 1))


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def pdf_text(path) -> str:
    return subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, check=True
    ).stdout.decode()


def embedded_fonts(path) -> list[str]:
    """Lines of `pdffonts` naming a font embedded in the PDF."""
    lines = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True).stdout
    rows = lines.decode().splitlines()[2:]
    return [row for row in rows if row.split()[-5] == "yes"]


def test_figures_count_co2e_by_category_net_of_refunded_units(shop_a, make_member):
    member = make_member()
    purchase = buy(
        member, shop_a, [("GREEN-NB-01", 3, 3840), ("GREEN-TEA-01", 2, 4000)], at(2025, 11)
    )
    refund(purchase, line_no=1, quantity=1)
    buy(member, shop_a, [("GREEN-NB-01", 5, 6400)], at(2025, 10))  # another month

    figures = member_green_figures(member, NOVEMBER)

    assert figures.carbon_g == 2 * 300 + 2 * 100
    assert {row["category"]: row["carbon_g"] for row in figures.by_category} == {
        "Notebooks": 600,
        "Tea": 200,
    }
    assert [row["carbon_g"] for row in figures.trend[-2:]] == [1500, 800]
    assert figures.lifetime_carbon_g == 1500 + 800
    assert figures.green_points == purchase.green_points - purchase.refunds.get().green_points


def test_community_average_is_the_mean_over_all_its_members(shop_a, make_member, school):
    me, classmate, _idle = (make_member(community=school) for _ in range(3))
    buy(me, shop_a, [("GREEN-NB-01", 2, 2560)], at(2025, 11))
    buy(classmate, shop_a, [("GREEN-NB-01", 4, 5120)], at(2025, 11, 20))

    figures = member_green_figures(me, NOVEMBER)

    assert figures.community_members == 3
    assert figures.community_average_g == (600 + 1200) // 3


def test_member_pdf_embeds_a_cjk_font_and_shows_the_members_numbers(shop_a, make_member, tmp_path):
    member = make_member()
    buy(member, shop_a, [("GREEN-NB-01", 4, 5120)], at(2025, 11))
    out = tmp_path / "green.pdf"

    call_command("green_report", member=member.member_no, month="2025-11", out=str(out))

    fonts = embedded_fonts(out)
    assert any("CJK" in row for row in fonts), fonts
    text = pdf_text(out)
    figures = member_green_figures(member, NOVEMBER)
    assert member.member_no in text
    assert "绿色消费报告" in text and "2025年11月" in text
    assert f"{figures.kg}" in text and str(figures.green_points) in text
    assert "棵树一年的吸收量" in text


def test_member_without_green_purchases_gets_a_friendly_report(shop_a, make_member, tmp_path):
    member = make_member()
    buy(member, shop_a, [("pens", 1, 500)], at(2025, 11))

    pdf, figures = green_report_render(member=member, period=NOVEMBER)
    (tmp_path / "empty.pdf").write_bytes(pdf)

    assert figures.carbon_g == 0 and not figures.has_green
    assert "本期还没有绿色消费" in pdf_text(tmp_path / "empty.pdf")


def test_a_yearly_report_covers_twelve_months(shop_a, make_member, tmp_path):
    member = make_member()
    buy(member, shop_a, [("GREEN-NB-01", 1, 1280)], at(2025, 2))
    buy(member, shop_a, [("GREEN-NB-01", 2, 2560)], at(2025, 12))

    call_command(
        "green_report", member=member.user.username, year="2025", out=str(tmp_path / "y.pdf")
    )

    assert member_green_figures(member, parse_year("2025")).carbon_g == 900
    assert "2025年" in pdf_text(tmp_path / "y.pdf")


def test_one_member_cannot_download_anothers_report(shop_a, make_member, client):
    owner, other = make_member(), make_member()
    report = green_report_generate(member=owner, period=NOVEMBER)

    client.force_login(other.user)
    assert client.get(f"/reports/green/{report.pk}/download/").status_code == 404

    client.force_login(owner.user)
    response = client.get(f"/reports/green/{report.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content).startswith(b"%PDF")


def test_the_list_page_makes_and_lists_reports(shop_a, make_member, client):
    member = make_member()
    client.force_login(member.user)

    response = client.post("/reports/green/", {"month": "2025-11"})

    assert response.status_code == 302
    report = GreenReport.objects.get(member=member)
    assert report.label == "2025-11"
    page = client.get("/reports/green/").content.decode()
    assert f"/reports/green/{report.pk}/download/" in page
    assert "我的绿色消费报告" in page


@pytest.mark.parametrize("month", ["2025-13", "11/2025", "", "2025-1", "9999-12"])
def test_a_bad_month_is_a_form_error_not_a_crash(make_member, client, month):
    client.force_login(make_member().user)

    response = client.post("/reports/green/", {"month": month})

    assert response.status_code == 400
    assert GreenReport.objects.count() == 0


def test_the_monthly_task_stores_reports_and_notifies_each_member_once(shop_a, make_member):
    buyer, _idle = make_member(), make_member()
    buy(buyer, shop_a, [("GREEN-NB-01", 1, 1280)], at(2025, 11))

    assert green_reports_monthly_task.delay("2025-11").get() == 1
    green_reports_monthly(period=parse_month("2025-11"))

    assert GreenReport.objects.filter(member=buyer).count() == 1
    notes = Notification.objects.filter(member=buyer, kind=Notification.Kind.REPORT_READY)
    assert [n.link for n in notes] == ["/reports/green/"]
    assert "2025年11月" in notes[0].title


def test_the_monthly_task_is_scheduled(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["green-reports-monthly"]
    assert entry["task"] == "reports.tasks.green_reports_monthly_task"
    assert entry["schedule"].day_of_month == {1}


@pytest.mark.parametrize(
    "options, message",
    [
        ({"month": "2025-13"}, "YYYY-MM"),
        ({"year": "25"}, "YYYY"),
        ({"month": "2025-11", "member": "nobody"}, "No member"),
        ({"month": "2025-11", "member": "bad\udcff"}, "UTF-8"),
    ],
)
def test_the_command_refuses_bad_input_with_one_clear_line(make_member, tmp_path, options, message):
    member = make_member()
    options = {"member": member.member_no, "out": str(tmp_path / "x.pdf"), **options}

    with pytest.raises(CommandError, match=message):
        call_command("green_report", **options)
