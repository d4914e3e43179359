"""Member pages of the catalog. Thin: they read through selectors and write through services."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from points.models import Member
from points.services.retry import DatabaseBusy, call_with_db_retry
from points.views import member_for
from redemption.forms import CatalogFilterForm, QuantityForm, RedeemForm
from redemption.models import Redemption, WinBackOffer
from redemption.pricing import point_value_hundredths_of_fen
from redemption.selectors import (
    member_open_winback_offers,
    member_redeem_blockers,
    member_redemptions,
    member_spendable_points,
    merchant_directory,
    pricing_day,
    reward_price,
    reward_price_history,
    reward_prices,
    rewards_available,
    savings_projection,
)
from redemption.services.errors import RedemptionError
from redemption.services.redemptions import redemption_cancel_by_member, reward_redeem


def _member(request) -> Member | None:
    # One lookup per request, shared with the header's unread count.
    return member_for(request)


def _available_reward(pk: int, now):
    reward = rewards_available(now=now).select_related("pickup_store").filter(pk=pk).first()
    if reward is None:
        raise Http404
    return reward


def _member_offer(request, member: Member | None, reward) -> WinBackOffer | None:
    """The win-back offer named by `?offer=` (or the form): only the member's own, on this
    reward; anyone else's offer id is a 404, exactly like an id that does not exist."""
    raw = request.POST.get("offer") or request.GET.get("offer")
    if not raw:
        return None
    if member is None or not str(raw).isdigit():
        raise Http404
    return get_object_or_404(WinBackOffer, pk=int(raw), member=member, reward=reward)


CATALOG_LIMIT = 500


@login_required
def reward_list(request):
    """Every merchant's rewards, filterable by merchant, category and "affordable now"."""
    now = timezone.now()
    member = _member(request)
    offered = list(
        rewards_available(now=now).select_related("merchant", "category")[:CATALOG_LIMIT]
    )
    form = CatalogFilterForm(
        request.GET or None,
        merchants=sorted({(r.merchant.slug, r.merchant.name) for r in offered}, key=str),
        categories=sorted(
            {(r.category.slug, r.category.name) for r in offered if r.category}, key=str
        ),
    )
    filters = form.cleaned_data if form.is_valid() else {}
    rewards = [
        r
        for r in offered
        if (not filters.get("merchant") or r.merchant.slug == filters["merchant"])
        and (not filters.get("category") or (r.category and r.category.slug == filters["category"]))
    ]
    prices = reward_prices(rewards, on=pricing_day(now))
    projections = (
        savings_projection(member=member, rewards=rewards, prices=prices, now=now)
        if member is not None
        else {}
    )
    blockers = (
        member_redeem_blockers(
            member,
            rewards,
            spendable=next(iter(projections.values())).balance if projections else None,
        )
        if member is not None
        else {}
    )
    rows = [
        {
            "reward": reward,
            "price": prices[reward.pk],
            "projection": projections.get(reward.pk),
            "blocked": blockers.get(reward.pk, ""),
        }
        for reward in rewards
        if not filters.get("affordable")
        or (
            projections.get(reward.pk)
            and projections[reward.pk].shortfall == 0
            and reward.pk not in blockers
        )
    ]
    return render(
        request, "redemption/reward_list.html", {"member": member, "rows": rows, "form": form}
    )


