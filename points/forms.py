from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.utils.translation import gettext_lazy as _

from points.models import LedgerTransaction
from points.months import BadMonth, parse_month
from points.services.identity import CODE_DIGITS
from points.services.members import InvalidMobile, normalise_mobile


class MobileForm(forms.Form):
    """Step one of every SMS flow: the number (and, to join, the consent)."""

    mobile = forms.CharField(
        label=_("Mobile"),
        max_length=20,
        help_text=_("11 digits. We text you a 6-digit code."),
        widget=forms.TextInput(
            attrs={"inputmode": "tel", "autocomplete": "tel-national", "autofocus": True}
        ),
    )

    def clean_mobile(self):
        try:
            return normalise_mobile(self.cleaned_data["mobile"])
        except InvalidMobile as error:
            raise forms.ValidationError(_("Enter an 11-digit mainland mobile number.")) from error


class SignUpMobileForm(MobileForm):
    consent = forms.BooleanField(
        label=_("I agree that my purchases at member shops are recorded to earn points."),
    )


class CodeForm(forms.Form):
    """Step two: the code from the text message."""

    code = forms.CharField(
        label=_("Verification code"),
        max_length=CODE_DIGITS,
        min_length=CODE_DIGITS,
        widget=forms.TextInput(
            attrs={
                "inputmode": "numeric",
                "autocomplete": "one-time-code",
                "pattern": "[0-9]{6}",
            }
        ),
        error_messages={
            "min_length": _("The code has 6 digits."),
            "max_length": _("The code has 6 digits."),
        },
    )

    def clean_code(self):
        code = self.cleaned_data["code"]
        if not (code.isascii() and code.isdigit()):
            raise forms.ValidationError(_("The code has 6 digits."))
        return code


class CredentialsCodeForm(CodeForm):
    """Step two of sign-up and claim: the code, and the login the member chooses."""

    username_required = False
    username = forms.CharField(
        label=_("Username"),
        required=False,
        max_length=150,
        help_text=_("Letters, digits and @/./+/-/_ only. Leave empty and we choose one."),
        validators=[UnicodeUsernameValidator()],
    )
    email = forms.EmailField(
        label=_("Email"),
        required=False,
        max_length=254,
        help_text=_("For password resets and notices (optional)."),
    )
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("Password confirmation"),
        strip=False,
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user  # the login being claimed, if any (it may keep its username)
        if self.username_required:
            self.fields["username"].required = True
            self.fields["username"].help_text = _("Letters, digits and @/./+/-/_ only.")
            del self.fields["email"]

    def clean_username(self):
        username = self.cleaned_data.get("username") or ""
        if not username:
            return None
        taken = get_user_model().objects.filter(username__iexact=username)
        if self.user is not None:
            taken = taken.exclude(pk=self.user.pk)
        if taken.exists():
            raise forms.ValidationError(_("This username is taken. Choose another."))
        return username

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ."))
        elif first:
            try:
                password_validation.validate_password(first, self.user)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class ClaimCodeForm(CredentialsCodeForm):
    username_required = True


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
