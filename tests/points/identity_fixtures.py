"""Numbers the identity tests use: one that will have a card (the `till_member` fixture in
conftest.py) and one that never has."""

CARDLESS = "13700000001"
CARDED = "13700000002"
