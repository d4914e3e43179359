"""Members, communities and the double-entry, append-only points ledger.

Points are integers (BigIntegerField); money is integer fen. Ledger rows (transactions,
entries, lot allocations, seals) are never updated or deleted: database triggers refuse it.
Only `points.services.ledger` writes them.
"""

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from points import dynamic_code


class Community(models.Model):
    """A school, residential community or company whose members' green totals are reported."""

    class Kind(models.TextChoices):
        SCHOOL = "school", _("School")
        RESIDENTIAL = "residential", _("Residential community")
        COMPANY = "company", _("Company")

    name = models.CharField(_("name"), max_length=120, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)

    class Meta:
        ordering = ["name"]
        verbose_name = _("community")
        verbose_name_plural = _("communities")

    def __str__(self) -> str:
        return self.name


class Member(models.Model):
    """A customer of the coalition. Their points live in two accounts: standard and green."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="member",
        verbose_name=_("user"),
    )
    member_no = models.CharField(_("member number"), max_length=12, unique=True)
    mobile = models.CharField(_("mobile"), max_length=11, unique=True, null=True, blank=True)
    community = models.ForeignKey(
        Community,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="members",
        verbose_name=_("community"),
    )
    joined_at = models.DateTimeField(_("joined at"), default=timezone.now)
    last_activity_at = models.DateTimeField(_("last activity at"), null=True, blank=True)
    # The TOTP secret of the card's dynamic code (points/dynamic_code.py); never shown.
    # Rows inserted by raw SQL (the bench) get "" and a secret on first use (card_code_for).
    card_secret = models.CharField(
        _("card secret"),
        max_length=64,
        default=dynamic_code.secret_new,
        db_default="",
        editable=False,
    )
    # Messages the member did not ask for (refunds, cancels, reminders) are written in this
    # language when they are sent; set from the language they last logged in with.
    language = models.CharField(
        _("language"),
        max_length=10,
        choices=settings.LANGUAGES,
        default=settings.LANGUAGE_CODE,
        db_default=settings.LANGUAGE_CODE,  # bulk loaders that name no language get the default
    )

    class Meta:
        ordering = ["member_no"]
        verbose_name = _("member")
        verbose_name_plural = _("members")

    def __str__(self) -> str:
        return self.member_no


class Account(models.Model):
    """One per (owner, kind). Member accounts cache their balance; system accounts do not.

    A system account (issuance, redemption, expiry, adjustment) is touched by every posting
    of its kind, so the write path never locks it: its balance is the sum of its entries.
    """

    class Kind(models.TextChoices):
        STANDARD = "standard", _("Standard points")
        GREEN = "green", _("Green points")
        ISSUANCE = "issuance", _("Issuance")
        GREEN_ISSUANCE = "green_issuance", _("Green issuance")
        REDEMPTION = "redemption", _("Redemption")
        EXPIRY = "expiry", _("Expiry")
        ADJUSTMENT = "adjustment", _("Adjustment")
        ACTIVITY_ISSUANCE = "activity_issuance", _("Activity issuance")

    MEMBER_KINDS = (Kind.STANDARD, Kind.GREEN)

    code = models.CharField(_("code"), max_length=80, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="accounts",
        verbose_name=_("member"),
    )
    merchant = models.ForeignKey(
        "merchants.Merchant",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="accounts",
        verbose_name=_("merchant"),
    )
    # Cached for member accounts only; changed only by the ledger service under a row lock.
    balance = models.BigIntegerField(_("balance"), default=0)
    version = models.BigIntegerField(_("version"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "kind"],
                condition=Q(member__isnull=False),
                name="account_one_per_member_kind",
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind__in=["standard", "green"], member__isnull=False)
                    | (~Q(kind__in=["standard", "green"]) & Q(member__isnull=True))
                ),
                name="account_member_kinds_have_member",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def is_member_account(self) -> bool:
        return self.kind in self.MEMBER_KINDS


class LedgerTransaction(models.Model):
    """A balanced set of entries. Append-only; corrections are new, reversing transactions."""

    # Set by the ledger service on what it returns (annotations only: no class attribute).
    replayed: bool  # the idempotency key existed: the original, nothing written
    attached: dict[str, Any]  # what the writes attached to the posting returned

    class Kind(models.TextChoices):
        EARN = "earn", _("Earn")
        GREEN_EARN = "green_earn", _("Green earn")
        BONUS = "bonus", _("Bonus")
        REDEEM = "redeem", _("Redeem")
        REDEEM_CANCEL = "redeem_cancel", _("Redemption cancelled")
        COMPENSATION = "compensation", _("Compensation")
        REFUND = "refund", _("Refund")
        EXPIRE = "expire", _("Expiry")
        ADJUST = "adjust", _("Adjustment")
        GREEN_ACTIVITY = "green_activity", _("Green activity")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    merchant = models.ForeignKey(
        "merchants.Merchant",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_transactions",
        verbose_name=_("merchant"),
    )
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_transactions",
        verbose_name=_("member"),
        db_index=False,  # ledgertxn_member_created_id leads with it
    )
    reference = models.CharField(_("reference"), max_length=120, blank=True, default="")
    reason = models.CharField(_("reason"), max_length=255, blank=True, default="")
    actor = models.CharField(_("actor"), max_length=120, default="system")
    breakdown = models.JSONField(_("breakdown"), default=dict, blank=True)
    reverses = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversals",
        verbose_name=_("reverses"),
        db_index=False,  # ledgertxn_reversals: only the few rows that reverse something
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("ledger transaction")
        verbose_name_plural = _("ledger transactions")
        # With the id as tie-break, a member's newest transactions are an index range read
        # backwards (the dashboard's "recent movements"), not a sort of their whole history.
        # Every index here is written by every posting: none may be redundant (bench/README.md).
        indexes = [
            models.Index(fields=["member", "created_at", "id"], name="ledgertxn_member_created_id"),
            models.Index(
                fields=["reverses"],
                condition=Q(reverses__isnull=False),
                name="ledgertxn_reversals",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind_label} {self.reference_label}".strip()

    @property
    def kind_label(self) -> str:
        """get_kind_display() without rebuilding and hashing every choice on each call."""
        try:
            return self.Kind(self.kind).label
        except ValueError:
            return self.kind

    # Reasons the services write as stable machine words, shown in the reader's language.
    REASON_LABELS = {
        "purchase": _("Purchase"),
        "refund": _("Refund"),
        "signup bonus": _("Sign-up bonus"),
        "first_purchase bonus": _("First purchase bonus"),
        "points past their expiry date": _("Points past their expiry date"),
    }

    @property
    def reason_label(self) -> str:
        """The reason in the reader's language ("purchase" -> 购物); free text as written."""
        label = self.REASON_LABELS.get(self.reason)
        return str(label) if label is not None else self.reason

    @property
    def reference_label(self) -> str:
        """The business document in the reader's language: "redemption:4" -> 兑换单 #4,
        a receipt number -> 小票 W-128."""
        reference = self.reference
        if not reference:
            return ""
        prefix, _sep, number = reference.partition(":")
        if prefix == "redemption" and number:
            return _("redemption #%(number)s") % {"number": number}
        if prefix == "adjustment" and number:
            return _("adjustment #%(number)s") % {"number": number}
        if self.kind in (self.Kind.EARN, self.Kind.REFUND, self.Kind.GREEN_EARN):
            return _("receipt %(number)s") % {"number": reference}
        return reference

    @property
    def description(self) -> str:
        """Reason and document together, e.g. "购物 · 小票 W-128"."""
        return " · ".join(part for part in (self.reason_label, self.reference_label) if part)


