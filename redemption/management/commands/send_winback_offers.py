from django.core.management.base import BaseCommand

from redemption.services.winback import winback_offers_send


class Command(BaseCommand):
    help = "Send one personal win-back offer to each member who lapsed and has none for it yet."

    def handle(self, *args, **options):
        sent = winback_offers_send()
        self.stdout.write(f"Sent {sent} win-back offers.")