@login_required
def reward_detail(request, pk: int):
    now = timezone.now()
    reward = _available_reward(pk, now)
    member = _member(request)
    offer = _member_offer(request, member, reward)
    price = reward_price(reward, on=pricing_day(now))
    projection = (
        savings_projection(member=member, rewards=[reward], prices={reward.pk: price}, now=now)[
            reward.pk
        ]
        if member is not None
        else None
    )
    context = {
        "member": member,
        "reward": reward,
        "price": price,
        "projection": projection,
        "blocked": member_redeem_blockers(
            member, [reward], spendable=projection.balance if projection else None
        ).get(reward.pk, "")
        if member is not None
        else "",
        "spendable": member_spendable_points(member, now=now) if member else 0,
        "history": list(reward_price_history(reward)[:20]),
        "floor_fen": settings.POINT_VALUE_FLOOR_FEN,
        "point_value": point_value_hundredths_of_fen(
            points_price=price.points or 1,
            cash_price_fen=reward.cash_price_fen,
            face_value_fen=reward.face_value_fen,
        ),
        "form": QuantityForm(),
        "offer": offer,
        "offer_price": offer.as_price() if offer else None,
        # The shortfall to the offer's own price, not to the list price.
        "offer_shortfall": max(offer.points_price - member_spendable_points(member, now=now), 0)
        if offer and member
        else 0,
        "offer_usable": offer is not None and offer.is_usable_at(now),
        "offer_status": offer.status_at(now) if offer else "",
    }
    return render(request, "redemption/reward_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def reward_redeem_view(request, pk: int):
    """GET: the confirmation step (price, total, balance after). POST: redeem, once per token."""
    now = timezone.now()
    reward = _available_reward(pk, now)
    detail_url = reverse("reward_detail", args=[reward.pk])
    member = _member(request)
    if member is None:
        messages.error(request, _("This login has no member card, so it cannot redeem."))
        return redirect(detail_url)
    offer = _member_offer(request, member, reward)
    if offer is not None:
        detail_url = f"{detail_url}?offer={offer.pk}"
    if request.method == "POST":
        form = RedeemForm(request.POST)
        if not form.is_valid():
            messages.error(request, _first_error(form))
            return redirect(detail_url)
        try:
            redemption = call_with_db_retry(
                reward_redeem,
                member=member,
                reward=reward,
                quantity=form.cleaned_data["quantity"],
                idempotency_key=f"web:{form.cleaned_data['token']}",
                actor=f"member:{member.member_no}",
                offer=offer,
            )
        except RedemptionError as refusal:
            messages.error(request, str(refusal.message))
            return redirect(detail_url)
        except DatabaseBusy:
            messages.error(request, _("The system is busy; nothing was redeemed. Please retry."))
            return redirect(detail_url)
        if redemption.replayed:
            messages.info(request, _("This redemption was already made; here it is."))
        else:
            messages.success(
                request,
                _("Redeemed %(title)s for %(points)s points.")
                % {"title": redemption.reward_title, "points": redemption.points_total},
            )
        return redirect(f"{reverse('my_redemptions')}#redemption-{redemption.pk}")
    form = QuantityForm(request.GET or None)
    if not form.is_valid():
        messages.error(request, _first_error(form))
        return redirect(detail_url)
    quantity = form.cleaned_data["quantity"]
    if offer is not None:
        if not offer.is_usable_at(now):
            messages.error(request, _("This offer cannot be used any more."))
            return redirect(detail_url)
        quantity = 1  # an offer is for one unit
        price = offer.as_price()
        unit_cash_fen = offer.cash_price_fen
    else:
        price = reward_price(reward, on=pricing_day(now))
        unit_cash_fen = reward.cash_price_fen
    total = price.points * quantity
    spendable = member_spendable_points(member, now=now)
    context = {
        "reward": reward,
        "offer": offer,
        "price": price,
        "quantity": quantity,
        "total": total,
        "cash_due_fen": unit_cash_fen * quantity,
        "spendable": spendable,
        "after": spendable - total,
        "enough": spendable >= total,
        "in_stock": reward.stock is None or reward.stock >= quantity,
        "stock": reward.stock,
        "token": uuid.uuid4().hex,
    }
    return render(request, "redemption/reward_confirm.html", context)


def _first_error(form) -> str:
    for errors in form.errors.values():
        return str(errors[0])
    return _("Please check your input.")


@login_required
def my_redemptions(request):
    member = _member(request)
    now = timezone.now()
    redemptions = list(member_redemptions(member)[:100]) if member else []
    offers = list(member_open_winback_offers(member, now=now)) if member else []
    return render(
        request,
        "redemption/my_redemptions.html",
        {"member": member, "redemptions": redemptions, "offers": offers, "now": now},
    )


@login_required
@require_POST
def redemption_cancel(request, pk: int):
    member = _member(request)
    if member is None:
        raise Http404
    redemption = get_object_or_404(Redemption, pk=pk, member=member)
    try:
        call_with_db_retry(redemption_cancel_by_member, redemption=redemption, member=member)
    except RedemptionError as refusal:
        messages.error(request, str(refusal.message))
    except DatabaseBusy:
        messages.error(request, _("The system is busy; nothing was cancelled. Please retry."))
    else:
        messages.success(
            request,
            _(
                "Cancelled. %(points)s points are back in your account, with their original "
                "expiry dates."
            )
            % {"points": redemption.points_total},
        )
    return redirect(f"{reverse('my_redemptions')}#redemption-{redemption.pk}")


def stores(request):
    """哪里可以用积分: every merchant, its stores (address, hours), categories and rewards.
    Open to visitors too: it is how someone decides to join."""
    return render(
        request,
        "redemption/stores.html",
        {"directory": merchant_directory(), "member": _member(request)},
    )
