"""A merchant's earning rules (products, categories, campaigns), remembered per process.

Every purchase needs them and they change rarely (a merchant edits them in admin), so each
process keeps them for `CATALOG_TTL_SECONDS` instead of reading them on every purchase
(three or four round trips). Saving or deleting a product, category or campaign, or changing
a campaign's categories, forgets the merchant's rules at once in the process that made the
change (`points.rule_history`'s signals, which also record the change as a rule version);
other processes see it within the TTL.
Bulk `QuerySet.update()` sends no signal: it is seen within the TTL too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date

from merchants.models import Campaign, Category, Merchant, Product
from points.rules import CampaignRule

CATALOG_TTL_SECONDS = 30.0


@dataclass(frozen=True)
class MerchantCatalog:
    products: dict[str, Product]  # active products by SKU, with their category
    categories: dict[str, Category]  # by slug
    campaigns: tuple[CampaignRule, ...]  # active ones, any dates
    loaded_at: float

    def campaigns_on(self, on: date) -> list[CampaignRule]:
        return [c for c in self.campaigns if c.starts_on <= on <= c.ends_on]


_catalogs: dict[int, MerchantCatalog] = {}


def merchant_catalog(merchant: Merchant) -> MerchantCatalog:
    """The merchant's rules, read at most once per CATALOG_TTL_SECONDS per process."""
    catalog = _catalogs.get(merchant.pk)
    if catalog is not None and time.monotonic() - catalog.loaded_at < CATALOG_TTL_SECONDS:
        return catalog
    catalog = _load(merchant)
    _catalogs[merchant.pk] = catalog
    return catalog


def _load(merchant: Merchant) -> MerchantCatalog:
    loaded_at = time.monotonic()
    categories = {c.pk: c for c in Category.objects.filter(merchant=merchant)}
    products = {}
    for product in Product.objects.filter(merchant=merchant, active=True):
        if product.category_id in categories:
            product.category = categories[product.category_id]  # no query per product
        products[product.sku] = product
    campaigns = tuple(
        CampaignRule(
            id=c.pk,
            name=c.name,
            multiplier=c.multiplier,
            starts_on=c.starts_on,
            ends_on=c.ends_on,
            category_slugs=frozenset(cat.slug for cat in c.categories.all()),
            cap_per_order=c.cap_per_order,
            stackable=c.stackable,
        )
        for c in Campaign.objects.filter(merchant=merchant, active=True).prefetch_related(
            "categories"
        )
    )
    return MerchantCatalog(
        products=products,
        categories={c.slug: c for c in categories.values()},
        campaigns=campaigns,
        loaded_at=loaded_at,
    )


def catalog_forget(merchant_id: int | None = None) -> None:
    """Forget one merchant's rules (or every merchant's): the next purchase reads them."""
    if merchant_id is None:
        _catalogs.clear()
    else:
        _catalogs.pop(merchant_id, None)
