"""Passwords, login throttling and API tokens, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from xrm_core import XRM
from xrm_core.errors import (
    AccessDenied,
    AuthenticationFailed,
    RecordNotFound,
    RecordValidationError,
    TooManyAttempts,
    XRMError,
)
from xrm_core.security.auth import (
    Authenticator,
    api_token_table,
    credential_table,
    login_failure_table,
)
from xrm_core.security.caller import Caller

PASSWORD = "correct horse battery staple"
#: Cheap argon2 parameters: these tests are about the rules around the hash, and
#: the default parameters cost ~0.1 s a hash on purpose.
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
SYSTEM = Caller.system("tests")
START = dt.datetime(2030, 1, 1, 9, 0, tzinfo=dt.UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@dataclass
class Org:
    """An installed organization: an administrator and two basic users."""

    xrm: XRM
    clock: Clock
    admin: uuid.UUID
    ada: uuid.UUID
    bob: uuid.UUID

    def auth(self, caller: Caller | None = SYSTEM, **options: Any) -> Authenticator:
        options = {"clock": self.clock, "hasher": FAST, **options}
        return Authenticator(
            self.xrm.db, self.xrm.metadata_service, self.xrm.security, caller, **options
        )

    def rows(self, table: sa.Table) -> list[dict[str, Any]]:
        with self.xrm.db.transaction(write=False) as conn:
            return [dict(row) for row in conn.execute(sa.select(table)).mappings()]


@pytest.fixture
def org(xrm: XRM) -> Org:
    xrm.security.install()
    return Org(
        xrm,
        Clock(),
        admin=xrm.security.create_user("admin", roles=["System Administrator"]),
        ada=xrm.security.create_user("ada", roles=["Basic User"]),
        bob=xrm.security.create_user("bob", roles=["Basic User"]),
    )


def failure(call: Callable[[], object]) -> XRMError:
    with pytest.raises(XRMError) as raised:
        call()
    return raised.value


# -- passwords -------------------------------------------------------------


def test_a_user_logs_in_with_the_password_set(org: Org) -> None:
    org.auth().set_password(org.ada, PASSWORD)
    assert org.auth(None).login("ada", PASSWORD) == Caller.user(org.ada)


def test_a_new_password_replaces_the_old(org: Org) -> None:
    auth = org.auth(Caller.user(org.ada))
    auth.set_password(org.ada, PASSWORD)
    auth.set_password(org.ada, "another long passphrase")
    assert isinstance(failure(lambda: auth.login("ada", PASSWORD)), AuthenticationFailed)
    assert auth.login("ada", "another long passphrase").user_id == org.ada
    assert len(org.rows(credential_table)) == 1


def test_the_password_is_stored_only_as_an_argon2id_hash(org: Org) -> None:
    auth = org.auth(hasher=None)  # the parameters production uses
    auth.set_password(org.ada, PASSWORD)
    [row] = org.rows(credential_table)
    assert row["user_id"] == org.ada
    assert row["password_hash"].startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in repr(row)
    assert row["changed_at"] == START


def test_an_older_hash_is_upgraded_at_login(org: Org) -> None:
    org.auth().set_password(org.ada, PASSWORD)
    assert org.auth(hasher=None).login("ada", PASSWORD).user_id == org.ada
    [row] = org.rows(credential_table)
    assert row["password_hash"].startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert org.auth(hasher=None).login("ada", PASSWORD).user_id == org.ada


def test_xrm_auth_hashes_with_the_parameters_the_xrm_is_given(org: Org) -> None:
    org.xrm.password_hasher = FAST
    org.xrm.auth.set_password(org.ada, PASSWORD)
    assert org.xrm.as_user(org.ada).auth.login("ada", PASSWORD).user_id == org.ada
    [row] = org.rows(credential_table)
    assert row["password_hash"].startswith("$argon2id$v=19$m=8,t=1,p=1$")  # and not rehashed
    org.xrm.password_hasher = None  # the defaults: the next login upgrades the hash
    assert org.xrm.auth.login("ada", PASSWORD).user_id == org.ada
    [row] = org.rows(credential_table)
    assert row["password_hash"].startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_every_bad_login_fails_with_the_same_error(org: Org) -> None:
    auth = org.auth()
    auth.set_password(org.ada, PASSWORD)
    auth.set_password(org.bob, PASSWORD)
    org.xrm.records("user").update(org.bob, {"is_active": False})
    errors = [
        failure(lambda: auth.login("ada", "not the password")),
        failure(lambda: auth.login("nobody", PASSWORD)),
        failure(lambda: auth.login("admin", PASSWORD)),  # no password set
        failure(lambda: auth.login("bob", PASSWORD)),  # inactive
        failure(lambda: auth.login("ada", "x" * 5000)),
        failure(lambda: auth.login("", "")),
    ]
    assert {type(e) for e in errors} == {AuthenticationFailed}
    assert {str(e.to_dict()) for e in errors} == {
        "{'code': 'authentication_failed', 'message': 'invalid username or password', "
        "'problems': []}"
    }


def test_usernames_match_exactly(org: Org) -> None:
    auth = org.auth()
    auth.set_password(org.ada, PASSWORD)
    assert isinstance(failure(lambda: auth.login("ADA", PASSWORD)), AuthenticationFailed)


@pytest.mark.parametrize("length", [9, 1025])
def test_a_password_too_short_or_too_long_is_refused(org: Org, length: int) -> None:
    password = "p" * length
    error = failure(lambda: org.auth().set_password(org.ada, password))
    assert isinstance(error, RecordValidationError)
    assert [p.pointer for p in error.problems] == ["/password"]
    assert password not in str(error.to_dict())
    assert org.rows(credential_table) == []


@pytest.mark.parametrize("length", [10, 1024])
def test_passwords_of_10_to_1024_characters_are_accepted(org: Org, length: int) -> None:
    org.auth().set_password(org.ada, "p" * length)
    assert org.auth().login("ada", "p" * length).user_id == org.ada


def test_a_password_for_an_unknown_user_is_refused(org: Org) -> None:
    error = failure(lambda: org.auth().set_password(uuid.uuid4(), PASSWORD))
    assert isinstance(error, RecordNotFound)
    assert org.rows(credential_table) == []


# -- who may manage credentials --------------------------------------------


def test_a_user_manages_their_own_credentials(org: Org) -> None:
    auth = org.auth(Caller.user(org.ada))
    auth.set_password(org.ada, PASSWORD)
    new = auth.create_token(org.ada, name="laptop")
    assert [t.id for t in auth.tokens(org.ada)] == [new.info.id]
    auth.revoke(new.info.id)
    assert auth.tokens(org.ada)[0].revoked_at == START


def test_a_plain_user_cannot_manage_another_users_credentials(org: Org) -> None:
    bobs_token = org.auth().create_token(org.bob, name="bob's")
    ada = org.auth(Caller.user(org.ada))
    attempts: list[Callable[[], object]] = [
        lambda: ada.set_password(org.bob, PASSWORD),
        lambda: ada.create_token(org.bob, name="stolen"),
        lambda: ada.tokens(org.bob),
        lambda: ada.revoke(bobs_token.info.id),
    ]
    assert [type(failure(attempt)) for attempt in attempts] == [AccessDenied] * 4
    assert org.rows(credential_table) == []
    [token] = org.auth().tokens(org.bob)
    assert token.revoked_at is None


def test_an_administrator_manages_anyones_credentials(org: Org) -> None:
    admin = org.auth(Caller.user(org.admin))
    admin.set_password(org.ada, PASSWORD)
    new = admin.create_token(org.ada, name="integration")
    admin.revoke(new.info.id)
    assert [t.revoked_at for t in admin.tokens(org.ada)] == [START]
    assert org.auth(None).login("ada", PASSWORD).user_id == org.ada


def test_without_a_caller_nothing_is_managed(org: Org) -> None:
    unbound = org.auth(None)
    error = failure(lambda: unbound.set_password(org.ada, PASSWORD))
    assert isinstance(error, AccessDenied)
    assert isinstance(failure(lambda: unbound.create_token(org.ada, name="x")), AccessDenied)


# -- throttling --------------------------------------------------------------


def test_a_username_locks_after_repeated_failures(org: Org) -> None:
    auth = org.auth(max_failures=3)
    auth.set_password(org.ada, PASSWORD)
    for _ in range(3):
        assert isinstance(failure(lambda: auth.login("ada", "wrong guess")), AuthenticationFailed)
    locked = failure(lambda: auth.login("ada", PASSWORD))  # even the right password
    assert isinstance(locked, TooManyAttempts)
    assert locked.details == {"retry_after": 900}
    org.clock.advance(minutes=10, seconds=0.5)
    locked = failure(lambda: auth.login("ada", PASSWORD))
    assert locked.details == {"retry_after": 300}  # rounded up: 299.5 s
    org.clock.advance(minutes=5)
    assert auth.login("ada", PASSWORD).user_id == org.ada


def test_attempts_while_locked_do_not_extend_the_lock(org: Org) -> None:
    auth = org.auth(max_failures=2, lockout=dt.timedelta(minutes=1))
    auth.set_password(org.ada, PASSWORD)
    for _ in range(2):
        failure(lambda: auth.login("ada", "wrong guess"))
    for _ in range(3):
        org.clock.advance(seconds=15)
        assert isinstance(failure(lambda: auth.login("ada", "wrong")), TooManyAttempts)
    org.clock.advance(seconds=15)
    assert auth.login("ada", PASSWORD).user_id == org.ada


def test_failures_older_than_the_window_are_forgotten(org: Org) -> None:
    auth = org.auth(max_failures=3, window=dt.timedelta(minutes=15))
    auth.set_password(org.ada, PASSWORD)
    for _ in range(2):
        failure(lambda: auth.login("ada", "wrong guess"))
    org.clock.advance(minutes=15)
    for _ in range(2):
        failure(lambda: auth.login("ada", "wrong guess"))
    assert auth.login("ada", PASSWORD).user_id == org.ada


def test_a_successful_login_resets_the_count(org: Org) -> None:
    auth = org.auth(max_failures=3)
    auth.set_password(org.ada, PASSWORD)
    for _ in range(2):
        failure(lambda: auth.login("ada", "wrong guess"))
    auth.login("ada", PASSWORD)
    for _ in range(2):
        failure(lambda: auth.login("ada", "wrong guess"))
    assert auth.login("ada", PASSWORD).user_id == org.ada
    assert org.rows(login_failure_table) == []


def test_the_count_ignores_the_case_of_the_username(org: Org) -> None:
    auth = org.auth(max_failures=3)
    auth.set_password(org.ada, PASSWORD)
    for name in ("ADA", "Ada", "aDa"):
        failure(lambda name=name: auth.login(name, PASSWORD))
    assert isinstance(failure(lambda: auth.login("ada", PASSWORD)), TooManyAttempts)


def test_unknown_usernames_lock_like_known_ones(org: Org) -> None:
    auth = org.auth(max_failures=2)
    auth.set_password(org.ada, PASSWORD)
    for name in ("ada", "nobody"):
        for _ in range(2):
            failure(lambda name=name: auth.login(name, "wrong guess"))
    ada, nobody = (
        failure(lambda: auth.login("ada", "x")),
        failure(lambda: auth.login("nobody", "x")),
    )
    assert isinstance(ada, TooManyAttempts)
    assert ada.to_dict() == nobody.to_dict()


def test_a_client_locks_across_usernames(org: Org) -> None:
    auth = org.auth(max_failures=3)
    auth.set_password(org.ada, PASSWORD)
    auth.set_password(org.bob, PASSWORD)
    for name in ("admin", "nobody", "carol"):
        failure(lambda name=name: auth.login(name, "guess", client="198.51.100.7"))
    locked = failure(lambda: auth.login("ada", PASSWORD, client="198.51.100.7"))
    assert isinstance(locked, TooManyAttempts)
    assert locked.details == {"retry_after": 900}
    # Other clients, and the usernames themselves, are not locked by it.
    assert auth.login("ada", PASSWORD, client="203.0.113.9").user_id == org.ada
    assert auth.login("bob", PASSWORD).user_id == org.bob


def test_a_good_login_does_not_reset_the_clients_count(org: Org) -> None:
    auth = org.auth(max_failures=3)
    auth.set_password(org.ada, PASSWORD)
    for name in ("bob", "admin"):
        failure(lambda name=name: auth.login(name, "guess", client="198.51.100.7"))
    auth.login("ada", PASSWORD, client="198.51.100.7")
    failure(lambda: auth.login("bob", "guess", client="198.51.100.7"))
    locked = failure(lambda: auth.login("ada", PASSWORD, client="198.51.100.7"))
    assert isinstance(locked, TooManyAttempts)


def test_pruning_forgets_only_what_no_longer_counts(org: Org) -> None:
    auth = org.auth(max_failures=2, window=dt.timedelta(minutes=5), lockout=dt.timedelta(hours=1))
    auth.set_password(org.ada, PASSWORD)
    for _ in range(2):
        failure(lambda: auth.login("ada", "wrong guess"))  # locked for an hour
    failure(lambda: auth.login("bob", "wrong guess"))  # one failure, window of 5 minutes
    assert auth.prune_failures() == 0
    org.clock.advance(minutes=5)
    assert auth.prune_failures() == 1
    assert isinstance(failure(lambda: auth.login("ada", PASSWORD)), TooManyAttempts)
    org.clock.advance(hours=1)
    assert auth.prune_failures() == 1
    assert org.rows(login_failure_table) == []
    assert auth.login("ada", PASSWORD).user_id == org.ada


def test_long_usernames_and_clients_are_counted_too(org: Org) -> None:
    auth = org.auth(max_failures=2)
    name, client = "n" * 5000, "c" * 5000
    for _ in range(2):
        failure(lambda: auth.login(name, "guess", client=client))
    assert isinstance(failure(lambda: auth.login(name, "guess")), TooManyAttempts)
    assert isinstance(failure(lambda: auth.login("ada", "guess", client=client)), TooManyAttempts)
    assert all(len(row["key"]) <= 255 for row in org.rows(login_failure_table))


def test_login_runs_outside_a_transaction(org: Org) -> None:
    # Its failures must commit even though it raises.
    with org.xrm.db.transaction(), pytest.raises(RuntimeError, match="outside"):
        org.auth().login("ada", PASSWORD)


# -- API tokens --------------------------------------------------------------


def test_a_token_authenticates_its_user(org: Org) -> None:
    new = org.auth(Caller.user(org.ada)).create_token(org.ada, name="laptop")
    assert new.token.startswith("xrm_")
    assert len(new.token) == len("xrm_") + 43  # 32 random bytes, base64url
    assert org.auth(None).authenticate(new.token) == Caller.user(org.ada)
    info = new.info
    assert (info.user_id, info.name, info.created_at) == (org.ada, "laptop", START)
    assert info.expires_at == START + dt.timedelta(days=90)
    assert org.auth().tokens(org.ada) == [replace(info, last_used_at=START)]


def test_each_token_is_a_new_secret(org: Org) -> None:
    first, second = (org.auth().create_token(org.ada, name="t") for _ in range(2))
    assert first.token != second.token
    assert org.auth().authenticate(second.token).user_id == org.ada


def test_a_token_is_stored_only_as_its_sha256(org: Org) -> None:
    new = org.auth().create_token(org.ada, name="ci")
    [row] = org.rows(api_token_table)
    assert row["token_hash"] == hashlib.sha256(new.token.encode()).hexdigest()
    assert new.token not in repr(row)
    assert new.token[4:] not in repr(row)
    # Printing or logging the result does not show it either.
    assert new.token not in repr(new)
    assert "token_hash" not in repr(org.auth().tokens(org.ada))


def test_a_token_expires(org: Org) -> None:
    auth = org.auth()
    short = auth.create_token(org.ada, name="short", expires_in=dt.timedelta(hours=1))
    forever = auth.create_token(org.ada, name="forever", expires_in=None)
    org.clock.advance(minutes=59)
    assert auth.authenticate(short.token).user_id == org.ada
    org.clock.advance(minutes=1)
    assert isinstance(failure(lambda: auth.authenticate(short.token)), AuthenticationFailed)
    org.clock.advance(days=3650)
    assert auth.authenticate(forever.token).user_id == org.ada
    assert [t.is_valid(org.clock.now) for t in auth.tokens(org.ada)] == [False, True]


def test_a_revoked_token_no_longer_authenticates(org: Org) -> None:
    auth = org.auth()
    new = auth.create_token(org.ada, name="leaked")
    kept = auth.create_token(org.ada, name="kept")
    auth.revoke(new.info.id)
    org.clock.advance(minutes=1)
    auth.revoke(new.info.id)  # again: nothing changes
    error = failure(lambda: auth.authenticate(new.token))
    assert isinstance(error, AuthenticationFailed)
    assert [(t.name, t.revoked_at) for t in auth.tokens(org.ada)] == [
        ("leaked", START),
        ("kept", None),
    ]
    assert auth.authenticate(kept.token).user_id == org.ada


def test_revoking_an_unknown_token_is_refused(org: Org) -> None:
    assert isinstance(failure(lambda: org.auth().revoke(uuid.uuid4())), RecordNotFound)


def test_an_inactive_users_token_is_refused(org: Org) -> None:
    new = org.auth().create_token(org.ada, name="laptop")
    org.xrm.records("user").update(org.ada, {"is_active": False})
    assert isinstance(failure(lambda: org.auth().authenticate(new.token)), AuthenticationFailed)
    org.xrm.records("user").update(org.ada, {"is_active": True})
    assert org.auth().authenticate(new.token).user_id == org.ada


@pytest.mark.parametrize(
    "token", ["", "Bearer", "xrm_", "xrm_" + "A" * 43, "not-a-token", "xrm_" + "A" * 5000]
)
def test_anything_but_a_real_token_is_refused(org: Org, token: str) -> None:
    org.auth().create_token(org.ada, name="real")
    assert isinstance(failure(lambda: org.auth().authenticate(token)), AuthenticationFailed)


def test_last_use_is_kept_to_the_minute(org: Org) -> None:
    auth = org.auth()
    new = auth.create_token(org.ada, name="busy")
    assert auth.tokens(org.ada)[0].last_used_at is None
    auth.authenticate(new.token)
    org.clock.advance(seconds=30)
    auth.authenticate(new.token)
    assert auth.tokens(org.ada)[0].last_used_at == START
    org.clock.advance(seconds=30)
    auth.authenticate(new.token)
    assert auth.tokens(org.ada)[0].last_used_at == START + dt.timedelta(minutes=1)


@pytest.mark.parametrize(
    ("options", "pointers"),
    [
        ({"name": ""}, ["/name"]),
        ({"name": "n" * 201}, ["/name"]),
        ({"name": "ok", "expires_in": dt.timedelta(0)}, ["/expires_in"]),
        ({"name": " ", "expires_in": dt.timedelta(days=-1)}, ["/name", "/expires_in"]),
    ],
)
def test_a_bad_token_request_is_refused(
    org: Org, options: dict[str, Any], pointers: list[str]
) -> None:
    error = failure(lambda: org.auth().create_token(org.ada, **options))
    assert isinstance(error, RecordValidationError)
    assert [p.pointer for p in error.problems] == pointers
    assert org.rows(api_token_table) == []


def test_a_token_for_an_unknown_user_is_refused(org: Org) -> None:
    error = failure(lambda: org.auth().create_token(uuid.uuid4(), name="ghost"))
    assert isinstance(error, RecordNotFound)
    assert org.rows(api_token_table) == []


# -- secrets stay secret -----------------------------------------------------


def test_no_secret_reaches_the_logs(org: Org, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # Every SQL statement too, with its parameters (SQLAlchemy sets its loggers to WARN).
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    auth = org.auth(max_failures=2)
    auth.set_password(org.ada, PASSWORD)
    auth.login("ada", PASSWORD)
    for _ in range(3):
        failure(lambda: auth.login("ada", "a wrong secret guess"))
    new = auth.create_token(org.ada, name="laptop")
    auth.authenticate(new.token)
    failure(lambda: auth.authenticate(new.token + "x"))
    assert "SELECT" in caplog.text  # the statements were logged
    for secret in (PASSWORD, "a wrong secret guess", new.token, new.token[4:]):
        assert secret not in caplog.text


def test_a_token_revoked_in_another_process_stops_working_within_the_refresh_interval(
    org: Org, db_url: str, tmp_path: Any
) -> None:
    # A token found valid is remembered as long as other security facts are (a second):
    # revoked here, it fails at once; revoked by another process, once that time is up.
    ticks = [0.0]
    org.xrm.security_service.configure_refresh(interval=1.0, clock=lambda: ticks[0])
    auth = org.auth()
    token = auth.create_token(org.ada, name="api").token
    assert auth.authenticate(token).user_id == org.ada

    other = XRM.from_url(db_url, export_dir=tmp_path / "other").as_system("another process")
    (info,) = other.auth.tokens(org.ada)
    other.auth.revoke(info.id)
    other.close()

    ticks[0] += 1.0
    assert isinstance(failure(lambda: auth.authenticate(token)), AuthenticationFailed)

    again = auth.create_token(org.ada, name="again")
    assert auth.authenticate(again.token).user_id == org.ada
    auth.revoke(again.info.id)  # in this process: at once, whatever the clock says
    assert isinstance(failure(lambda: auth.authenticate(again.token)), AuthenticationFailed)
