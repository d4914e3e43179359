"""Every version of the earning rules, so an earn can be recomputed with the rules of its day.

A purchase's points follow from its lines and the merchant's rules at the moment it was
recorded: points per yuan, each category's slug and multiplier, each product's green figures,
the campaigns (dates, categories, multiplier, cap, stackable, active). Merchants change those
in admin, so today's rows cannot check last month's earns. Each save or delete of one of them
(signals, connected in `PointsConfig.ready`; they also make this process read the merchant's
rules again, `points.services.catalog`) appends a `RuleVersion` with the rule's data and
`ledger_seq`, the last ledger transaction id allocated at that moment: the version governs
the earns with a greater id. `RuleBook` rebuilds the rules in force for any transaction id.

Two allowances, both documented in docs/audit.md:
* a process keeps a merchant's rules for `CATALOG_TTL_SECONDS` (points.services.catalog),
  so an earn recorded up to that long after a change may still follow the previous version;
* a rule with no recorded version at all (created by a bulk insert, which sends no signal)
  is taken as its current row, unchanged since it was created.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from merchants.models import Campaign, Category, Merchant, Product
from points.models import LedgerTransaction, RuleVersion
from points.rules import CampaignRule, EarnResult, LineInput, earn_for_purchase
from points.services.catalog import CATALOG_TTL_SECONDS, catalog_forget

K = RuleVersion.Kind
# How long after a change an earn may still follow the previous version (cached rules).
STALE_ALLOWANCE = timedelta(seconds=CATALOG_TTL_SECONDS + 5)


def rule_data(kind: str, instance: Any) -> dict[str, Any]:
    """The fields of `instance` that decide points, as JSON values (plain attributes only,
    so the migration can call it with historical models)."""
    if kind == K.MERCHANT:
        return {"points_per_yuan": instance.points_per_yuan}
    if kind == K.CATEGORY:
        return {"slug": instance.slug, "multiplier": str(instance.multiplier)}
    if kind == K.PRODUCT:
        return {
            "category": instance.category_id,
            "is_green": instance.is_green,
            "carbon_saved_g": instance.carbon_saved_g,
        }
    return {
        "name": instance.name,
        "starts_on": instance.starts_on.isoformat(),
        "ends_on": instance.ends_on.isoformat(),
        "categories": sorted(c.pk for c in instance.categories.all()),
        "multiplier": str(instance.multiplier),
        "cap_per_order": instance.cap_per_order,
        "stackable": instance.stackable,
        "active": instance.active,
    }


_KIND_OF: dict[type, str] = {
    Merchant: K.MERCHANT,
    Category: K.CATEGORY,
    Product: K.PRODUCT,
    Campaign: K.CAMPAIGN,
}


def ledger_seq_now() -> int:
    """The last ledger transaction id allocated so far (0 before the first)."""
    table = LedgerTransaction._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        (sequence,) = cursor.fetchone()
        cursor.execute(f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {sequence}")
        (seq,) = cursor.fetchone()
    return int(seq)


def rule_version_record(instance: Any, *, deleted: bool = False) -> None:
    """Append a version of `instance`'s rule if it differs from the latest one recorded."""
    kind = _KIND_OF[type(instance)]
    merchant_id = instance.pk if kind == K.MERCHANT else instance.merchant_id
    data = None if deleted else rule_data(kind, instance)
    latest = (
        RuleVersion.objects.filter(merchant_id=merchant_id, kind=kind, object_id=instance.pk)
        .order_by("-ledger_seq", "-id")
        .values_list("data", flat=True)
        .first()
    )
    if latest == data and latest is not None:
        return
    RuleVersion.objects.create(
        merchant_id=merchant_id,
        kind=kind,
        object_id=instance.pk,
        data=data,
        ledger_seq=ledger_seq_now(),
    )


def _rule_changed(instance: Any, *, deleted: bool = False) -> None:
    """A rule was saved or deleted: record the version; this process reads the rules again."""
    rule_version_record(instance, deleted=deleted)
    catalog_forget(instance.pk if isinstance(instance, Merchant) else instance.merchant_id)


def _on_save(sender: type, instance: Any, raw: bool = False, **kwargs: object) -> None:
    if not raw:
        _rule_changed(instance)


def _on_delete(sender: type, instance: Any, **kwargs: object) -> None:
    _rule_changed(instance, deleted=True)


def _on_campaign_categories(sender: type, instance: Any, action: str, **kwargs: object) -> None:
    if action in ("post_add", "post_remove", "post_clear") and isinstance(instance, Campaign):
        _rule_changed(instance)


def connect_signals() -> None:
    from django.db.models.signals import m2m_changed, post_delete, post_save

    for model in _KIND_OF:
        post_save.connect(_on_save, sender=model, dispatch_uid=f"rule-history-{model}-save")
        post_delete.connect(_on_delete, sender=model, dispatch_uid=f"rule-history-{model}-del")
    m2m_changed.connect(
        _on_campaign_categories,
        sender=Campaign.categories.through,
        dispatch_uid="rule-history-campaign-categories",
    )


