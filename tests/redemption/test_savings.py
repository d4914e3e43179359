"""The savings projection: months until each reward is affordable at the recent spend rate."""

from datetime import timedelta

import pytest
from django.utils import timezone

from points.models import Purchase
from redemption.selectors import average_monthly_spend_fen, savings_projection

pytestmark = pytest.mark.django_db


def buy(member, merchant, total_fen, days_ago, now):
    n = Purchase.objects.count() + 1
    return Purchase.objects.create(
        merchant=merchant,
        member=member,
        receipt_no=f"R{n}",
        total_fen=total_fen,
        points=total_fen // 100,
        green_points=0,
        occurred_at=now - timedelta(days=days_ago),
    )


def test_fifty_yuan_a_month_makes_a_500_point_reward_about_ten_months_away(
    make_member, merchant, make_reward
):
    # Given ¥300 spent over the last six months (¥50 a month) and no points yet
    member = make_member()
    now = timezone.now()
    for month in range(6):
        buy(member, merchant, 5000, days_ago=15 + 30 * month, now=now)
    buy(member, merchant, 99999, days_ago=200, now=now)  # older than six months: ignored
    notebook = make_reward(title="笔记本套装", points_price=500)

    # When the projection is computed
    projection = savings_projection(member=member, rewards=[notebook], now=now)[notebook.pk]

    # Then it is 10 months at 50 points a month
    assert (projection.monthly_spend_fen, projection.monthly_points) == (5000, 50)
    assert (projection.shortfall, projection.months) == (500, 10)


def test_points_already_held_shorten_the_wait_and_enough_means_zero(
    funded_member, merchant, make_reward
):
    member = funded_member(260)
    now = timezone.now()
    buy(member, merchant, 6 * 5000, days_ago=10, now=now)
    cheap = make_reward(points_price=200, face_value_fen=1000)
    dear = make_reward(points_price=500)

    result = savings_projection(member=member, rewards=[cheap, dear], now=now)

    assert result[cheap.pk].months == 0
    assert (result[dear.pk].shortfall, result[dear.pk].months) == (240, 5)  # ceil(240 / 50)


def test_no_recent_spend_gives_no_estimate_rather_than_a_wrong_one(make_member, make_reward):
    member = make_member()
    reward = make_reward(points_price=500)

    projection = savings_projection(member=member, rewards=[reward])[reward.pk]

    assert (projection.months, projection.shortfall) == (None, 500)


def test_the_average_uses_six_months_of_purchases(make_member, merchant):
    member = make_member()
    now = timezone.now()
    buy(member, merchant, 1200, days_ago=1, now=now)

    assert average_monthly_spend_fen(member, now=now) == 200


def test_the_projection_appears_on_the_reward_page(client, make_member, merchant, make_reward):
    member = make_member()
    now = timezone.now()
    buy(member, merchant, 30000, days_ago=20, now=now)
    reward = make_reward(title="笔记本套装", points_price=500)
    client.force_login(member.user)

    body = client.get(f"/rewards/{reward.pk}/").content.decode()

    assert "每月消费 ¥50.00，约 10 个月可兑换笔记本套装" in body


def test_the_dashboards_one_query_inputs_equal_the_two_selectors(
    make_member, issuer, merchant, django_assert_num_queries
):
    from points.services.ledger import Overdraft
    from redemption.selectors import member_projection_balance, member_savings_inputs
    from tests.points.helpers import earn, reverse, spend

    # Given members with expired but unswept lots, lots expiring later, a spend, and a debt
    now = timezone.now()
    mixed = make_member()
    earn(mixed, issuer, 70, expires_at=now - timedelta(days=1))
    earn(mixed, issuer, 40, expires_at=now + timedelta(days=3))
    earn(mixed, issuer, 25)
    spend(mixed, merchant, 50)
    buy(mixed, merchant, 1234, days_ago=3, now=now)
    buy(mixed, merchant, 99999, days_ago=200, now=now)
    in_debt = make_member()
    purchase = earn(in_debt, issuer, 500)
    spend(in_debt, merchant, 300)
    reverse(purchase, overdraft=Overdraft.ALLOW)
    empty = make_member()

    for member in (mixed, in_debt, empty):
        # When the dashboard reads both figures, it is one query
        with django_assert_num_queries(1):
            inputs = member_savings_inputs(member, now=now)
        # Then they are what the two selectors say
        assert inputs == (
            member_projection_balance(member, now=now),
            average_monthly_spend_fen(member, now=now),
        )
    assert member_savings_inputs(mixed, now=now) == (15, 205)  # 40 + 25 - 50 spent
    assert member_savings_inputs(in_debt, now=now)[0] == -300  # the debt counts


def _buy_with_lines(member, merchant, receipt_no, lines, days_ago, now):
    from points.models import PurchaseLine

    purchase = Purchase.objects.create(
        merchant=merchant,
        member=member,
        receipt_no=receipt_no,
        total_fen=sum(amount for _, amount, _ in lines),
        points=0,
        green_points=0,
        occurred_at=now - timedelta(days=days_ago),
    )
    category = merchant.categories.get_or_create(slug="pens", defaults={"name": "笔"})[0]
    for number, (quantity, amount, refunded) in enumerate(lines, start=1):
        PurchaseLine.objects.create(
            purchase=purchase,
            line_no=number,
            category=category,
            quantity=quantity,
            amount_fen=amount,
            refunded_quantity=refunded,
            points=0,
            green_points=0,
            carbon_saved_g=0,
        )
    return purchase


def test_the_projection_uses_net_spend_and_starts_from_a_debt(
    make_member, issuer, merchant, make_reward, django_assert_num_queries
):
    from points.services.ledger import Overdraft
    from redemption.selectors import member_savings_inputs
    from tests.points.helpers import earn, reverse, spend

    # Given a member 200 points in debt (earned 300, spent 200, the 300 refunded)
    now = timezone.now()
    member = make_member()
    purchase = earn(member, issuer, 300)
    spend(member, merchant, 200)
    reverse(purchase, overdraft=Overdraft.ALLOW)  # 100 - 300 = -200
    # ... who bought ¥600 in six months, of which ¥240 was refunded: ¥360 net, ¥60 a month
    _buy_with_lines(member, merchant, "N1", [(2, 40000, 1)], days_ago=20, now=now)  # ¥200 back
    _buy_with_lines(member, merchant, "N2", [(1, 16000, 0), (1, 4000, 1)], days_ago=40, now=now)
    reward = make_reward(points_price=400)

    # When the projection is computed
    projection = savings_projection(member=member, rewards=[reward], now=now)[reward.pk]

    # Then the refunds are subtracted and the debt is repaid first: 400 + 200 = 600 to go
    assert member_savings_inputs(member, now=now) == (-200, 6000)
    assert average_monthly_spend_fen(member, now=now) == 6000
    assert (projection.monthly_points, projection.shortfall) == (60, 600)
    assert projection.months == 10


def test_the_projection_uses_the_regular_price_not_an_exchange_day_price(
    make_member, merchant, make_reward
):
    from redemption.pricing import Price

    member = make_member()
    now = timezone.now()
    buy(member, merchant, 6 * 5000, days_ago=10, now=now)
    reward = make_reward(points_price=500)
    exchange_day = {reward.pk: Price(base_points=500, points=250, percent_off=50, schedule_id=1)}

    projection = savings_projection(member=member, rewards=[reward], prices=exchange_day, now=now)[
        reward.pk
    ]

    assert (projection.price_points, projection.shortfall, projection.months) == (500, 500, 10)
