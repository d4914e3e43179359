from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _

from points.models import LedgerTransaction, Member
from points.months import BadMonth, parse_month
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
    account = forms.ChoiceField(
        label=_("Balance"),
        required=False,
        choices=[("standard", _("Points")), ("green", _("Green points"))],
    )
    kind = forms.ChoiceField(
        label=_("Kind"),
        required=False,
        choices=[("", _("All kinds")), *LedgerTransaction.Kind.choices],
    )
    # type="month" takes neither placeholder nor maxlength (invalid markup); the one month
    # parser (points.months) checks the value and says what is wrong in Chinese.
    month = forms.CharField(
        label=_("Month"),
        required=False,
        widget=forms.TextInput(attrs={"type": "month"}),
    )

    def clean_month(self):
        value = self.cleaned_data.get("month", "")
        if not value:
            return None
        try:
            return parse_month(value)
        except BadMonth as error:
            raise forms.ValidationError(str(error)) from error
