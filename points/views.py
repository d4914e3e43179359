from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from points import dynamic_code
from points.card_code import card_code_for
from points.csv_writer import BOM, SafeWriter
from points.dashboard import sections_for
from points.forms import HistoryFilterForm
from points.models import Account, Member, Notification
from points.months import BadMonth, parse_page
from points.selectors import expiring_lots, member_movements, recent_transactions
from points.services.members import member_language_set
from points.services.notifications import notifications_mark_read

HISTORY_PAGE_SIZE = 20


def member_for(request) -> Member | None:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    if not hasattr(request, "_member_cache"):
        request._member_cache = Member.objects.filter(user=request.user).first()
    return request._member_cache


def member_required(view):
    """Log in first; a login without a member card gets a friendly page, not an error."""

    @login_required
    def wrapped(request, *args, **kwargs):
        member = member_for(request)
        if member is None:
            return render(request, "points/no_member.html", status=403)
        return view(request, member, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


@never_cache
@login_required
def dashboard(request):
    member = member_for(request)
    if member is None:
        return render(request, "points/no_member.html")
    accounts = {a.kind: a for a in Account.objects.filter(member=member)}
    standard = accounts[Account.Kind.STANDARD]
    never_expire = settings.POINTS_EXPIRY_MONTHS is None
    context = {
        "member": member,
        "card_code": card_code_for(member),
        "card_code_seconds_left": dynamic_code.seconds_left(),
        "balances": {kind: account.balance for kind, account in accounts.items()},
        "in_debt": standard.balance < 0,
        "never_expire": never_expire,
        # The page says "never expire" instead of listing lots then: no query for them.
        "expiring": [] if never_expire else list(expiring_lots(standard)[:10]),
        "recent": recent_transactions(member),
        "sections": sections_for(member),
        "banners": sections_for(member, placement="top"),
    }
    return render(request, "points/dashboard.html", context)


@member_required
def history(request, member):
    form = HistoryFilterForm(request.GET or None)
    valid = form.is_valid() if request.GET else True
    filters = form.cleaned_data if valid and request.GET else {}
    page_error = ""
    try:
        page_number = parse_page(request.GET.get("page"))
    except BadMonth as error:
        page_error, page_number = str(error), 1
    account = filters.get("account") or Account.Kind.STANDARD
    movements = member_movements(
        member,
        kind=filters.get("kind") or None,
        month=filters.get("month") or None,
        account_kind=account,
    )
    bad_input = not valid or bool(page_error)
    if request.GET.get("format") == "csv" and not bad_input:  # both balances unless one is named
        return _history_csv(
            member,
            member_movements(
                member,
                kind=filters.get("kind") or None,
                month=filters.get("month") or None,
                account_kind=filters.get("account") or None,
            ),
        )
    page = Paginator(movements, HISTORY_PAGE_SIZE).get_page(page_number)
    query = request.GET.copy()
    query.pop("page", None)
    tab_query = query.copy()
    tab_query.pop("account", None)
    return render(
        request,
        "points/history.html",
        {
            "member": member,
            "form": form,
            "page": page,
            "page_error": page_error,
            "account": account,
            "tab_query": tab_query.urlencode(),
            "query": query.urlencode(),
        },
        status=400 if bad_input else 200,
    )


class _Echo:
    def write(self, value):
        return value


def _history_csv(member, movements):
    writer = SafeWriter(_Echo())
    header = [
        _("Time"),
        _("Kind"),
        _("Account"),
        _("Merchant"),
        _("Reference"),
        _("Reason"),
        _("Points"),
        _("Balance after"),
    ]

    def rows():
        yield BOM + writer.writerow(header)  # BOM: Excel opens the Chinese correctly
        for entry in movements.iterator(chunk_size=500):
            txn = entry.transaction
            yield writer.writerow(
                [
                    timezone.localtime(txn.created_at).isoformat(),
                    txn.get_kind_display(),
                    entry.account.get_kind_display(),
                    txn.merchant.name if txn.merchant else "",
                    txn.reference_label,
                    txn.reason_label,
                    entry.points,
                    entry.balance_after,
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="jifen-{member.member_no}-history.csv"'
    return response


@member_required
def notifications(request, member):
    try:
        page_number, page_error = parse_page(request.GET.get("page")), ""
    except BadMonth as error:
        page_number, page_error = 1, str(error)
    page = Paginator(
        Notification.objects.filter(member=member).order_by("-created_at", "-id"), 20
    ).get_page(page_number)
    return render(
        request,
        "points/notifications.html",
        {"member": member, "page": page, "page_error": page_error},
        status=400 if page_error else 200,
    )


@require_POST
@member_required
def notification_read(request, member, pk):
    if not Notification.objects.filter(member=member, pk=pk).exists():
        raise Http404
    notifications_mark_read(member=member, ids=[pk])
    link = Notification.objects.filter(pk=pk).values_list("link", flat=True).first()
    return HttpResponseRedirect(link if link and link.startswith("/") else reverse("notifications"))


@require_POST
@member_required
def notifications_read_all(request, member):
    notifications_mark_read(member=member)
    return redirect("notifications")


@require_POST
def set_language(request):
    """Django's language switch, which also remembers the choice on the member, so that the
    messages sent to them later are written in it."""
    from django.views.i18n import set_language as django_set_language

    response = django_set_language(request)
    member_language_set(user=request.user, language=request.POST.get("language", ""))
    return response
