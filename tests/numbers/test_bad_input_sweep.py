"""Bad input is a 400 with a Chinese message, never a 500: every month, year, date and page
parameter of every page, swept with out-of-range, malformed, huge, negative, empty-ish and
non-UTF-8 values, as the user who can open that page. Add a page's parameter to PARAMETERS."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from points.models import Community
from points.months import MAX_YEAR, MIN_YEAR, BadMonth, add_months, next_month, parse_month

pytestmark = pytest.mark.django_db

# (user, path, parameter); "{community}" is the demo community's id.
PARAMETERS = [
    ("demo", "/points/history/", "month"),
    ("demo", "/points/history/", "page"),
    ("demo", "/points/history/", "account"),
    ("demo", "/points/history/", "kind"),
    ("demo", "/me/notifications/", "page"),
    ("staff", "/staff/settlement/", "month"),
    ("staff", "/staff/communities/", "month"),
    ("staff", "/staff/communities/", "year"),
    ("staff", "/staff/communities/{community}/", "month"),
    ("staff", "/staff/communities/{community}/", "year"),
    ("merchant", "/staff/merchant/analytics/", "month"),
    ("staff", "/staff/audit/export/", "date_from"),
    ("staff", "/staff/audit/export/", "date_to"),
]

# Raw query-string values (already URL-encoded): the browser sends whatever is typed.
BAD_VALUES = [
    "9999-12",  # the month after it is year 10000
    "0000-01",
    "0001-01",
    "1999-12",
    "2100-01",
    "2026-13",
    "2026-00",
    "2026-1",
    "2026-12-01T00",
    "abc",
    "-1",
    "0",
    "1e9",
    "9" * 40,  # huge
    "9" * 2000,  # very huge
    "%FF%FE",  # not UTF-8
    "%00",
    "2026-%E5%B9%B4",
    "99999-01",
    "9999-12-31",
    "0000-00-00",
]

CHINESE_MESSAGES = ("月份", "年份", "日期", "页码", "选择", "有效", "格式", "输入")


def _url(path, demo_community):
    return path.format(community=demo_community)


@pytest.mark.parametrize(("user", "path", "parameter"), PARAMETERS)
def test_every_bad_value_of_every_parameter_is_a_400_with_a_chinese_message(
    client_as, demo, user, path, parameter
):
    community = Community.objects.order_by("pk").first()
    url = _url(path, community.pk if community else 0)
    client = client_as(user)
    problems = []
    for value in BAD_VALUES:
        response = client.get(f"{url}?{parameter}={value}")
        if response.status_code not in (200, 400):
            problems.append((value[:12], response.status_code))
            continue
        if response.status_code == 400:
            body = response.content.decode()
            if not any(word in body for word in CHINESE_MESSAGES):
                problems.append((value[:12], "400 without a Chinese message"))
    assert not problems, problems


def test_month_9999_12_on_the_history_page_is_a_400_that_says_what_to_type(client_as):
    response = client_as("demo").get("/points/history/?month=9999-12")

    assert response.status_code == 400
    assert "年份必须在 2000 到 2099 之间" in response.content.decode()


def test_malformed_month_on_the_history_page_is_a_chinese_400(client_as):
    response = client_as("demo").get("/points/history/?month=2026-13")

    assert response.status_code == 400
    assert "请按 YYYY-MM 输入月份" in response.content.decode()


def test_a_good_month_and_page_still_answer_200(client_as):
    client = client_as("demo")
    assert client.get("/points/history/?month=2026-11&page=1").status_code == 200
    assert client.get("/staff/settlement/?month=2026-11").status_code in (200, 302, 403)


@pytest.mark.parametrize(
    "arguments",
    [
        ["--month", "9999-12"],
        ["--month", "2026-13"],
        ["--month", "abc"],
        ["--month", "9" * 500],
        ["--year", "99999"],
        ["--year", "1999"],
        ["--year", "-1"],
    ],
)
def test_green_report_command_refuses_bad_periods_with_one_clear_line(demo, tmp_path, arguments):
    with pytest.raises(CommandError) as refused:
        call_command(
            "green_report",
            "--member",
            "demo",
            *arguments,
            "--out",
            str(tmp_path / "r.pdf"),
            stdout=StringIO(),
        )
    assert "\n" not in str(refused.value)
    assert not (tmp_path / "r.pdf").exists()


@pytest.mark.parametrize(
    "value",
    [
        "9999-12",
        "0000-01",
        "2026-13",
        "2026-00",
        "",
        " ",
        "2026-1",
        "99999-01",
        "\udcff",
        None,
        202611,
    ],
)
def test_the_one_month_parser_refuses_what_it_cannot_read(value):
    with pytest.raises(BadMonth):
        parse_month(value)


def test_the_one_month_parser_reads_the_edges_of_its_range():
    from datetime import date

    assert parse_month(f"{MIN_YEAR}-01") == date(MIN_YEAR, 1, 1)
    assert parse_month(f" {MAX_YEAR}-12 ") == date(MAX_YEAR, 12, 1)
    assert next_month(parse_month(f"{MAX_YEAR}-12")) == date(MAX_YEAR + 1, 1, 1)


def test_month_arithmetic_clamps_the_day():
    from datetime import date

    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 15), 14) == date(2028, 1, 15)
