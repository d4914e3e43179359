from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from activities.models import Activity

CAPACITY_MAX = 100_000
CO2E_GRAMS_MAX = 1_000_000


class ActivityForm(forms.ModelForm):
    """The organiser's form: times in order and ahead, sane capacity, points within the cap."""

    class Meta:
        model = Activity
        fields = [
            "title",
            "kind",
            "description",
            "place",
            "starts_at",
            "ends_at",
            "points",
            "co2e_grams",
            "co2e_source",
            "capacity",
        ]

    def clean_points(self):
        points = self.cleaned_data["points"]
        cap = settings.GREEN_ACTIVITY_POINTS_MAX_MONTH
        if points < 1 or points > cap:
            raise forms.ValidationError(
                _("Points per participant must be between 1 and %(cap)s (the monthly cap).")
                % {"cap": cap}
            )
        return points

    def clean_capacity(self):
        capacity = self.cleaned_data["capacity"]
        if capacity < 1 or capacity > CAPACITY_MAX:
            raise forms.ValidationError(
                _("Capacity must be between 1 and %(max)s.") % {"max": CAPACITY_MAX}
            )
        return capacity

    def clean_co2e_grams(self):
        grams = self.cleaned_data["co2e_grams"]
        if grams > CO2E_GRAMS_MAX:
            raise forms.ValidationError(
                _("At most %(max)s g of CO₂e per participant.") % {"max": CO2E_GRAMS_MAX}
            )
        return grams

    def clean(self):
        cleaned = super().clean()
        starts, ends = cleaned.get("starts_at"), cleaned.get("ends_at")
        if starts and ends:
            if ends <= starts:
                self.add_error("ends_at", _("The end must be after the start."))
            elif ends <= timezone.now() and (
                self.instance.pk is None or "ends_at" in self.changed_data
            ):
                self.add_error("ends_at", _("The end cannot be in the past."))
        return cleaned


class CheckInForm(forms.Form):
    code = forms.CharField(
        label=_("Check-in code"),
        min_length=6,
        max_length=6,
        help_text=_("The 6 digits shown at the activity (they change every minute)."),
        error_messages={
            "required": _("Enter the 6-digit code."),
            "min_length": _("Enter the 6-digit code."),
            "max_length": _("Enter the 6-digit code."),
        },
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9]{6}"}
        ),
    )

    def clean_code(self):
        code = self.cleaned_data["code"].strip()
        if not (code.isascii() and code.isdigit()):
            raise forms.ValidationError(_("Enter the 6-digit code."))
        return code
