"""A merchant user sees, changes and chooses only its own merchant's rows; another merchant's
row by URL answers 404 exactly like an id that does not exist."""

import pytest

from merchants.models import Campaign, Category, Product, Store, Terminal
from points.models import LedgerTransaction, Purchase
from redemption.models import PriceSchedule, Redemption, Reward, Voucher

pytestmark = pytest.mark.django_db

# (admin URL part, model, lookup to the merchant, the shop's object of that model)
SCOPED = [
    ("merchants/store", Store, "merchant", lambda shop: shop.store),
    ("merchants/terminal", Terminal, "store__merchant", lambda shop: shop.terminal),
    ("merchants/category", Category, "merchant", lambda shop: shop.category),
    ("merchants/product", Product, "merchant", lambda shop: shop.product),
    ("merchants/campaign", Campaign, "merchant", lambda shop: shop.campaign),
    ("redemption/reward", Reward, "merchant", lambda shop: shop.reward),
    ("redemption/priceschedule", PriceSchedule, "merchant", lambda shop: shop.schedule),
    ("redemption/redemption", Redemption, "merchant", lambda shop: shop.redemption),
    ("redemption/voucher", Voucher, "redemption__merchant", lambda shop: shop.voucher),
    (
        "points/ledgertransaction",
        LedgerTransaction,
        "merchant",
        lambda shop: shop.redemption.ledger_transaction,
    ),
    ("points/purchase", Purchase, "merchant", lambda shop: shop.purchase),
]
IDS = [entry[0] for entry in SCOPED]
B_NAMES = ["B Merchant", "B Store", "B Till", "B Category", "B Product", "B Campaign", "B Reward"]


@pytest.mark.parametrize(("url", "model", "path", "pick"), SCOPED, ids=IDS)
def test_merchant_user_lists_only_its_own_rows(
    as_merchant_a, shop_a, shop_b, url, model, path, pick
):
    response = as_merchant_a.get(f"/admin/{url}/")

    assert response.status_code == 200
    listed = {obj.pk for obj in response.context["cl"].result_list}
    assert listed == set(
        model.objects.filter(**{path: shop_a.merchant}).values_list("pk", flat=True)
    )
    assert pick(shop_a).pk in listed and pick(shop_b).pk not in listed
    page = response.content.decode()
    assert not [name for name in B_NAMES if name in page]


@pytest.mark.parametrize("view", ["change", "delete", "history"])
@pytest.mark.parametrize(("url", "model", "path", "pick"), SCOPED, ids=IDS)
def test_other_merchants_row_by_url_is_404(as_merchant_a, shop_b, url, model, path, pick, view):
    other = pick(shop_b)

    assert as_merchant_a.get(f"/admin/{url}/{other.pk}/{view}/").status_code == 404
    if view != "history":
        assert (
            as_merchant_a.post(f"/admin/{url}/{other.pk}/{view}/", {"post": "yes"}).status_code
            == 404
        )
    assert model.objects.filter(pk=other.pk).exists()


@pytest.mark.parametrize(("url", "model", "path", "pick"), SCOPED, ids=IDS)
def test_a_missing_id_and_another_merchants_id_answer_alike(
    as_merchant_a, shop_b, url, model, path, pick
):
    missing = as_merchant_a.get(f"/admin/{url}/999999999/change/")
    other = as_merchant_a.get(f"/admin/{url}/{pick(shop_b).pk}/change/")

    assert missing.status_code == other.status_code == 404


@pytest.mark.parametrize(("url", "model", "path", "pick"), SCOPED, ids=IDS)
def test_merchant_user_opens_its_own_row_and_platform_staff_any(
    as_merchant_a, as_platform, shop_a, shop_b, url, model, path, pick
):
    assert as_merchant_a.get(f"/admin/{url}/{pick(shop_a).pk}/change/").status_code == 200
    assert as_platform.get(f"/admin/{url}/{pick(shop_b).pk}/change/").status_code == 200
    listed = {obj.pk for obj in as_platform.get(f"/admin/{url}/").context["cl"].result_list}
    assert {pick(shop_a).pk, pick(shop_b).pk} <= listed


# --- add forms offer only the user's own choices ----------------------------------------

CHOICES = [
    ("redemption/reward", "category", lambda shop: [shop.category]),
    ("merchants/product", "category", lambda shop: [shop.category]),
    ("merchants/campaign", "categories", lambda shop: [shop.category]),
    ("merchants/terminal", "store", lambda shop: [shop.store]),
    ("redemption/priceschedule", "categories", lambda shop: [shop.category]),
    ("redemption/priceschedule", "rewards", lambda shop: [shop.reward, shop.voucher_reward]),
]


@pytest.mark.parametrize(("url", "field", "own"), CHOICES, ids=[f"{c[0]}:{c[1]}" for c in CHOICES])
def test_add_form_offers_only_own_choices(as_merchant_a, shop_a, url, field, own):
    form = as_merchant_a.get(f"/admin/{url}/add/").context["adminform"].form

    assert set(form.fields[field].queryset) == set(own(shop_a))
    assert "merchant" not in form.fields  # shown read-only: always the user's merchant


