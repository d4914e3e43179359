from django import forms
from django.utils.translation import gettext_lazy as _

from points.models import LedgerTransaction
from reports.audit import FORMATS


class MonthForm(forms.Form):
    month = forms.CharField(label=_("Month (YYYY-MM)"), max_length=7)


class AuditExportForm(forms.Form):
    date_from = forms.CharField(label=_("From (YYYY-MM-DD)"), max_length=10)
    date_to = forms.CharField(label=_("To (YYYY-MM-DD, inclusive)"), max_length=10)
    member = forms.CharField(label=_("Member number or username"), required=False)
    merchant = forms.CharField(label=_("Merchant slug"), required=False)
    kind = forms.ChoiceField(
        label=_("Kind"),
        required=False,
        choices=[("", _("All kinds")), *LedgerTransaction.Kind.choices],
    )
    file_format = forms.ChoiceField(label=_("Format"), choices=[(f, f) for f in FORMATS])
