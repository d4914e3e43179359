"""Back office for the catalog. Every admin is merchant-scoped (`merchants.admin_scoping`);
saves and actions call services; there is no cash-out anywhere."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from merchants.admin_scoping import (
    MerchantScopedAdmin,
    ReadOnlyTabularInline,
    ScopedChoicesMixin,
)
from merchants.money import format_yuan
from redemption.models import (
    FULFILMENT_STAGE_LABELS,
    FULFILMENT_STAGES,
    PriceSchedule,
    Redemption,
    Reward,
    RewardPriceChange,
    Voucher,
    WinBackOffer,
)
from redemption.selectors import reward_price, reward_prices
from redemption.services.errors import RedemptionError
from redemption.services.redemptions import (
    VOUCHER_ALPHABET,
    VOUCHER_CODE_GROUPS,
    compensation_points_for,
    redemption_cancel_by_merchant,
    redemption_fulfil,
    redemption_mark_ready,
    voucher_use,
)
from redemption.services.rewards import (
    STOCK_AS_ENTERED,
    reward_save,
    reward_set_active,
    reward_stock_locked,
    stock_after_edit,
)


def _actor(request) -> str:
    return f"user:{request.user.get_username()}"


def _run_each(modeladmin, request, queryset, service, done_message):
    """Call `service` on each selected row; report successes and each refusal clearly."""
    done = 0
    for obj in queryset:
        try:
            service(obj)
        except RedemptionError as refusal:
            modeladmin.message_user(request, f"{obj}: {refusal.message}", messages.ERROR)
        else:
            done += 1
    if done:
        modeladmin.message_user(request, done_message(done), messages.SUCCESS)


def _month_start():
    return timezone.localtime().replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _schedule_link_label(link) -> str:
    return str(link.priceschedule)


# The auto-created link row would show as "PriceSchedule_rewards object (1)" in the inline.
PriceSchedule.rewards.through.__str__ = _schedule_link_label


class PriceScheduleInline(ScopedChoicesMixin, admin.TabularInline):
    model = PriceSchedule.rewards.through
    extra = 0
    verbose_name = _("price schedule")
    verbose_name_plural = _("price schedules")


class RewardPriceChangeInline(ReadOnlyTabularInline):
    model = RewardPriceChange
    fields = ("changed_at", "points_price", "cash_price_fen", "face_value_fen", "changed_by")


MAX_STOCK = 2_147_483_647  # PositiveIntegerField on PostgreSQL


class RewardAdminForm(forms.ModelForm):
    """The reward form, whose stock is edited relative to the stock as it is at save time.

    The stock field carries the value the page was loaded with (`initial-stock`, Django's
    hidden initial): the change the editor made is applied to the current stock under the
    row's lock (`stock_after_edit`), so units redeemed while the page was open stay taken."""

    # No Meta: the admin's form factory gives the model and fields.

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stock_at_request = self.instance.stock if self.instance.pk else None
        self.stock_loaded = STOCK_AS_ENTERED
        if "stock" in self.fields:
            self.fields["stock"].show_hidden_initial = True
            if self.instance.pk:
                self.fields["stock"].help_text = _(
                    "Leave empty for unlimited. Your change is added to the stock as it is "
                    "when you save: units redeemed while this page is open stay taken."
                )

    def _posted_stock_loaded(self):
        """The stock the page was loaded with; absent (a script's post): the request's."""
        raw = self.data.get(self.add_initial_prefix("stock"))
        if raw is None:
            return self._stock_at_request
        raw = raw.strip()
        if raw == "":
            return None
        if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_STOCK:
            raise forms.ValidationError(
                _("This page is out of date or damaged; reload it before changing the stock.")
            )
        return int(raw)

    def clean(self):
        cleaned = super().clean()
        if "stock" not in self.fields or "stock" in self.errors or not self.instance.pk:
            return cleaned
        try:
            loaded = self._posted_stock_loaded()
        except forms.ValidationError as error:
            self.add_error("stock", error)
            return cleaned
        # The admin validates and saves in one transaction: this lock lasts until the save.
        found, current = reward_stock_locked(reward_pk=self.instance.pk)
        if found:
            try:
                stock_after_edit(current=current, loaded=loaded, entered=cleaned.get("stock"))
            except forms.ValidationError as error:
                self.add_error(None, error)
                return cleaned
        self.stock_loaded = loaded
        return cleaned


