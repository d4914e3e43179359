"""The coalition rewards catalog: rewards, their price history and price schedules, and the
redemptions and vouchers members get for their points.

Points are integers, money is integer fen, percentages are integers 0-100. Redemptions are
written only by `redemption.services`; their points move only through the points ledger.
Nothing here turns points into money: `cash_price_fen` is what a member pays on top.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from redemption.pricing import Price, ScheduleRule, point_value_floor_error

MAX_POINTS_PRICE = 10_000_000
MAX_FEN = 10**9
MAX_QUANTITY_PER_REDEMPTION = 99


class Reward(models.Model):
    """Something a member can get for points (plus, optionally, some cash) at a merchant."""

    class Kind(models.TextChoices):
        GOODS = "goods", _("Goods")
        VOUCHER = "voucher", _("Voucher")
        SERVICE = "service", _("Service")

    merchant = models.ForeignKey(
        "merchants.Merchant",
        on_delete=models.PROTECT,
        related_name="rewards",
        verbose_name=_("merchant"),
    )
    category = models.ForeignKey(
        "merchants.Category",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rewards",
        verbose_name=_("category"),
        help_text=_("Optional; seasonal price schedules can target a category."),
    )
    title = models.CharField(_("title"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    image = models.ImageField(_("image"), upload_to="rewards/", blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.GOODS)
    points_price = models.PositiveIntegerField(
        _("points price"),
        validators=[MinValueValidator(1), MaxValueValidator(MAX_POINTS_PRICE)],
    )
    cash_price_fen = models.PositiveBigIntegerField(
        _("cash price (fen)"),
        default=0,
        validators=[MaxValueValidator(MAX_FEN)],
        help_text=_("0 = points only; more than 0 = points plus this cash, paid at the merchant."),
    )
    face_value_fen = models.PositiveBigIntegerField(
        _("face value (fen)"),
        validators=[MaxValueValidator(MAX_FEN)],
        help_text=_("What the item is worth in money."),
    )
    stock = models.PositiveIntegerField(
        _("stock"), null=True, blank=True, help_text=_("Leave empty for unlimited.")
    )
    per_member_limit = models.PositiveIntegerField(
        _("limit per member"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_(
            "The most units one member may hold (cancelled ones do not count); empty = no limit."
        ),
    )
    active = models.BooleanField(_("active"), default=True)
    active_from = models.DateTimeField(_("active from"), null=True, blank=True)
    active_until = models.DateTimeField(_("active until"), null=True, blank=True)
    validity_days = models.PositiveIntegerField(
        _("voucher validity (days)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(3660)],
        help_text=_("Vouchers only: valid for this many days from redemption, at any hour."),
    )
    pickup_store = models.ForeignKey(
        "merchants.Store",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="pickup_rewards",
        verbose_name=_("pickup store"),
        help_text=_("Goods and services: where the member collects it (address and hours shown)."),
    )
    pickup_instructions = models.TextField(
        _("pickup instructions"),
        blank=True,
        max_length=1000,
        help_text=_("Shown with the pickup code, e.g. what to bring or when to book."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["merchant", "points_price", "id"]
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        constraints = [
            models.CheckConstraint(
                condition=Q(points_price__gte=1), name="reward_points_price_positive"
            ),
            models.CheckConstraint(
                condition=Q(stock__isnull=True) | Q(stock__gte=0), name="reward_stock_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(active_from__isnull=True)
                | Q(active_until__isnull=True)
                | Q(active_until__gt=models.F("active_from")),
                name="reward_window_ordered",
            ),
        ]
        indexes = [models.Index(fields=["active", "merchant"], name="reward_active_merchant")]

    def __str__(self) -> str:
        return self.title

    def clean(self):
        errors = {}
        if self.points_price and self.face_value_fen is not None:
            message = point_value_floor_error(
                points_price=self.points_price,
                cash_price_fen=self.cash_price_fen or 0,
                face_value_fen=self.face_value_fen,
                floor_fen=settings.POINT_VALUE_FLOOR_FEN,
            )
            if message:
                errors["points_price"] = message
        if self.kind == self.Kind.VOUCHER and not self.validity_days:
            errors["validity_days"] = _("A voucher needs a validity in days.")
        if self.kind != self.Kind.VOUCHER and self.validity_days:
            errors["validity_days"] = _("Only vouchers have a validity.")
        if self.category_id and self.merchant_id and self.category.merchant_id != self.merchant_id:
            errors["category"] = _("The category belongs to another merchant.")
        if self.active_from and self.active_until and self.active_until <= self.active_from:
            errors["active_until"] = _("The reward must end after it starts.")
        if (
            self.pickup_store_id
            and self.merchant_id
            and self.pickup_store.merchant_id != self.merchant_id
        ):
            errors["pickup_store"] = _("The store belongs to another merchant.")
        if self.kind == self.Kind.VOUCHER and self.pickup_store_id:
            errors["pickup_store"] = _("A voucher is used at any store; it has no pickup store.")
        if errors:
            raise ValidationError(errors)

    def is_available(self, now: datetime) -> bool:
        """Active, inside its window, at an active merchant (stock is checked separately)."""
        return (
            self.active
            and self.merchant.active
            and (self.active_from is None or self.active_from <= now)
            and (self.active_until is None or now < self.active_until)
        )

    @property
    def in_stock(self) -> bool:
        return self.stock is None or self.stock > 0


class RewardPriceChange(models.Model):
    """One published price of a reward; a new row whenever the price changes (never edited)."""

    reward = models.ForeignKey(
        Reward, on_delete=models.CASCADE, related_name="price_changes", verbose_name=_("reward")
    )
    points_price = models.PositiveIntegerField(_("points price"))
    cash_price_fen = models.PositiveBigIntegerField(_("cash price (fen)"))
    face_value_fen = models.PositiveBigIntegerField(_("face value (fen)"))
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)
    changed_by = models.CharField(_("changed by"), max_length=120, default="system")

    class Meta:
        ordering = ["-changed_at", "-id"]
        verbose_name = _("price change")
        verbose_name_plural = _("price history")

    def __str__(self) -> str:
        return f"{self.reward_id}: {self.points_price}"


class PriceSchedule(models.Model):
    """A discount on points prices: a seasonal date range, or a monthly exchange day.

    With no rewards and no categories chosen it applies to every reward of the merchant.
    When several schedules apply, the largest discount wins (see `redemption.pricing`).
    """

    class Kind(models.TextChoices):
        SEASONAL = "seasonal", _("Seasonal discount")
        EXCHANGE_DAY = "exchange_day", _("Monthly exchange day")

    class DisplayKind(models.TextChoices):
        """What members see the discount called (the name adds free text to it)."""

        BACK_TO_SCHOOL = "back_to_school", _("Back to school")
        WINTER_BREAK = "winter_break", _("Winter break")
        SUMMER_BREAK = "summer_break", _("Summer break")
        EXCHANGE_DAY = "exchange_day", _("Points exchange day")
        MEMBER_DAY = "member_day", _("Member day")
        SPRING_FESTIVAL = "spring_festival", _("Spring Festival")
        MID_AUTUMN = "mid_autumn", _("Mid-Autumn Festival")
        NATIONAL_DAY = "national_day", _("National Day")
        DOUBLE_ELEVEN = "double_eleven", _("Double 11")
        OTHER = "other", _("Special offer")

    merchant = models.ForeignKey(
        "merchants.Merchant",
        on_delete=models.PROTECT,
        related_name="price_schedules",
        verbose_name=_("merchant"),
    )
    display_kind = models.CharField(
        _("shown as"),
        max_length=20,
        choices=DisplayKind.choices,
        default=DisplayKind.OTHER,
        help_text=_("The name members see; the free text below is added to it."),
    )
    name = models.CharField(
        _("extra text"), max_length=120, blank=True, help_text=_("Optional, e.g. 'notebooks'.")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.SEASONAL)
    percent_off = models.PositiveSmallIntegerField(
        _("percent off the points price"), validators=[MaxValueValidator(100)]
    )
    starts_on = models.DateField(
        _("starts on"), null=True, blank=True, help_text=_("Required for a seasonal discount.")
    )
    ends_on = models.DateField(
        _("ends on"),
        null=True,
        blank=True,
        help_text=_("Inclusive. Required for a seasonal discount."),
    )
    day_of_month = models.PositiveSmallIntegerField(
        _("day of the month"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(31)],
        help_text=_("Exchange day only. 29-31 fall on the last day of shorter months."),
    )
    rewards = models.ManyToManyField(
        Reward, blank=True, related_name="price_schedules", verbose_name=_("rewards")
    )
    categories = models.ManyToManyField(
        "merchants.Category",
        blank=True,
        related_name="price_schedules",
        verbose_name=_("categories"),
        help_text=_("Leave rewards and categories empty to apply to every reward."),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["merchant", "-percent_off", "id"]
        verbose_name = _("price schedule")
        verbose_name_plural = _("price schedules")
        constraints = [
            models.CheckConstraint(
                condition=Q(percent_off__lte=100), name="priceschedule_percent_at_most_100"
            ),
            models.CheckConstraint(
                condition=Q(starts_on__isnull=True)
                | Q(ends_on__isnull=True)
                | Q(ends_on__gte=models.F("starts_on")),
                name="priceschedule_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        """The chosen kind's label in the active language, plus the free text if any."""
        return schedule_display_name(self.display_kind, self.name)

    def clean(self):
        errors = {}
        if self.kind == self.Kind.SEASONAL and not (self.starts_on and self.ends_on):
            errors["ends_on"] = _("A seasonal discount needs a start and an end date.")
        if self.kind == self.Kind.EXCHANGE_DAY and not self.day_of_month:
            errors["day_of_month"] = _("An exchange day needs a day of the month.")
        if self.kind == self.Kind.SEASONAL and self.day_of_month:
            errors["day_of_month"] = _("Only an exchange day has a day of the month.")
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            errors["ends_on"] = _("A schedule cannot end before it starts.")
        if errors:
            raise ValidationError(errors)

    def as_rule(self, reward_ids=None, category_ids=None) -> ScheduleRule:
        """The pure-data form the pricing function reads (ids given, or from prefetches)."""
        if reward_ids is None:
            reward_ids = [r.pk for r in self.rewards.all()]
        if category_ids is None:
            category_ids = [c.pk for c in self.categories.all()]
        return ScheduleRule(
            id=self.pk,
            # Lazy: a rule kept per process (redemption.offer) is shown in each reader's language.
            name=schedule_display_name_lazy(self.display_kind, self.name),
            merchant_id=self.merchant_id,
            percent_off=self.percent_off,
            starts_on=self.starts_on,
            ends_on=self.ends_on,
            day_of_month=self.day_of_month,
            reward_ids=frozenset(reward_ids),
            category_ids=frozenset(category_ids),
            active=self.active,
        )


