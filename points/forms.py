from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _

from points.models import LedgerTransaction, Member
from points.services.members import InvalidMobile, normalise_mobile


class SignUpForm(UserCreationForm):
    email = forms.EmailField(
        label=_("Email"),
        required=False,
        max_length=254,
        help_text=_("For password resets and notices (optional)."),
    )
    mobile = forms.CharField(
        label=_("Mobile"),
        required=False,
        max_length=20,
        help_text=_("11 digits; lets the cashier find you (optional)."),
    )
    consent = forms.BooleanField(
        label=_("I agree that my purchases at member shops are recorded to earn points."),
    )

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_mobile(self):
        raw = self.cleaned_data.get("mobile", "")
        if not raw:
            return None
        try:
            mobile = normalise_mobile(raw)
        except InvalidMobile as error:
            raise forms.ValidationError(_("Enter an 11-digit mainland mobile number.")) from error
        if Member.objects.filter(mobile=mobile).exists():
            raise forms.ValidationError(_("This mobile number already has a member card."))
        return mobile


class HistoryFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"),
        required=False,
        choices=[("", _("All kinds")), *LedgerTransaction.Kind.choices],
    )
    month = forms.RegexField(
        label=_("Month"),
        required=False,
        regex=r"^\d{4}-(0[1-9]|1[0-2])$",
        max_length=7,
        widget=forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM"}),
        error_messages={"invalid": _("Use the form YYYY-MM.")},
    )