@admin.register(Reward)
class RewardAdmin(MerchantScopedAdmin):
    form = RewardAdminForm
    list_display = (
        "title",
        "thumbnail",
        "merchant",
        "category",
        "kind",
        "current_price",
        "seasonal_price",
        "face_value_fen",
        "stock",
        "redemptions_this_month",
        "active",
    )
    list_filter = ("active", "kind", "merchant", "category")
    search_fields = ("title", "description", "merchant__name")
    list_select_related = ("merchant", "category")
    date_hierarchy = "created_at"
    autocomplete_fields = ("category",)
    readonly_fields = ("thumbnail", "created_at", "updated_at")
    inlines = [PriceScheduleInline, RewardPriceChangeInline]
    actions = ["activate", "deactivate"]
    keeps_ledger_history = True

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                month_redemptions=Count(
                    "redemptions",
                    filter=Q(redemptions__created_at__gte=_month_start())
                    & ~Q(redemptions__status=Redemption.Status.CANCELLED),
                )
            )
        )

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        rewards = list(changelist.result_list)  # fills the page's result cache
        prices = reward_prices(rewards)
        for reward in rewards:
            reward.today_price = prices[reward.pk]
        return changelist

    @admin.display(description=_("image"))
    def thumbnail(self, reward):
        if not reward.image:
            return "-"
        return format_html(
            '<img src="{}" alt="" style="max-height:48px;max-width:72px;border-radius:4px">',
            reward.image.url,
        )

    @admin.display(description=_("price"), ordering="points_price")
    def current_price(self, reward):
        if reward.cash_price_fen:
            return _("%(points)s points + ¥%(yuan)s") % {
                "points": reward.points_price,
                "yuan": format_yuan(reward.cash_price_fen, symbol=False),
            }
        return _("%(points)s points") % {"points": reward.points_price}

    @admin.display(description=_("seasonal price today"))
    def seasonal_price(self, reward):
        price = getattr(reward, "today_price", None) or reward_price(reward)
        if not price.discounted:
            return "-"
        return _("%(points)s (%(schedule)s, −%(percent)s%%)") % {
            "points": price.points,
            "schedule": price.schedule_name,
            "percent": price.percent_off,
        }

    @admin.display(description=_("redemptions this month"), ordering="month_redemptions")
    def redemptions_this_month(self, reward):
        url = reverse("admin:redemption_redemption_changelist")
        return format_html(
            '<a href="{}?reward__id__exact={}">{}</a>',
            url,
            reward.pk,
            getattr(reward, "month_redemptions", 0),
        )

    def save_model(self, request, obj, form, change):
        # The form already ran Reward.clean() (value floor, category of this merchant); the
        # service keeps the price history.
        self.assign_merchant(request, obj)
        entered = obj.stock
        loaded = getattr(form, "stock_loaded", STOCK_AS_ENTERED)
        reward_save(reward=obj, actor=_actor(request), stock_loaded=loaded)
        if change and loaded is not STOCK_AS_ENTERED and entered not in (loaded, obj.stock):
            self.message_user(
                request,
                _(
                    "The stock is now %(stock)s: your change was added to the stock as it was "
                    "when you saved (units were redeemed or returned while the page was open)."
                )
                % {"stock": obj.stock},
                messages.WARNING,
            )

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead: redemptions keep pointing at the reward

    @admin.action(description=_("Activate selected rewards"), permissions=["change"])
    def activate(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda r: reward_set_active(reward=r, active=True),
            lambda n: ngettext("%d reward activated.", "%d rewards activated.", n) % n,
        )

    @admin.action(description=_("Deactivate selected rewards"), permissions=["change"])
    def deactivate(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda r: reward_set_active(reward=r, active=False),
            lambda n: ngettext("%d reward deactivated.", "%d rewards deactivated.", n) % n,
        )


@admin.register(PriceSchedule)
class PriceScheduleAdmin(MerchantScopedAdmin):
    list_display = (
        "display_kind",
        "name",
        "merchant",
        "kind",
        "percent_off",
        "starts_on",
        "ends_on",
        "day_of_month",
        "active",
    )
    list_filter = ("active", "kind", "display_kind", "merchant")
    search_fields = ("name", "merchant__name")
    list_select_related = ("merchant",)
    date_hierarchy = "starts_on"
    filter_horizontal = ("rewards", "categories")
    keeps_ledger_history = True

    def has_ledger_history(self, obj):
        return obj.redemptions.exists()


class VoucherInline(ReadOnlyTabularInline):
    model = Voucher
    fields = ("code", "issued_at", "valid_until", "used_at", "used_by", "cancelled_at")


class FulfilmentStageFilter(admin.SimpleListFilter):
    """The fulfilment queue: waiting (being prepared) / ready / handed over."""

    title = _("fulfilment")
    parameter_name = "stage"

    def lookups(self, request, model_admin):
        return [
            ("waiting", FULFILMENT_STAGE_LABELS["waiting"]),
            ("ready", FULFILMENT_STAGE_LABELS["ready"]),
            ("handed_over", FULFILMENT_STAGE_LABELS["handed_over"]),
        ]

    def queryset(self, request, queryset):
        stage = self.value()
        if stage not in FULFILMENT_STAGES:
            return queryset  # an unknown value lists everything rather than failing
        return queryset.filter(FULFILMENT_STAGES[stage])