class LedgerEntry(models.Model):
    """A signed movement of points on one account. Entries of a transaction sum to zero."""

    transaction = models.ForeignKey(
        LedgerTransaction,
        on_delete=models.PROTECT,
        related_name="entries",
        verbose_name=_("transaction"),
    )
    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="entries",
        verbose_name=_("account"),
    )
    points = models.BigIntegerField(_("points"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        constraints = [
            models.CheckConstraint(condition=~Q(points=0), name="ledgerentry_points_nonzero"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.points:+d}"


class PointLot(models.Model):
    """Points credited to a member account by one transaction, with their expiry.

    `remaining` = `points` - the sum of the lot's allocations, always. It changes only under
    the lock of the account that owns it.
    """

    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="lots",
        verbose_name=_("account"),
    )
    transaction = models.ForeignKey(
        LedgerTransaction,
        on_delete=models.PROTECT,
        related_name="lots",
        verbose_name=_("transaction"),
    )
    points = models.BigIntegerField(_("points"))
    remaining = models.BigIntegerField(_("remaining"))
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name = _("point lot")
        verbose_name_plural = _("point lots")
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="pointlot_points_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=models.F("points")),
                name="pointlot_remaining_within_points",
            ),
        ]
        indexes = [
            models.Index(
                fields=["account", "expires_at"],
                condition=Q(remaining__gt=0),
                name="pointlot_open_by_expiry",
            ),
            models.Index(
                fields=["expires_at"], condition=Q(remaining__gt=0), name="pointlot_open_expiry"
            ),
        ]

    def __str__(self) -> str:
        return f"lot {self.pk}: {self.remaining}/{self.points}"


