"""The stored answers of the POS API, as a service (`points.services.idempotency`)."""

import pytest

from points.models import ApiIdempotencyRecord
from points.services.idempotency import (
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    answer_record_once,
)
from points.services.purchases import ReceiptAlreadyRecorded

pytestmark = pytest.mark.django_db


def record(terminal, key="key-1", body=b'{"a": 1}', work=None, **kwargs):
    calls = []

    def default_work():
        calls.append(1)
        return 201, {"done": len(calls)}

    answer = answer_record_once(
        terminal=terminal, key=key, request_body=body, work=work or default_work, **kwargs
    )
    return answer, calls


def test_the_first_answer_is_stored_with_the_work(shop):
    answer, calls = record(shop)

    assert (answer.status_code, answer.body, answer.replayed) == (201, {"done": 1}, False)
    stored = ApiIdempotencyRecord.objects.get()
    assert (stored.terminal, stored.key, stored.status_code) == (shop, "key-1", 201)


def test_the_same_key_and_body_get_the_stored_answer_and_the_work_is_undone(shop):
    record(shop)

    again, _ = record(shop, work=lambda: (201, {"done": "twice"}))

    assert (again.status_code, again.body, again.replayed) == (201, {"done": 1}, True)
    assert ApiIdempotencyRecord.objects.count() == 1


def test_the_same_key_with_another_body_is_refused(shop):
    record(shop)

    with pytest.raises(IdempotencyKeyReused):
        record(shop, body=b'{"a": 2}')


def test_a_domain_refusal_answered_before_is_replayed_and_a_new_one_stands(shop):
    record(shop, key="raced")

    def refused():
        raise ReceiptAlreadyRecorded("This receipt has already been recorded.")

    replayed, _ = record(shop, key="raced", work=refused, replay_on=(ReceiptAlreadyRecorded,))
    assert replayed.replayed
    with pytest.raises(ReceiptAlreadyRecorded):
        record(shop, key="fresh", work=refused, replay_on=(ReceiptAlreadyRecorded,))
    assert not ApiIdempotencyRecord.objects.filter(key="fresh").exists()


def test_keys_of_two_terminals_do_not_meet(shop, other_shop):
    record(shop)

    other, _ = record(other_shop, body=b"another body")

    assert not other.replayed


@pytest.mark.parametrize(
    "key", ["", None, 42, "k" * 201, "tab\there", "new\nline", "\x00", "\udcff"]
)
def test_a_wrong_missing_huge_or_unprintable_key_is_refused_before_any_work(shop, key):
    with pytest.raises(IdempotencyKeyInvalid):
        record(shop, key=key, work=lambda: pytest.fail("the work ran"))
    assert not ApiIdempotencyRecord.objects.exists()


def test_a_key_of_200_printable_characters_including_hanzi_is_fine(shop):
    answer, _ = record(shop, key="键" * 200)
    assert answer.status_code == 201


def test_work_done_at_once_is_the_answer_and_the_transaction_is_skipped(shop):
    """`at_once` stores its own answer (here: as the purchase statement would, through the
    slot) and returns it: `work` never runs. When it writes nothing, `work` runs as ever."""
    from points.statements import attached_writes_run

    def at_once(slot):
        write = slot.attached(
            status_code=201, body_sql="jsonb_build_object('n', 1)", body_params=[]
        )
        stored = attached_writes_run([write], txn_id=1)["api_answer"]
        return 201, stored

    answer, calls = record(shop, at_once=at_once)
    assert (answer.status_code, calls) == (201, [])
    stored = ApiIdempotencyRecord.objects.get()
    assert (stored.key, stored.response) == ("key-1", {"n": 1})

    fallback, calls = record(shop, key="key-2", at_once=lambda slot: None)
    assert (fallback.body, calls) == ({"done": 1}, [1])

    again, calls = record(shop, at_once=at_once)  # the stored answer wins the unique index
    assert again.replayed and calls == []
