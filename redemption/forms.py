from django import forms
from django.utils.translation import gettext_lazy as _

from redemption.models import MAX_QUANTITY_PER_REDEMPTION


class RedeemForm(forms.Form):
    """Quantity, plus the one-time token of the confirmation page (the idempotency key)."""

    quantity = forms.IntegerField(
        label=_("Quantity"), min_value=1, max_value=MAX_QUANTITY_PER_REDEMPTION, initial=1
    )
    token = forms.RegexField(regex=r"^[0-9a-f]{32}$", widget=forms.HiddenInput)


class QuantityForm(forms.Form):
    quantity = forms.IntegerField(
        label=_("Quantity"), min_value=1, max_value=MAX_QUANTITY_PER_REDEMPTION, initial=1
    )


class CatalogFilterForm(forms.Form):
    """Filters of the member catalog; every choice comes from the rewards on offer."""

    merchant = forms.ChoiceField(label=_("Merchant"), required=False)
    category = forms.ChoiceField(label=_("Category"), required=False)
    affordable = forms.BooleanField(label=_("Affordable now"), required=False)

    def __init__(self, *args, merchants=(), categories=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["merchant"].choices = [("", _("All merchants")), *merchants]
        self.fields["category"].choices = [("", _("All categories")), *categories]