class LotAllocation(models.Model):
    """How a transaction used a lot: positive = consumed, negative = given back (a reversal)."""

    lot = models.ForeignKey(
        PointLot,
        on_delete=models.PROTECT,
        related_name="allocations",
        verbose_name=_("lot"),
    )
    transaction = models.ForeignKey(
        LedgerTransaction,
        on_delete=models.PROTECT,
        related_name="allocations",
        verbose_name=_("transaction"),
    )
    points = models.BigIntegerField(_("points"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("lot allocation")
        verbose_name_plural = _("lot allocations")
        constraints = [
            models.CheckConstraint(condition=~Q(points=0), name="lotallocation_points_nonzero"),
            models.UniqueConstraint(
                fields=["transaction", "lot"], name="lotallocation_once_per_lot"
            ),
        ]

    def __str__(self) -> str:
        return f"lot {self.lot_id}: {self.points:+d}"


class LedgerSeal(models.Model):
    """One link of the tamper-evident hash chain; the chain's order is this table's id."""

    transaction = models.OneToOneField(
        LedgerTransaction,
        on_delete=models.PROTECT,
        related_name="seal",
        verbose_name=_("transaction"),
    )
    prev_hash = models.CharField(_("previous hash"), max_length=64)
    hash = models.CharField(_("hash"), max_length=64)
    # Which serialization the hash covers (docs/audit.md); old versions stay verifiable.
    seal_version = models.PositiveSmallIntegerField(_("seal version"), default=2)
    sealed_at = models.DateTimeField(_("sealed at"), default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name = _("ledger seal")
        verbose_name_plural = _("ledger seals")

    def __str__(self) -> str:
        return self.hash[:12]


class LedgerCheckpoint(models.Model):
    """A signed statement "the chain's first `sealed_count` seals end in `head_hash`".

    Signed with an Ed25519 key kept outside the database (LEDGER_SIGNING_KEY_FILE), also
    appended to LEDGER_CHECKPOINT_DIR and mailed to AUDITOR_EMAILS: a rewrite of sealed
    history, the tail included, no longer matches an earlier checkpoint (docs/audit.md).
    """

    seq = models.PositiveIntegerField(_("sequence"), unique=True)
    head_hash = models.CharField(_("head hash"), max_length=64)
    sealed_count = models.PositiveBigIntegerField(_("sealed transactions"))
    at = models.DateTimeField(_("signed at"))
    key_id = models.CharField(_("key id"), max_length=16)
    signature = models.CharField(_("signature"), max_length=100)

    class Meta:
        ordering = ["seq"]
        verbose_name = _("ledger checkpoint")
        verbose_name_plural = _("ledger checkpoints")

    def __str__(self) -> str:
        return f"#{self.seq} {self.head_hash[:12]} ({self.sealed_count})"


APPEND_ONLY_MODELS = (LedgerTransaction, LedgerEntry, LotAllocation, LedgerSeal, LedgerCheckpoint)


class Purchase(models.Model):
    """A receipt from a till (or an import), kept line by line so refunds are exact."""

    # Set by `purchase_record` on what it returns (annotations only: no class attribute).
    replayed: bool
    bonus: LedgerTransaction | None
    balances: dict[str, int]

    class Source(models.TextChoices):
        API = "api", _("POS API")
        IMPORT = "import", _("Import")
        DEMO = "demo", _("Demo data")

    merchant = models.ForeignKey(
        "merchants.Merchant",
        on_delete=models.PROTECT,
        related_name="purchases",
        verbose_name=_("merchant"),
        db_index=False,  # purchase_receipt_per_merchant leads with it
    )
    store = models.ForeignKey(
        "merchants.Store",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="purchases",
        verbose_name=_("store"),
        db_index=False,  # purchase_store: only the purchases that name one
    )
    terminal = models.ForeignKey(
        "merchants.Terminal",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="purchases",
        verbose_name=_("terminal"),
        db_index=False,  # purchase_terminal: only the purchases that name one
    )
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="purchases",
        verbose_name=_("member"),
        db_index=False,  # purchase_member_time leads with it
    )
    receipt_no = models.CharField(_("receipt number"), max_length=64)
    occurred_at = models.DateTimeField(_("occurred at"))
    total_fen = models.BigIntegerField(_("total paid (fen)"))
    points = models.BigIntegerField(_("points"))
    green_points = models.BigIntegerField(_("green points"))
    carbon_saved_g = models.BigIntegerField(_("CO₂e saved (g)"), default=0)
    transaction = models.OneToOneField(
        LedgerTransaction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="purchase",
        verbose_name=_("ledger transaction"),
    )
    source = models.CharField(
        _("source"), max_length=10, choices=Source.choices, default=Source.API
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "receipt_no"], name="purchase_receipt_per_merchant"
            ),
        ]
        # Every index here is written by every purchase: none may be redundant.
        indexes = [
            models.Index(fields=["member", "occurred_at"], name="purchase_member_time"),
            models.Index(fields=["store"], condition=Q(store__isnull=False), name="purchase_store"),
            models.Index(
                fields=["terminal"], condition=Q(terminal__isnull=False), name="purchase_terminal"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_id}/{self.receipt_no}"


class PurchaseLine(models.Model):
    purchase = models.ForeignKey(
        Purchase,
        on_delete=models.PROTECT,
        related_name="lines",
        verbose_name=_("purchase"),
        db_index=False,  # purchaseline_once leads with it
    )
    line_no = models.PositiveIntegerField(_("line number"))
    product = models.ForeignKey(
        "merchants.Product",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("product"),
    )
    category = models.ForeignKey(
        "merchants.Category",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("category"),
    )
    quantity = models.PositiveIntegerField(_("quantity"))
    amount_fen = models.BigIntegerField(_("amount paid (fen)"))
    points = models.BigIntegerField(_("points"))
    green_points = models.BigIntegerField(_("green points"), default=0)
    carbon_saved_g = models.BigIntegerField(_("CO₂e saved (g)"), default=0)
    # Changed only by the refund service, under the purchase's row lock.
    refunded_quantity = models.PositiveIntegerField(_("refunded quantity"), default=0)

    class Meta:
        ordering = ["purchase", "line_no"]
        verbose_name = _("purchase line")
        verbose_name_plural = _("purchase lines")
        constraints = [
            models.UniqueConstraint(fields=["purchase", "line_no"], name="purchaseline_once"),
            models.CheckConstraint(
                condition=Q(refunded_quantity__lte=models.F("quantity")),
                name="purchaseline_refund_within_quantity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purchase} #{self.line_no}"


class Refund(models.Model):
    replayed: bool  # set by `refund_record` on what it returns
    bonus_reversal: LedgerTransaction | None  # the first-purchase bonus it took back, if any

    class Policy(models.TextChoices):
        ALLOW_NEGATIVE = "allow_negative", _("Reverse in full (balance may go negative)")
        CAP_AT_BALANCE = "cap_at_balance", _("Take only what is left")

    purchase = models.ForeignKey(
        Purchase, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("purchase")
    )
    refund_no = models.CharField(_("refund number"), max_length=64)
    lines = models.JSONField(_("refunded lines"), default=list)
    points = models.BigIntegerField(_("points reversed"))
    green_points = models.BigIntegerField(_("green points reversed"))
    points_due = models.BigIntegerField(_("points due"))
    policy = models.CharField(_("policy"), max_length=20, choices=Policy.choices)
    transaction = models.OneToOneField(
        LedgerTransaction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refund",
        verbose_name=_("ledger transaction"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        constraints = [
            models.UniqueConstraint(
                fields=["purchase", "refund_no"], name="refund_no_per_purchase"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purchase} refund {self.refund_no}"


class ApiIdempotencyRecord(models.Model):
    """The answer given to one (terminal, Idempotency-Key), replayed for the same request."""

    terminal = models.ForeignKey(
        "merchants.Terminal", on_delete=models.CASCADE, related_name="+", verbose_name=_("terminal")
    )
    key = models.CharField(_("idempotency key"), max_length=200)
    request_hash = models.CharField(_("request hash"), max_length=64)
    status_code = models.PositiveSmallIntegerField(_("status code"))
    response = models.JSONField(_("response"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("API idempotency record")
        verbose_name_plural = _("API idempotency records")
        constraints = [
            models.UniqueConstraint(fields=["terminal", "key"], name="api_idempotency_once"),
        ]

    def __str__(self) -> str:
        return self.key


class Notification(models.Model):
    """A message in a member's inbox (and, when they have an email address, a mail)."""

    class Kind(models.TextChoices):
        EXPIRY_REMINDER = "expiry_reminder", _("Expiry reminder")
        WIN_BACK = "win_back", _("Exclusive offer")
        REPORT_READY = "report_ready", _("Report ready")
        POINTS = "points", _("Points")
        REDEMPTION = "redemption", _("Redemption")
        REFUND = "refund", _("Refund")
        ADJUSTMENT = "adjustment", _("Adjustment")
        EXPIRED = "expired", _("Points expired")
        PICKUP = "pickup", _("Ready for pickup")
        EXCHANGE_DAY = "exchange_day", _("Exchange day")

    class EmailStatus(models.TextChoices):
        NONE = "none", _("No email")
        PENDING = "pending", _("Waiting to be sent")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    member = models.ForeignKey(
        Member,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("member"),
        db_index=False,  # notification_inbox leads with it
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"), blank=True)
    link = models.CharField(_("link"), max_length=300, blank=True)
    # Makes "never twice" a database guarantee, e.g. "expiry:30:<lot ids>" (notification_once:
    # a partial unique index, so the many notifications without a key add nothing to it).
    dedupe_key = models.CharField(  # noqa: DJ001 - NULL: no key, not an empty one
        _("dedupe key"), max_length=200, null=True, blank=True
    )
    email_status = models.CharField(
        _("email status"), max_length=10, choices=EmailStatus.choices, default=EmailStatus.NONE
    )
    email_attempts = models.PositiveSmallIntegerField(_("email attempts"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(dedupe_key__isnull=False),
                name="notification_once",
            ),
        ]
        indexes = [
            models.Index(fields=["member", "-created_at"], name="notification_inbox"),
            models.Index(
                fields=["member"], condition=Q(read_at__isnull=True), name="notification_unread"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class ExpiryReminder(models.Model):
    """That a member was told, `days_before` days ahead, that a lot expires: at most once.

    The unique (lot, days_before) pair is what makes "never twice for the same lots and
    threshold" hold across repeated and concurrent runs of the reminder job.
    """

    lot = models.ForeignKey(
        PointLot, on_delete=models.CASCADE, related_name="expiry_reminders", verbose_name=_("lot")
    )
    days_before = models.PositiveSmallIntegerField(_("days before expiry"))
    notification = models.ForeignKey(
        Notification,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="expiry_reminders",
        verbose_name=_("notification"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name = _("expiry reminder")
        verbose_name_plural = _("expiry reminders")
        constraints = [
            models.UniqueConstraint(
                fields=["lot", "days_before"], name="expiryreminder_once_per_lot_threshold"
            ),
        ]

    def __str__(self) -> str:
        return f"lot {self.lot_id}: {self.days_before} days"


class AdjustmentRequest(models.Model):
    """A manual grant (+) or deduction (−) of a member's standard points by platform staff.

    Applied through the ledger (kind "adjust", against the `adjustment` system account) by
    `points.services.adjustments`: at once when small, after a second staff user approves
    when larger than ADJUSTMENT_APPROVAL_THRESHOLD points.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        APPLIED = "applied", _("Applied")
        REJECTED = "rejected", _("Rejected")

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="adjustments", verbose_name=_("member")
    )
    points = models.BigIntegerField(
        _("points"), help_text=_("Positive to grant, negative to deduct.")
    )
    reason = models.CharField(_("reason"), max_length=255)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved or rejected by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    transaction = models.OneToOneField(
        LedgerTransaction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="adjustment",
        verbose_name=_("ledger transaction"),
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("points adjustment")
        verbose_name_plural = _("points adjustments")
        permissions = [("approve_adjustmentrequest", _("Can approve or reject adjustments"))]
        constraints = [
            models.CheckConstraint(condition=~Q(points=0), name="adjustment_points_nonzero"),
            models.CheckConstraint(condition=~Q(reason=""), name="adjustment_reason_required"),
        ]
        indexes = [
            models.Index(
                fields=["requested_at"],
                condition=Q(status="pending"),
                name="adjustment_pending",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.points:+d}"


class SmsCode(models.Model):
    """A one-time code sent by SMS, bound to one number and one purpose. Stored hashed.

    The rows are also the rate limiter's memory (per number, per client), so a refused
    request writes nothing at all.
    """

    class Purpose(models.TextChoices):
        SIGNUP = "signup", _("Sign-up")
        CLAIM = "claim", _("Card claim")
        LOGIN = "login", _("SMS login")
        TILL_ENROL = "till_enrol", _("Till enrolment")

    mobile = models.CharField(_("mobile"), max_length=11)
    purpose = models.CharField(_("purpose"), max_length=20, choices=Purpose.choices)
    code_hash = models.CharField(_("code hash"), max_length=64)
    # "ip:203.0.113.7" on the website, "terminal:12" at a till: who asked for it.
    client = models.CharField(_("client"), max_length=80)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    failed_attempts = models.PositiveSmallIntegerField(_("failed attempts"), default=0)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("SMS code")
        verbose_name_plural = _("SMS codes")
        indexes = [
            models.Index(fields=["mobile", "created_at"], name="smscode_mobile_created"),
            models.Index(fields=["client", "created_at"], name="smscode_client_created"),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} {self.mobile[:3]}****{self.mobile[-4:]}"


class SignupBonusMobile(models.Model):
    """Every mobile number that ever received the sign-up bonus, as a keyed hash (HMAC):
    deleting and re-creating an account does not pay it twice, and no number is kept."""

    mobile_digest = models.CharField(_("mobile digest"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("sign-up bonus number")
        verbose_name_plural = _("sign-up bonus numbers")

    def __str__(self) -> str:
        return self.mobile_digest[:12]


class IdentityEvent(models.Model):
    """The audit trail of identity: codes sent and checked, sign-ups, claims, SMS logins,
    till enrolments. Only the masked number is kept (138****1234)."""

    class Kind(models.TextChoices):
        CODE_SENT = "code_sent", _("Code sent")
        CODE_FAILED = "code_failed", _("Wrong code")
        CODE_VERIFIED = "code_verified", _("Code verified")
        SIGNUP = "signup", _("Signed up")
        CLAIM = "claim", _("Card claimed")
        LOGIN_SMS = "login_sms", _("Logged in by SMS")
        TILL_ENROL = "till_enrol", _("Enrolled at a till")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    purpose = models.CharField(_("purpose"), max_length=20, blank=True)
    mobile_masked = models.CharField(_("mobile (masked)"), max_length=11, blank=True)
    member = models.ForeignKey(
        Member,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="identity_events",
        verbose_name=_("member"),
    )
    # "user:5", "terminal:3", "anonymous"
    actor = models.CharField(_("actor"), max_length=80)
    client = models.CharField(_("client"), max_length=80, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("identity event")
        verbose_name_plural = _("identity events")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.mobile_masked}"


class RuleVersion(models.Model):
    """One version of one earning rule (a merchant's points per yuan, a category, a product's
    green figures, a campaign), recorded whenever it changes (`points.rule_history`).

    `ledger_seq` is the last ledger transaction id allocated when the version was recorded:
    it governs the earns with a greater id, until the next version of the same rule. So
    `verify_ledger` recomputes every earn with the rules of its day, not today's. Append-only
    (the application role may not UPDATE or DELETE it)."""

    class Kind(models.TextChoices):
        MERCHANT = "merchant", _("Merchant")
        CATEGORY = "category", _("Category")
        PRODUCT = "product", _("Product")
        CAMPAIGN = "campaign", _("Campaign")

    # No constraint: the history outlives a deleted (never used) merchant, category or campaign.
    merchant = models.ForeignKey(
        "merchants.Merchant",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        verbose_name=_("merchant"),
        db_index=False,  # ruleversion_lookup leads with it
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    object_id = models.BigIntegerField(_("object id"))
    data = models.JSONField(_("rule"), null=True, blank=True)  # null: deleted
    ledger_seq = models.BigIntegerField(_("after ledger transaction"))
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    actor = models.CharField(_("actor"), max_length=80, blank=True)

    class Meta:
        ordering = ["merchant", "ledger_seq", "id"]
        verbose_name = _("earning rule version")
        verbose_name_plural = _("earning rule versions")
        indexes = [
            models.Index(
                fields=["merchant", "kind", "object_id", "ledger_seq"], name="ruleversion_lookup"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.object_id} @ {self.ledger_seq}"
