import pytest

from points.models import Account
from points.selectors import ledger_verify
from points.services.accounts import issuance_account, member_user_create

_counter = {"n": 0}


def assert_ledger_invariants():
    """Zero-sum, balance = entries, lots consistent, seal chain intact."""
    report = ledger_verify(reconcile=False)  # helpers post without business documents
    assert report.ok, "\n".join(report.problems)


@pytest.fixture(autouse=True)
def _checkpoints_per_test(settings, tmp_path_factory):
    """Each test its own checkpoint file: a flushed database must not meet old checkpoints."""
    settings.LEDGER_CHECKPOINT_DIR = str(tmp_path_factory.mktemp("checkpoints"))


@pytest.fixture
def ledger_ok():
    return assert_ledger_invariants


@pytest.fixture
def make_member(db):
    def make(username=None, email="", **fields):
        _counter["n"] += 1
        username = username or f"member{_counter['n']}"
        return member_user_create(
            username=username, password="pw-12345-long", email=email, **fields
        )

    return make


@pytest.fixture
def merchant(db):
    from merchants.models import Merchant

    return Merchant.objects.create(name="晨光文具 Test", slug="chenguang-test")


@pytest.fixture
def issuer(merchant):
    return issuance_account(merchant)


def accounts_of(member):
    return {a.kind: a for a in Account.objects.filter(member=member)}


@pytest.fixture(autouse=True)
def _forget_system_accounts():
    """Transactional tests flush the database, which production never does: forget the
    per-process caches (committed system accounts, merchant catalogs, the dashboard's rewards
    catalog) around every test."""
    from points.services import accounts, catalog
    from redemption import offer

    accounts._committed_system_accounts.clear()
    catalog.catalog_forget()
    offer._offer = None
    yield
    accounts._committed_system_accounts.clear()
    catalog.catalog_forget()
    offer._offer = None


@pytest.fixture
def sending(django_capture_on_commit_callbacks):
    """`with sending(): ...`: texts are sent when the transaction commits; inside a test's
    transaction that is never, so run the commit callbacks at the end of the block."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture(autouse=True)
def sms_outbox():
    """Texts sent through the locmem SMS backend in this test (like `mailoutbox`)."""
    from points import sms

    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()
