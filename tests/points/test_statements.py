"""`unsaved`: the earn path's rows, built without Model.__init__, are the ORM's rows."""

import pytest
from django.db.models import signals
from django.utils import timezone

from points.models import Account, LedgerTransaction, Notification, Purchase, Refund
from points.statements import insert_fields, json_row, unsaved

pytestmark = pytest.mark.django_db


def _values(instance):
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_an_unsaved_row_is_the_one_the_orm_would_build(make_member, merchant):
    member = make_member()
    when = timezone.now()
    given = dict(
        merchant=merchant,
        store=None,
        member=member,
        receipt_no="R-1",
        occurred_at=when,
        total_fen=1290,
        points=12,
        green_points=3,
        carbon_saved_g=300,
        created_at=when,
    )
    built, orm = unsaved(Purchase, **given), Purchase(**given)
    assert _values(built) == _values(orm)
    assert built.pk is None and built._state.adding and built._state.db is None
    # The related objects are cached, as the ORM caches them: no query to read them back.
    assert built.merchant is merchant and built.member is member and built.store is None
    fields, _ = insert_fields(Purchase)
    assert json_row(built, fields) == json_row(orm, fields)
    built.save(force_insert=True)  # and the ORM saves it as its own
    assert _values(Purchase.objects.get(pk=built.pk)) == _values(built)


def test_ids_and_defaults_are_filled_in(make_member):
    member = make_member()
    account = unsaved(Account, code=f"x:{member.pk}", kind="standard", member_id=member.pk)
    assert account.member_id == member.pk and account.balance == 0 and account.version == 0
    txn = unsaved(LedgerTransaction, kind="earn", idempotency_key="k")
    assert txn.breakdown == {} and txn.created_at is not None and txn.reverses_id is None
    assert unsaved(LedgerTransaction, kind="earn").breakdown is not txn.breakdown  # fresh


def test_a_field_the_model_lacks_is_refused():
    with pytest.raises(TypeError, match="no field for \\['colour'\\]"):
        unsaved(Notification, title="x", colour="green")


def test_a_model_that_listens_to_its_creation_is_refused():
    def receiver(**kwargs):
        pass

    signals.post_init.connect(receiver, sender=Refund)
    try:
        with pytest.raises(TypeError, match="listens to its own creation"):
            unsaved(Refund)
    finally:
        signals.post_init.disconnect(receiver, sender=Refund)