class PickupCodeForm(forms.Form):
    code = forms.CharField(
        label=_("pickup code"),
        max_length=40,
        widget=forms.TextInput(
            attrs={"autofocus": True, "autocomplete": "off", "placeholder": "XXXX-XXXX-XXXX-XXXX"}
        ),
    )


class MerchantCancelForm(forms.Form):
    reason = forms.CharField(
        label=_("reason shown to the member"),
        max_length=255,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("Give the member a reason for the cancellation."))
        return reason


@admin.register(Redemption)
class RedemptionAdmin(MerchantScopedAdmin):
    list_display = (
        "id",
        "created_at",
        "member",
        "reward_title",
        "quantity",
        "points_total",
        "cash_due_fen",
        "schedule_name",
        "pickup_code",
        "stage",
        "status",
        "merchant",
    )
    list_filter = (FulfilmentStageFilter, "status", "merchant", "reward", "cancelled_by")
    search_fields = (
        "reward_title",
        "member__member_no",
        "vouchers__code",
        "pickup_code",
        "idempotency_key",
    )
    date_hierarchy = "created_at"
    list_select_related = ("member", "merchant")
    inlines = [VoucherInline]
    actions = ["mark_ready", "mark_fulfilled", "merchant_cancel"]
    keeps_ledger_history = True

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        pickup = path(
            "pickup/",
            self.admin_site.admin_view(self.pickup_view),
            name="redemption_redemption_pickup",
        )
        return [pickup, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_pickup": self.has_change_permission(request)}
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("fulfilment"))
    def stage(self, redemption):
        if redemption.pickup_code is None:
            return "-"  # a voucher: used at the till, not collected
        return redemption.get_fulfilment_stage_display()

    def pickup_view(self, request):
        """Find a redemption by its pickup code (typed, or scanned into the field), check it,
        and mark it ready or handed over. Only this merchant's redemptions are found, so
        another merchant's code reads exactly like one that does not exist."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        found = None
        status = 200
        looking_up = request.method == "POST" and "redemption" not in request.POST
        form = PickupCodeForm(request.POST if looking_up else None)
        if request.method == "POST" and "redemption" in request.POST:
            response = self._pickup_act(request)
            if response is not None:
                return response
            status = 400
        elif looking_up and form.is_valid():
            code = normalize_voucher_code(form.cleaned_data["code"])
            found = (
                self.get_queryset(request)
                .select_related("member", "reward__pickup_store")
                .filter(pickup_code=code)
                .first()
                if code
                else None
            )
            if found is None:
                form.add_error("code", _("No redemption with this pickup code was found."))
        if form.errors:
            status = 400
        scoped = self.get_queryset(request)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Pickup: find a redemption by its code"),
            "opts": self.model._meta,
            "form": form,
            "found": found,
            "queue": [
                (stage, FULFILMENT_STAGE_LABELS[stage], scoped.filter(condition).count())
                for stage, condition in FULFILMENT_STAGES.items()
            ],
        }
        return TemplateResponse(
            request, "admin/redemption/redemption/pickup.html", context, status=status
        )

    def _pickup_act(self, request):
        """Mark the chosen redemption ready or handed over; None (and a message) if refused."""
        raw_pk = request.POST.get("redemption", "")
        action = request.POST.get("action", "")
        redemption = None
        if raw_pk.isascii() and raw_pk.isdigit() and len(raw_pk) <= 18:
            redemption = self.get_queryset(request).filter(pk=int(raw_pk)).first()
        if redemption is None or action not in ("ready", "hand_over"):
            self.message_user(request, _("No such redemption or action."), messages.ERROR)
            return None
        service = redemption_mark_ready if action == "ready" else redemption_fulfil
        try:
            done = service(redemption=redemption, actor=_actor(request))
        except RedemptionError as refusal:
            self.message_user(request, f"{redemption}: {refusal.message}", messages.ERROR)
            return None
        if action == "ready":
            text = _("%(redemption)s is ready; the member has been told.")
        else:
            text = _("%(redemption)s handed over.")
        self.message_user(request, text % {"redemption": done}, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:redemption_redemption_pickup"))

    @admin.action(
        description=_("Mark selected redemptions ready for pickup (tells the member)"),
        permissions=["change"],
    )
    def mark_ready(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda r: redemption_mark_ready(redemption=r, actor=_actor(request)),
            lambda n: ngettext("%d redemption ready.", "%d redemptions ready.", n) % n,
        )

    @admin.action(description=_("Mark selected redemptions handed over"), permissions=["change"])
    def mark_fulfilled(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda r: redemption_fulfil(redemption=r, actor=_actor(request)),
            lambda n: ngettext("%d redemption fulfilled.", "%d redemptions fulfilled.", n) % n,
        )

    @admin.action(
        description=_("Cancel selected redemptions as the merchant (with compensation)"),
        permissions=["change"],
    )
    def merchant_cancel(self, request, queryset):
        """First show what will happen and ask for the reason the member will read; cancel
        only when that page is confirmed."""
        form = MerchantCancelForm(request.POST if "confirm" in request.POST else None)
        if "confirm" in request.POST and form.is_valid():
            reason = form.cleaned_data["reason"]
            _run_each(
                self,
                request,
                queryset,
                lambda r: redemption_cancel_by_merchant(
                    redemption=r, reason=reason, actor=_actor(request)
                ),
                lambda n: (
                    ngettext(
                        "%d redemption cancelled; points and compensation credited.",
                        "%d redemptions cancelled; points and compensation credited.",
                        n,
                    )
                    % n
                ),
            )
            return None
        redemptions = list(queryset.select_related("merchant", "member"))
        rows = [
            (
                r,
                compensation_points_for(r.points_total, r.merchant.cancel_compensation_percent)
                if r.status == Redemption.Status.CONFIRMED
                else 0,
            )
            for r in redemptions
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": _("Cancel redemptions as the merchant"),
            "opts": self.model._meta,
            "form": form,
            "rows": rows,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(
            request,
            "admin/redemption/redemption/merchant_cancel.html",
            context,
            status=400 if form.errors else 200,
        )


def normalize_voucher_code(typed: str) -> str:
    """What a till clerk types (any case, spaces or dashes anywhere) → `XXXX-XXXX-XXXX-XXXX`."""
    raw = "".join(ch for ch in (typed or "").upper() if ch.isalnum())
    if len(raw) != 4 * VOUCHER_CODE_GROUPS or any(ch not in VOUCHER_ALPHABET for ch in raw):
        return ""
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


class VoucherScanForm(forms.Form):
    code = forms.CharField(
        label=_("voucher code"),
        max_length=40,
        widget=forms.TextInput(
            attrs={"autofocus": True, "autocomplete": "off", "placeholder": "XXXX-XXXX-XXXX-XXXX"}
        ),
    )


@admin.register(Voucher)
class VoucherAdmin(MerchantScopedAdmin):
    list_display = (
        "code",
        "redemption",
        "member_no",
        "issued_at",
        "valid_until",
        "used_at",
        "cancelled_at",
    )
    list_filter = (("used_at", admin.EmptyFieldListFilter), "redemption__merchant")
    search_fields = ("code", "redemption__member__member_no")
    date_hierarchy = "issued_at"
    list_select_related = ("redemption__member",)
    actions = ["mark_used"]
    keeps_ledger_history = True

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_scan": self.has_change_permission(request)}
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        scan = path(
            "scan/",
            self.admin_site.admin_view(self.scan_view),
            name="redemption_voucher_scan",
        )
        return [scan, *super().get_urls()]

    @admin.display(description=_("member number"), ordering="redemption__member__member_no")
    def member_no(self, voucher):
        return voucher.redemption.member.member_no

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def scan_view(self, request):
        """Type (or scan) a voucher code and mark it used; only this merchant's vouchers are
        found, so another merchant's code reads exactly like one that does not exist."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = VoucherScanForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            code = normalize_voucher_code(form.cleaned_data["code"])
            voucher = (
                self.get_queryset(request).select_related("redemption__member").filter(code=code)
            ).first()
            if not code or voucher is None:
                form.add_error("code", _("No voucher with this code was found."))
            else:
                try:
                    used = voucher_use(voucher=voucher, actor=_actor(request))
                except RedemptionError as refusal:
                    form.add_error("code", refusal.message)
                else:
                    self.message_user(
                        request,
                        _("Voucher %(code)s used: %(reward)s for member %(member)s.")
                        % {
                            "code": used.code,
                            "reward": voucher.redemption.reward_title,
                            "member": voucher.redemption.member.member_no,
                        },
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(reverse("admin:redemption_voucher_scan"))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Scan a voucher"),
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "admin/redemption/voucher/scan.html", context)

    @admin.action(description=_("Mark selected vouchers used"), permissions=["change"])
    def mark_used(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda v: voucher_use(voucher=v, actor=_actor(request)),
            lambda n: ngettext("%d voucher marked used.", "%d vouchers marked used.", n) % n,
        )


@admin.register(WinBackOffer)
class WinBackOfferAdmin(MerchantScopedAdmin):
    """Read-only: offers are made by `send_winback_offers` and used by redemptions."""

    list_display = (
        "id",
        "member",
        "reward",
        "points_price",
        "list_points_price",
        "valid_until",
        "redemption",
    )
    list_select_related = ("member", "reward", "redemption")
    search_fields = ("member__member_no", "reward__title")
    list_filter = ("valid_until",)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