def test_reward_inline_offers_only_own_price_schedules(as_merchant_a, shop_a):
    response = as_merchant_a.get("/admin/redemption/reward/add/")

    schedules = next(
        f for f in response.context["inline_admin_formsets"] if f.formset.prefix.startswith("Price")
    )
    assert list(schedules.formset.empty_form.fields["priceschedule"].queryset) == [shop_a.schedule]


def test_category_autocomplete_answers_only_own_categories(as_merchant_a, shop_a):
    response = as_merchant_a.get(
        "/admin/autocomplete/",
        {"app_label": "redemption", "model_name": "reward", "field_name": "category", "term": ""},
    )

    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [str(shop_a.category.pk)]


def test_list_filters_offer_only_own_values(as_merchant_a, shop_a):
    changelist = as_merchant_a.get("/admin/redemption/reward/").context["cl"]

    paths = {
        spec.field_path: spec for spec in changelist.filter_specs if hasattr(spec, "field_path")
    }
    assert "merchant" not in paths
    assert [pk for pk, _label in paths["category"].lookup_choices] == [shop_a.category.pk]


# --- saving -------------------------------------------------------------------------------


def reward_form(merchant, category, title="New reward"):
    return {
        "merchant": merchant.pk,
        "category": category.pk if category else "",
        "title": title,
        "description": "",
        "kind": "goods",
        "points_price": 300,
        "cash_price_fen": 0,
        "face_value_fen": "20.00",  # admin takes yuan
        "active": "on",
        "PriceSchedule_rewards-TOTAL_FORMS": 0,
        "PriceSchedule_rewards-INITIAL_FORMS": 0,
        "price_changes-TOTAL_FORMS": 0,
        "price_changes-INITIAL_FORMS": 0,
    }


def test_saving_a_reward_with_another_merchants_category_is_refused(as_merchant_a, shop_a, shop_b):
    response = as_merchant_a.post(
        "/admin/redemption/reward/add/", reward_form(shop_a.merchant, shop_b.category)
    )

    assert response.status_code == 200
    assert "category" in response.context["adminform"].form.errors
    assert not Reward.objects.filter(title="New reward").exists()


def test_platform_staff_cannot_give_a_reward_another_merchants_category(
    as_platform, shop_a, shop_b
):
    response = as_platform.post(
        "/admin/redemption/reward/add/", reward_form(shop_a.merchant, shop_b.category)
    )

    errors = response.context["adminform"].form.errors
    assert response.status_code == 200
    assert "belongs to another merchant" in str(errors["category"]) or "属于其他商户" in str(
        errors["category"]
    )
    assert not Reward.objects.filter(title="New reward").exists()


def test_a_merchant_users_new_reward_is_always_its_own(as_merchant_a, shop_a, shop_b):
    response = as_merchant_a.post(
        "/admin/redemption/reward/add/", reward_form(shop_b.merchant, shop_a.category)
    )

    assert response.status_code == 302
    assert Reward.objects.get(title="New reward").merchant == shop_a.merchant


def test_a_duplicate_store_code_is_a_form_error_not_a_crash(as_merchant_a, shop_a):
    response = as_merchant_a.post(
        "/admin/merchants/store/add/",
        {"name": "Second", "code": "main", "address": "", "active": "on"},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert Store.objects.filter(merchant=shop_a.merchant).count() == 1


def test_a_campaign_cannot_take_another_merchants_categories(as_platform, shop_a, shop_b):
    response = as_platform.post(
        "/admin/merchants/campaign/add/",
        {
            "merchant": shop_a.merchant.pk,
            "name": "Mixed",
            "starts_on": "2030-01-01",
            "ends_on": "2030-01-31",
            "categories": [shop_a.category.pk, shop_b.category.pk],
            "multiplier": "2.00",
            "active": "on",
        },
    )

    assert response.status_code == 200
    assert "categories" in response.context["adminform"].form.errors
    assert not Campaign.objects.filter(name="Mixed").exists()


# --- no deleting what the ledger points at ----------------------------------------------


def action_choices(client, url):
    form = client.get(f"/admin/{url}/").context["action_form"]
    if form is None:  # no actions at all
        return set()
    return {name for name, _label in form.fields["action"].choices if name}


def test_no_bulk_delete_for_models_with_ledger_history(as_merchant_a):
    assert "delete_selected" not in action_choices(as_merchant_a, "merchants/product")
    assert "delete_selected" in action_choices(as_merchant_a, "merchants/campaign")


def test_a_product_that_was_sold_cannot_be_deleted(as_merchant_a, shop_a):
    response = as_merchant_a.post(
        f"/admin/merchants/product/{shop_a.product.pk}/delete/", {"post": "yes"}
    )

    assert response.status_code == 403
    assert Product.objects.filter(pk=shop_a.product.pk).exists()


def test_bulk_actions_ignore_another_merchants_ids(as_merchant_a, shop_a, shop_b):
    as_merchant_a.post(
        "/admin/redemption/reward/",
        {"action": "deactivate", "_selected_action": [shop_a.reward.pk, shop_b.reward.pk]},
    )

    assert Reward.objects.get(pk=shop_a.reward.pk).active is False
    assert Reward.objects.get(pk=shop_b.reward.pk).active is True
