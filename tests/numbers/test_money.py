"""One money formatter: fen in, "¥120.60" out, on member pages, analytics and admin alike."""

import pytest
from django.template import Context, Template

from merchants.money import YuanFormField, format_yuan, parse_yuan, unit_free_label


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (12060, "¥120.60"),
        (0, "¥0.00"),
        (5, "¥0.05"),
        (-5, "-¥0.05"),
        (100, "¥1.00"),
        ("12060", "¥120.60"),
        (None, ""),
        ("abc", ""),
        (10**15, "¥10000000000000.00"),
    ],
)
def test_format_yuan(fen, text):
    assert format_yuan(fen) == text


def test_the_template_filter_is_the_same_function():
    rendered = Template("{% load money %}{{ fen|yuan }}").render(Context({"fen": 12060}))
    assert rendered == "¥120.60"
    legacy = Template("{% load redemption_tags %}{{ fen|yuan }}").render(Context({"fen": 12060}))
    assert legacy == "¥120.60"


@pytest.mark.parametrize(
    ("text", "fen"), [("120.6", 12060), ("¥120.60", 12060), ("120", 12000), (" 0.05 ", 5)]
)
def test_parse_yuan(text, fen):
    assert parse_yuan(text) == fen


@pytest.mark.parametrize(
    "text", ["", "-1", "1.234", "abc", "1e5", "9" * 40, "12,60", "\udcff", "１２"]
)
def test_the_yuan_form_field_refuses_what_is_not_an_amount(text):
    field = YuanFormField(required=True)
    with pytest.raises(Exception) as refused:
        field.clean(text)
    assert refused.type.__name__ == "ValidationError"


def test_unit_free_label():
    assert unit_free_label("实付总额（分）") == "实付总额"
    assert unit_free_label("total paid (fen)") == "total paid"


@pytest.mark.django_db
def test_admin_shows_a_purchase_total_in_yuan_never_fen(client, demo):
    from points.models import Purchase

    purchase = Purchase.objects.filter(merchant__slug="chenguang-demo").order_by("pk").first()
    client.force_login(demo["merchant"])
    client.cookies["django_language"] = "zh-hans"

    listing = client.get("/admin/points/purchase/").content.decode()
    change = client.get(f"/admin/points/purchase/{purchase.pk}/change/").content.decode()

    assert format_yuan(purchase.total_fen) in listing and format_yuan(purchase.total_fen) in change
    assert "（分）" not in listing and "（分）" not in change


@pytest.mark.django_db
def test_a_merchant_edits_a_product_price_in_yuan(client, demo):
    from merchants.models import Product

    product = Product.objects.filter(merchant__slug="chenguang-demo").order_by("pk").first()
    client.force_login(demo["merchant"])
    page = client.get(f"/admin/merchants/product/{product.pk}/change/").content.decode()
    assert f'value="{format_yuan(product.price_fen, symbol=False)}"' in page
