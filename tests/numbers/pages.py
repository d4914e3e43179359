"""The pages the sweeps visit, in one list each: add a page here and the untranslated-text
sweep, the 390-px check and the axe run all cover it. `{reward}`, `{community}` and the
admin object ids are filled from the demo data."""

# Member pages: (path, who is logged in, or None for an anonymous visitor).
MEMBER_PAGES = [
    ("/", "demo"),
    ("/points/history/", "demo"),
    ("/points/history/?account=green", "demo"),
    ("/rewards/", "demo"),
    ("/rewards/{reward}/", "demo"),
    ("/me/redemptions/", "demo"),
    ("/me/notifications/", "demo"),
    ("/reports/green/", "demo"),
    ("/accounts/login/", None),
    ("/accounts/signup/", None),
    ("/accounts/password_reset/", None),
    # Pages other branches add (they answer 404 until merged, and are skipped then):
    ("/stores/", "demo"),
    ("/activities/", "demo"),
    ("/activities/{activity}/check-in/", "demo"),
    ("/accounts/claim/", None),
    ("/accounts/login/sms/", None),
]

# Merchant and staff pages outside the admin: (path, user).
BACK_OFFICE_PAGES = [
    ("/staff/merchant/analytics/", "merchant"),
    ("/staff/", "staff"),
    ("/staff/settlement/", "staff"),
    ("/staff/communities/", "staff"),
    ("/staff/audit/", "staff"),
    ("/staff/integrity/", "staff"),
    ("/staff/risk/", "staff"),
    ("/activities/{activity}/code/", "organiser"),
    ("/activities/{activity}/attendance/", "organiser"),
]