class RuleBook:
    """Every version of the rules of some merchants, to ask what was in force when."""

    def __init__(self, merchant_ids: Iterable[int]):
        ids = sorted(set(merchant_ids))
        self.versions: dict[tuple[int, str, int], list[tuple[int, datetime, Any]]] = defaultdict(
            list
        )
        for merchant_id, kind, object_id, seq, at, data in (
            RuleVersion.objects.filter(merchant_id__in=ids)
            .order_by("ledger_seq", "id")
            .values_list("merchant_id", "kind", "object_id", "ledger_seq", "recorded_at", "data")
            .iterator()
        ):
            self.versions[(merchant_id, kind, object_id)].append((seq, at, data))
        # Rules with no version at all: their current rows (see the module docstring).
        self.current: dict[tuple[int, str, int], Any] = {}
        for merchant in Merchant.objects.filter(pk__in=ids):
            self.current[(merchant.pk, K.MERCHANT, merchant.pk)] = rule_data(K.MERCHANT, merchant)
        for category in Category.objects.filter(merchant_id__in=ids):
            key = (category.merchant_id, K.CATEGORY, category.pk)
            self.current[key] = rule_data(K.CATEGORY, category)
        for product in Product.objects.filter(merchant_id__in=ids):
            self.current[(product.merchant_id, K.PRODUCT, product.pk)] = rule_data(
                K.PRODUCT, product
            )
        self.campaign_ids: dict[int, set[int]] = defaultdict(set)
        for campaign in Campaign.objects.filter(merchant_id__in=ids).prefetch_related("categories"):
            self.current[(campaign.merchant_id, K.CAMPAIGN, campaign.pk)] = rule_data(
                K.CAMPAIGN, campaign
            )
            self.campaign_ids[campaign.merchant_id].add(campaign.pk)
        for merchant_id, kind, object_id in self.versions:
            if kind == K.CAMPAIGN:
                self.campaign_ids[merchant_id].add(object_id)

    def rule(
        self, merchant_id: int, kind: str, object_id: int, txn_id: int, before: datetime | None
    ) -> Any:
        """The rule's data in force for transaction `txn_id` (None: did not exist or was
        deleted); with `before`, as a process that loaded the rules at that moment saw it."""
        versions = self.versions.get((merchant_id, kind, object_id))
        if not versions:
            return self.current.get((merchant_id, kind, object_id))
        applicable = [(at, data) for seq, at, data in versions if seq < txn_id]
        if not applicable:
            return None
        if before is None:
            return applicable[-1][1]
        older = [data for at, data in applicable if at <= before]
        if older:
            return older[-1]
        # All of it is newer than `before`: a process with older rules had no such campaign,
        # but did know the category or product its purchase line names, as first recorded.
        return None if kind == K.CAMPAIGN else applicable[0][1]

    def earn(
        self,
        *,
        merchant_id: int,
        txn_id: int,
        before: datetime | None,
        occurred_at: datetime,
        lines: list[dict[str, Any]],
    ) -> EarnResult | None:
        """The earn of a purchase with these lines under the rules in force for `txn_id`;
        None when a rule it needs did not exist then."""
        merchant = self.rule(merchant_id, K.MERCHANT, merchant_id, txn_id, before)
        if merchant is None:
            return None
        on: date = timezone.localdate(occurred_at)
        categories: dict[int, Any] = {}

        def category(pk: int) -> Any:
            if pk not in categories:
                categories[pk] = self.rule(merchant_id, K.CATEGORY, pk, txn_id, before)
            return categories[pk]

        inputs = []
        for line in lines:
            line_category = category(line["category_id"]) if line["category_id"] else None
            if line["category_id"] and line_category is None:
                return None
            green_per_unit = 0
            if line["product_id"]:
                product = self.rule(merchant_id, K.PRODUCT, line["product_id"], txn_id, before)
                if product is None:
                    return None
                green_per_unit = product["carbon_saved_g"] if product["is_green"] else 0
            inputs.append(
                LineInput(
                    line_no=line["line_no"],
                    quantity=line["quantity"],
                    amount_fen=line["amount_fen"],
                    category_slug=line_category["slug"] if line_category else None,
                    category_multiplier=Decimal(line_category["multiplier"])
                    if line_category
                    else Decimal(1),
                    carbon_saved_g_per_unit=green_per_unit,
                )
            )
        campaigns = []
        for pk in sorted(self.campaign_ids.get(merchant_id, ())):
            data = self.rule(merchant_id, K.CAMPAIGN, pk, txn_id, before)
            if data is None or not data["active"]:
                continue
            slugs = [s for s in (category(c) for c in data["categories"]) if s is not None]
            if data["categories"] and not slugs:
                continue  # its categories are all gone: it applies to none
            campaigns.append(
                CampaignRule(
                    id=pk,
                    name=data["name"],
                    multiplier=Decimal(data["multiplier"]),
                    starts_on=date.fromisoformat(data["starts_on"]),
                    ends_on=date.fromisoformat(data["ends_on"]),
                    category_slugs=frozenset(s["slug"] for s in slugs),
                    cap_per_order=data["cap_per_order"],
                    stackable=data["stackable"],
                )
            )
        return earn_for_purchase(
            lines=inputs,
            points_per_yuan=merchant["points_per_yuan"],
            campaigns=[c for c in campaigns if c.starts_on <= on <= c.ends_on],
            on=on,
        )
