from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from points.models import Member
from reports.periods import BadPeriod, parse_month, parse_year
from reports.services.green import green_report_render


class Command(BaseCommand):
    help = "Write a member's green-consumption report (PDF) for a month or a year."

    def add_arguments(self, parser):
        parser.add_argument("--member", required=True, help="username or member number")
        period = parser.add_mutually_exclusive_group(required=True)
        period.add_argument("--month", help="YYYY-MM")
        period.add_argument("--year", help="YYYY")
        parser.add_argument("--out", required=True, help="the PDF file to write")

    def handle(self, *args, member, month, year, out, **options):
        try:
            period = parse_month(month) if month else parse_year(year)
            member.encode("utf-8")
            out.encode("utf-8")
        except BadPeriod as error:
            raise CommandError(str(error)) from error
        except UnicodeEncodeError as error:
            raise CommandError("--member and --out must be valid UTF-8 text.") from error
        found = Member.objects.filter(Q(member_no=member) | Q(user__username=member)).first()
        if found is None:
            raise CommandError(f"No member with number or username {member[:40]!r}.")
        pdf, figures = green_report_render(member=found, period=period)
        try:
            Path(out).write_bytes(pdf)
        except OSError as error:
            raise CommandError(f"Cannot write {out}: {error.strerror}.") from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {out}: {found.member_no} {period.label}, {figures.green_points} green "
                f"points, {figures.kg} kg CO2e saved ({len(pdf)} bytes)."
            )
        )
