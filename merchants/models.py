"""Merchants of the coalition and what they sell: stores, tills, categories, products and
earning campaigns. Campaigns and multipliers are rows a merchant edits in admin; the rules
engine (`points.rules`) evaluates them as pure functions."""

import hashlib
import secrets
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MULTIPLIER_MIN = Decimal("0.00")
MULTIPLIER_MAX = Decimal("100.00")


def multiplier_field(verbose_name, default="1.00"):
    return models.DecimalField(
        verbose_name,
        max_digits=5,
        decimal_places=2,
        default=Decimal(default),
        validators=[MinValueValidator(MULTIPLIER_MIN), MaxValueValidator(MULTIPLIER_MAX)],
    )


class Merchant(models.Model):
    """A shop chain in the coalition. Its points are its liability until redeemed."""

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    points_per_yuan = models.PositiveIntegerField(
        _("points per yuan"), default=1, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    cancel_compensation_percent = models.PositiveSmallIntegerField(
        _("compensation on merchant cancellation (%)"),
        default=10,
        validators=[MaxValueValidator(100)],
        help_text=_(
            "Points given to a member, as a share of the price, when the merchant "
            "cancels a redemption (at least 1 point)."
        ),
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")

    def __str__(self) -> str:
        return self.name


class Store(models.Model):
    merchant = models.ForeignKey(
        Merchant, on_delete=models.PROTECT, related_name="stores", verbose_name=_("merchant")
    )
    name = models.CharField(_("name"), max_length=120)
    code = models.SlugField(_("code"), max_length=60)
    address = models.CharField(_("address"), max_length=255, blank=True)
    opening_hours = models.CharField(
        _("opening hours"),
        max_length=120,
        blank=True,
        help_text=_("For example 09:00-21:00 daily."),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["merchant", "name"]
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        constraints = [
            models.UniqueConstraint(fields=["merchant", "code"], name="store_code_per_merchant"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant} · {self.name}"


def hash_api_key(raw_key: str) -> str:
    """API keys are long random strings, so one unsalted sha256 is enough to store them."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


class Terminal(models.Model):
    """A till. Its API key is shown once, at creation, and stored only as a hash."""

    KEY_PREFIX = "jf_"

    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="terminals", verbose_name=_("store")
    )
    name = models.CharField(_("name"), max_length=120)
    key_hash = models.CharField(_("key hash"), max_length=64, unique=True, editable=False)
    key_hint = models.CharField(_("key starts with"), max_length=12, editable=False)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        ordering = ["store", "name"]
        verbose_name = _("terminal")
        verbose_name_plural = _("terminals")
        constraints = [
            # Revoking is final: a revoked terminal can never be switched back on.
            models.CheckConstraint(
                condition=models.Q(revoked_at__isnull=True) | models.Q(active=False),
                name="terminal_revoked_stays_inactive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.store} · {self.name}"

    @property
    def merchant(self) -> Merchant:
        return self.store.merchant

    @classmethod
    def new_key(cls) -> str:
        return cls.KEY_PREFIX + secrets.token_urlsafe(32)

    def set_key(self, raw_key: str) -> None:
        self.key_hash = hash_api_key(raw_key)
        self.key_hint = raw_key[:8]

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class TerminalKeyEvent(models.Model):
    """Every key event of a terminal (created, rotated, revoked): who and when."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Key created")
        ROTATED = "rotated", _("Key rotated")
        REVOKED = "revoked", _("Key revoked")

    terminal = models.ForeignKey(
        # An unused terminal (no purchases) may be deleted, with its key history.
        Terminal,
        on_delete=models.CASCADE,
        related_name="key_events",
        verbose_name=_("terminal"),
    )
    kind = models.CharField(_("key event"), max_length=10, choices=Kind.choices)
    actor = models.CharField(_("done by"), max_length=150)
    key_hint = models.CharField(_("key starts with"), max_length=12, blank=True)
    at = models.DateTimeField(_("time of event"), default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("terminal key event")
        verbose_name_plural = _("terminal key events")

    def __str__(self) -> str:
        return f"{self.terminal} · {self.get_kind_display()} · {self.actor}"


class Category(models.Model):
    merchant = models.ForeignKey(
        Merchant, on_delete=models.PROTECT, related_name="categories", verbose_name=_("merchant")
    )
    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=60)
    multiplier = multiplier_field(_("earn multiplier"))

    class Meta:
        ordering = ["merchant", "name"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        constraints = [
            models.UniqueConstraint(fields=["merchant", "slug"], name="category_slug_per_merchant"),
        ]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    merchant = models.ForeignKey(
        Merchant, on_delete=models.PROTECT, related_name="products", verbose_name=_("merchant")
    )
    sku = models.CharField(_("SKU"), max_length=64)
    name = models.CharField(_("name"), max_length=200)
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="products", verbose_name=_("category")
    )
    price_fen = models.PositiveBigIntegerField(
        _("price (fen)"), validators=[MaxValueValidator(10**9)]
    )
    is_green = models.BooleanField(_("green product"), default=False)
    carbon_saved_g = models.PositiveIntegerField(
        _("CO₂e saved per unit (g)"), default=0, validators=[MaxValueValidator(10**7)]
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["merchant", "sku"]
        verbose_name = _("product")
        verbose_name_plural = _("products")
        constraints = [
            models.UniqueConstraint(fields=["merchant", "sku"], name="product_sku_per_merchant"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"

    def clean(self):
        if self.category_id and self.merchant_id and self.category.merchant_id != self.merchant_id:
            raise ValidationError({"category": _("The category belongs to another merchant.")})
        if self.carbon_saved_g and not self.is_green:
            raise ValidationError({"carbon_saved_g": _("Only green products save CO₂e.")})


class Campaign(models.Model):
    """A time-limited earn multiplier on some (or all) of a merchant's categories."""

    merchant = models.ForeignKey(
        Merchant, on_delete=models.PROTECT, related_name="campaigns", verbose_name=_("merchant")
    )
    name = models.CharField(_("name"), max_length=120)
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"), help_text=_("Inclusive."))
    categories = models.ManyToManyField(
        Category,
        blank=True,
        related_name="campaigns",
        verbose_name=_("categories"),
        help_text=_("Leave empty to apply to every category."),
    )
    multiplier = multiplier_field(_("multiplier"), default="2.00")
    cap_per_order = models.PositiveIntegerField(
        _("extra points cap per order"),
        null=True,
        blank=True,
        help_text=_("The most extra points this campaign adds to one purchase; empty = no cap."),
    )
    stackable = models.BooleanField(
        _("stackable"),
        default=False,
        help_text=_("Applies on top of the best other campaign instead of competing with it."),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["-starts_on", "name"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=models.F("starts_on")), name="campaign_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValidationError({"ends_on": _("A campaign cannot end before it starts.")})


class MerchantMembership(models.Model):
    """Links a back-office user to the one merchant whose data they may see and change."""

    user = models.OneToOneField(
        "auth.User",
        on_delete=models.CASCADE,
        related_name="merchant_membership",
        verbose_name=_("user"),
    )
    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("merchant")
    )

    class Meta:
        verbose_name = _("merchant membership")
        verbose_name_plural = _("merchant memberships")

    def __str__(self) -> str:
        return f"{self.user} → {self.merchant}"