def schedule_display_name(display_kind: str, extra: str) -> str:
    """开学季 / 积分兑换日 … in the active language, then the merchant's free text if any."""
    labels = dict(PriceSchedule.DisplayKind.choices)
    label = str(labels.get(display_kind, ""))
    extra = (extra or "").strip()
    if extra and display_kind == PriceSchedule.DisplayKind.OTHER:
        return extra  # "other": the merchant's own words are the name
    if not extra or extra == label:
        return label
    return f"{label} · {extra}" if label else extra


schedule_display_name_lazy = lazy(schedule_display_name, str)


class Redemption(models.Model):
    """A member's redemption of a reward, with the price actually paid snapshotted."""

    replayed: bool  # set by the redemption service on what it returns

    class Status(models.TextChoices):
        CONFIRMED = "confirmed", _("Confirmed")
        FULFILLED = "fulfilled", _("Fulfilled")
        CANCELLED = "cancelled", _("Cancelled")

    class CancelledBy(models.TextChoices):
        MEMBER = "member", _("Member")
        MERCHANT = "merchant", _("Merchant")

    member = models.ForeignKey(
        "points.Member",
        on_delete=models.PROTECT,
        related_name="redemptions",
        verbose_name=_("member"),
    )
    reward = models.ForeignKey(
        Reward, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("reward")
    )
    merchant = models.ForeignKey(
        "merchants.Merchant",
        on_delete=models.PROTECT,
        related_name="redemptions",
        verbose_name=_("merchant"),
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=100)
    quantity = models.PositiveIntegerField(_("quantity"))
    # The price snapshot: what the reward cost when it was redeemed, and why.
    reward_title = models.CharField(_("reward title"), max_length=120)
    base_points_price = models.PositiveIntegerField(_("list points price"))
    unit_points = models.PositiveIntegerField(_("points paid per unit"))
    points_total = models.PositiveBigIntegerField(_("points paid"))
    percent_off = models.PositiveSmallIntegerField(_("discount (%)"), default=0)
    schedule = models.ForeignKey(
        PriceSchedule,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="redemptions",
        verbose_name=_("price schedule"),
    )
    schedule_name = models.CharField(_("price schedule name"), max_length=120, blank=True)
    unit_cash_fen = models.PositiveBigIntegerField(_("cash per unit (fen)"), default=0)
    cash_due_fen = models.PositiveBigIntegerField(_("cash due at the merchant (fen)"), default=0)
    face_value_fen = models.PositiveBigIntegerField(_("face value per unit (fen)"))
    # Whether this redemption took units from a limited stock: a cancel gives units back
    # only then. NULL: made before this was recorded (a cancel follows the stock as it is now).
    stock_taken = models.BooleanField(_("taken from a limited stock"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.CONFIRMED
    )
    ledger_transaction = models.OneToOneField(
        "points.LedgerTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="redemption",
        verbose_name=_("ledger transaction"),
    )
    created_at = models.DateTimeField(_("redeemed at"), default=timezone.now)
    # Goods and services: the code the member shows (as text and QR) to collect it.
    pickup_code = models.CharField(  # noqa: DJ001 - NULL for vouchers: unique only when set
        _("pickup code"), max_length=24, unique=True, null=True, blank=True
    )
    ready_at = models.DateTimeField(_("ready for pickup at"), null=True, blank=True)
    fulfilled_at = models.DateTimeField(_("fulfilled at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancelled_by = models.CharField(
        _("cancelled by"), max_length=10, choices=CancelledBy.choices, blank=True
    )
    cancel_reason = models.CharField(_("cancellation reason"), max_length=255, blank=True)
    cancel_transaction = models.OneToOneField(
        "points.LedgerTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cancelled_redemption",
        verbose_name=_("cancellation transaction"),
    )
    compensation_points = models.PositiveBigIntegerField(_("compensation points"), default=0)
    compensation_transaction = models.OneToOneField(
        "points.LedgerTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="compensated_redemption",
        verbose_name=_("compensation transaction"),
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "idempotency_key"], name="redemption_once_per_member_key"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="redemption_quantity_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["member", "-created_at"], name="redemption_member_recent"),
            models.Index(fields=["reward", "member", "status"], name="redemption_reward_member"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.reward_title} ×{self.quantity}"

    @property
    def fulfilment_stage(self) -> str:
        """waiting / ready / handed_over / cancelled: the merchant's fulfilment queue."""
        if self.status == self.Status.CANCELLED:
            return "cancelled"
        if self.status == self.Status.FULFILLED:
            return "handed_over"
        return "ready" if self.ready_at else "waiting"

    def get_fulfilment_stage_display(self) -> str:
        return str(FULFILMENT_STAGE_LABELS[self.fulfilment_stage])

    @property
    def is_cancellable(self) -> bool:
        """Confirmed and no voucher used (uses prefetched vouchers when there are some)."""
        return self.status == self.Status.CONFIRMED and not any(
            v.used_at for v in self.vouchers.all()
        )


class Voucher(models.Model):
    """One unit of a voucher reward: an unguessable code, valid for `validity_days` days."""

    redemption = models.ForeignKey(
        Redemption, on_delete=models.PROTECT, related_name="vouchers", verbose_name=_("redemption")
    )
    code = models.CharField(_("code"), max_length=24, unique=True)
    issued_at = models.DateTimeField(_("issued at"))
    valid_until = models.DateTimeField(_("valid until"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    used_by = models.CharField(_("marked used by"), max_length=120, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("voucher")
        verbose_name_plural = _("vouchers")

    def __str__(self) -> str:
        return self.code

    def status_at(self, now: datetime) -> str:
        if self.used_at:
            return "used"
        if self.cancelled_at:
            return "cancelled"
        if now >= self.valid_until:
            return "expired"
        return "valid"

    @property
    def status(self) -> str:
        return self.status_at(timezone.now())

    def status_label_at(self, now: datetime) -> str:
        return str(VOUCHER_STATUS_LABELS[self.status_at(now)])

    def get_status_display(self) -> str:
        return self.status_label_at(timezone.now())


# The merchant's fulfilment queue, for goods and services (vouchers have no pickup code).
FULFILMENT_STAGES = {
    "waiting": Q(status="confirmed", ready_at__isnull=True, pickup_code__isnull=False),
    "ready": Q(status="confirmed", ready_at__isnull=False, pickup_code__isnull=False),
    "handed_over": Q(status="fulfilled", pickup_code__isnull=False),
}

FULFILMENT_STAGE_LABELS = {
    "waiting": _("Being prepared"),
    "ready": _("Ready for pickup"),
    "handed_over": _("Handed over"),
    "cancelled": _("Cancelled"),
}

VOUCHER_STATUS_LABELS = {
    "used": _("used"),
    "cancelled": _("cancelled"),
    "expired": _("expired"),
    "valid": _("valid"),
}


class WinBackOffer(models.Model):
    """A personal price on one reward for a lapsed member, redeemable once, by them only.

    One offer per lapse: `lapse_started_at` is the member's last earn, refund or redemption
    before the lapse, and (member, lapse_started_at) is unique, so two senders at once still
    make one offer. Written only by `redemption.services.winback`; used by `reward_redeem`.
    """

    member = models.ForeignKey(
        "points.Member",
        on_delete=models.CASCADE,
        related_name="winback_offers",
        verbose_name=_("member"),
    )
    reward = models.ForeignKey(
        Reward, on_delete=models.CASCADE, related_name="winback_offers", verbose_name=_("reward")
    )
    list_points_price = models.PositiveIntegerField(_("points price when offered"))
    points_price = models.PositiveIntegerField(
        _("offer points price"), validators=[MinValueValidator(1)]
    )
    percent_off = models.PositiveSmallIntegerField(_("discount (%)"))
    cash_price_fen = models.PositiveBigIntegerField(_("cash price (fen)"), default=0)
    lapse_started_at = models.DateTimeField(_("last activity before the lapse"))
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"))
    redemption = models.OneToOneField(
        Redemption,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="winback_offer",
        verbose_name=_("redemption"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("win-back offer")
        verbose_name_plural = _("win-back offers")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "lapse_started_at"], name="winbackoffer_one_per_lapse"
            ),
            models.CheckConstraint(
                condition=Q(points_price__gte=1), name="winbackoffer_points_price_positive"
            ),
            models.CheckConstraint(
                condition=Q(valid_until__gt=models.F("valid_from")),
                name="winbackoffer_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.member_id} → {self.reward_id} @ {self.points_price}"

    def status_at(self, now: datetime) -> str:
        if self.redemption_id:
            return "used"
        if now < self.valid_from:
            return "pending"
        if now >= self.valid_until:
            return "expired"
        return "valid"

    def is_usable_at(self, now: datetime) -> bool:
        return self.status_at(now) == "valid"

    def as_price(self) -> Price:
        """The offer as a unit price, shown and snapshotted like a scheduled discount."""
        return Price(
            base_points=self.list_points_price,
            points=self.points_price,
            percent_off=self.percent_off,
            schedule_name=str(_("Exclusive offer")),
        )
