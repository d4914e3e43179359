"""Energy-saving activities run by schools and communities, and the members who attend.

An organiser (a user of one community) creates an activity; platform staff approve it (and
approve again when its points change); members check in on their phones with a rotating
code shown at the place; after the end the organiser confirms the attendance list and the
points are posted, once, as `green_activity` ledger transactions (activities.services).
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from points import dynamic_code


class Organiser(models.Model):
    """A user who runs the activities of one community (granted by platform staff)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="organiser",
        verbose_name=_("user"),
    )
    community = models.ForeignKey(
        "points.Community",
        on_delete=models.PROTECT,
        related_name="organisers",
        verbose_name=_("community"),
    )
    granted_at = models.DateTimeField(_("granted at"), default=timezone.now)

    class Meta:
        verbose_name = _("organiser")
        verbose_name_plural = _("organisers")

    def __str__(self) -> str:
        return f"{self.user} · {self.community}"


class Activity(models.Model):
    class Kind(models.TextChoices):
        RECYCLING = "recycling", _("Recycling day")
        ENERGY = "energy", _("Energy-saving challenge")
        TREES = "trees", _("Tree planting")
        CLASS = "class", _("Environmental class")
        OTHER = "other", _("Other activity")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    community = models.ForeignKey(
        "points.Community",
        on_delete=models.PROTECT,
        related_name="activities",
        verbose_name=_("community"),
    )
    title = models.CharField(_("title"), max_length=120)
    description = models.TextField(_("description"), blank=True, max_length=2000)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    place = models.CharField(_("place"), max_length=200)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    points = models.PositiveIntegerField(_("green points per participant"))
    co2e_grams = models.PositiveIntegerField(
        _("estimated CO₂e saved per participant (g)"), default=0
    )
    co2e_source = models.CharField(_("source of the CO₂e estimate"), max_length=200, blank=True)
    capacity = models.PositiveIntegerField(_("capacity"))
    status = models.CharField(
        _("approval"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    # The points staff approved: a later change of `points` needs a new approval.
    approved_points = models.PositiveIntegerField(_("approved points"), null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("attendance confirmed by"),
    )
    confirmed_at = models.DateTimeField(_("attendance confirmed at"), null=True, blank=True)
    checkin_secret = models.CharField(
        max_length=64, default=dynamic_code.secret_new, editable=False
    )

    class Meta:
        ordering = ["starts_at", "pk"]
        verbose_name = _("green activity")
        verbose_name_plural = _("green activities")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="activity_ends_after_start"
            ),
            models.CheckConstraint(condition=Q(points__gt=0), name="activity_points_positive"),
            models.CheckConstraint(condition=Q(capacity__gt=0), name="activity_capacity_positive"),
        ]
        indexes = [models.Index(fields=["ends_at"], name="activity_ends_at")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_approved(self) -> bool:
        return self.status == self.Status.APPROVED and self.approved_points == self.points

    def is_running(self, at=None) -> bool:
        at = at or timezone.now()
        return self.starts_at <= at <= self.ends_at


class CheckIn(models.Model):
    """A member present at an activity (one per member and activity)."""

    activity = models.ForeignKey(
        Activity, on_delete=models.PROTECT, related_name="check_ins", verbose_name=_("activity")
    )
    member = models.ForeignKey(
        "points.Member",
        on_delete=models.PROTECT,
        related_name="activity_check_ins",
        verbose_name=_("member"),
    )
    created_at = models.DateTimeField(_("checked in at"), default=timezone.now)
    # sha256 of the browser's device cookie: how many members one phone checked in.
    device = models.CharField(_("device"), max_length=64)
    # Unticked by the organiser before confirming: a no-show gets nothing.
    present = models.BooleanField(_("present"), default=True)
    points_awarded = models.PositiveIntegerField(_("points awarded"), default=0)
    transaction = models.OneToOneField(
        "points.LedgerTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="activity_check_in",
        verbose_name=_("ledger transaction"),
    )

    class Meta:
        ordering = ["activity", "created_at", "pk"]
        verbose_name = _("check-in")
        verbose_name_plural = _("check-ins")
        constraints = [
            models.UniqueConstraint(fields=["activity", "member"], name="checkin_once_per_member")
        ]
        indexes = [models.Index(fields=["activity", "device"], name="checkin_device")]

    def __str__(self) -> str:
        return f"{self.activity} · {self.member}"


class CheckInRefusal(models.Model):
    """A refused check-in, kept for the staff risk page."""

    class Reason(models.TextChoices):
        NOT_APPROVED = "not_approved", _("Activity not approved")
        OUTSIDE_WINDOW = "outside_window", _("Outside the activity's time")
        WRONG_CODE = "wrong_code", _("Wrong or expired code")
        NEW_ACCOUNT = "new_account", _("Account younger than a day")
        DEVICE_LIMIT = "device_limit", _("Too many members on one device")
        FULL = "full", _("Activity full")
        ALREADY = "already", _("Already checked in")

    activity = models.ForeignKey(
        Activity, on_delete=models.CASCADE, related_name="refusals", verbose_name=_("activity")
    )
    member = models.ForeignKey(
        "points.Member", on_delete=models.CASCADE, related_name="+", verbose_name=_("member")
    )
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    device = models.CharField(_("device"), max_length=64)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("refused check-in")
        verbose_name_plural = _("refused check-ins")

    def __str__(self) -> str:
        return f"{self.activity} · {self.member} · {self.reason}"
