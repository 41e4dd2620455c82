"""Authentication building blocks: password login with throttling, and API tokens.

Passwords are low-entropy secrets chosen by people, so they are stored as argon2id
hashes (slow and memory-hard on purpose). API tokens are 256-bit random secrets made
here, so a fast SHA-256 of the token is as strong and lets a request find its token by
hash with one indexed query. Neither secret is ever stored, logged or put into an error
(decision 0011). Interfaces turn what this module returns, a :class:`Caller`, into a
bound view: ``xrm.as_user(caller.user_id)``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from functools import cache
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from xrm_core.errors import (
    AccessDenied,
    AuthenticationFailed,
    Problem,
    RecordNotFound,
    RecordValidationError,
    TooManyAttempts,
)
from xrm_core.ids import new_id
from xrm_core.security.caller import Caller
from xrm_core.storage.tables import core_metadata
from xrm_core.storage.types import UTCDateTime

if TYPE_CHECKING:
    from xrm_core.metadata.service import MetadataService
    from xrm_core.security.service import SecurityService
    from xrm_core.storage.database import Database

logger = logging.getLogger(__name__)

MIN_PASSWORD = 10
#: Long enough for any passphrase or password manager; bounds the work one login costs.
MAX_PASSWORD = 1024
TOKEN_PREFIX = "xrm_"
#: ``last_used_at`` is kept to this precision, so that a busy token does not turn every
#: request into a write (on SQLite, writes take the one database-wide write lock).
LAST_USED_PRECISION = dt.timedelta(minutes=1)
_MAX_TOKEN = 200
_MAX_KEY = 255
_MAX_TOKEN_NAME = 200

credential_table = sa.Table(
    "xrm_credential",
    core_metadata,
    # No foreign key: core tables are created before any entity table exists.
    sa.Column("user_id", sa.Uuid, primary_key=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("changed_at", UTCDateTime, nullable=False),
)

api_token_table = sa.Table(
    "xrm_api_token",
    core_metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("user_id", sa.Uuid, nullable=False, index=True),
    sa.Column("name", sa.String(_MAX_TOKEN_NAME), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.Column("last_used_at", UTCDateTime, nullable=True),
)

login_failure_table = sa.Table(
    "xrm_login_failure",
    core_metadata,
    # "user:<username lower-cased>" or "client:<client>"; hashed when too long.
    sa.Column("key", sa.String(_MAX_KEY), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("first_failed_at", UTCDateTime, nullable=False),
    sa.Column("locked_until", UTCDateTime, nullable=True),
)


def utc_now() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class TokenInfo:
    """What is known about an API token, never its secret nor its hash."""

    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None

    def is_valid(self, at: dt.datetime) -> bool:
        """True when the token is neither revoked nor expired at ``at``."""
        return self.revoked_at is None and (self.expires_at is None or at < self.expires_at)


@dataclass(frozen=True)
class NewToken:
    """A token just made: ``token`` is the only time its secret is visible."""

    # Kept out of repr, so that logging the object does not log the secret.
    token: str = field(repr=False)
    info: TokenInfo


@dataclass(frozen=True)
class _Valid:
    """A token found valid, as remembered for a second (see ``SecurityService.remember_token``)."""

    user_id: uuid.UUID
    expires_at: dt.datetime | None
    last_used_at: dt.datetime

    def still(self, now: dt.datetime) -> bool:
        """Valid at ``now`` without asking the database: unexpired, its last use recent."""
        unexpired = self.expires_at is None or now < self.expires_at
        return unexpired and now - self.last_used_at < LAST_USED_PRECISION


class Authenticator:
    """Passwords, logins and API tokens of the users of one database.

    ``caller`` is who manages credentials (:meth:`set_password`, :meth:`create_token`,
    :meth:`revoke`, :meth:`tokens`): the user themself, an administrator or the system
    context. :meth:`login` and :meth:`authenticate` need no caller: they make one.

    A key (a username, a client such as an IP address) is locked for ``lockout`` once
    it has failed ``max_failures`` times within ``window`` of its first failure.
    ``clock`` returns aware datetimes (tests pass their own).
    """

    def __init__(
        self,
        db: Database,
        metadata: MetadataService,
        security: SecurityService,
        caller: Caller | None,
        *,
        clock: Callable[[], dt.datetime] = utc_now,
        max_failures: int = 5,
        window: dt.timedelta = dt.timedelta(minutes=15),
        lockout: dt.timedelta = dt.timedelta(minutes=15),
        hasher: PasswordHasher | None = None,
    ) -> None:
        if max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        if window <= dt.timedelta(0) or lockout <= dt.timedelta(0):
            raise ValueError("window and lockout must be positive")
        self.db = db
        self.metadata = metadata
        self.security = security
        self.caller = caller
        self.clock = clock
        self.max_failures = max_failures
        self.window = window
        self.lockout = lockout
        self.hasher = hasher or _default_hasher()

    # -- passwords -------------------------------------------------------

    def set_password(self, user_id: uuid.UUID, password: str) -> None:
        """Set (or replace) a user's password.

        Raises :class:`AccessDenied` unless the caller is that user, an administrator
        or the system context; :class:`RecordValidationError` (``/password``) when it is
        shorter than 10 or longer than 1024 characters; :class:`RecordNotFound` for an
        unknown user.
        """
        self._require_self_or_administrator(user_id)
        if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise RecordValidationError(
                "the password is not acceptable",
                [Problem("/password", f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters")],
            )
        # Hashed before the transaction: argon2 takes tens of milliseconds on purpose,
        # and a write transaction on SQLite holds the database-wide write lock.
        hashed = self.hasher.hash(password)
        now = self._now()
        with self.db.transaction() as conn:
            self._require_user(conn, user_id)
            values = {"user_id": user_id, "password_hash": hashed, "changed_at": now}
            conn.execute(
                _insert(conn, credential_table)
                .values(values)
                .on_conflict_do_update(
                    index_elements=["user_id"],
                    set_={"password_hash": hashed, "changed_at": now},
                )
            )
        logger.info("password set for user %s by %s", user_id, self.caller)

    def login(self, username: str, password: str, *, client: str = "") -> Caller:
        """The user with this username and password, as a caller.

        Raises :class:`AuthenticationFailed` ("invalid username or password") alike for
        a wrong password, an unknown or inactive user and a user with no password, and
        :class:`TooManyAttempts` (``details["retry_after"]``, in seconds) while the
        username, or ``client`` when given, is locked, whatever the password.

        Failed attempts are counted in a transaction of their own that commits before
        the error is raised, so login cannot run inside an open transaction.
        """
        if self.db.in_transaction:
            raise RuntimeError("login counts failures in its own transaction: call it outside one")
        now = self._now()
        user_key = _key("user", username.lower())
        keys = [user_key, _key("client", client)] if client else [user_key]
        with self.db.transaction(write=False) as conn:
            self._refuse_if_locked(conn, keys, now)
            found = self._password_of(conn, username)
        verified = self._verify(found, password)
        if verified is None:
            with self.db.transaction() as conn:
                for key in keys:
                    self._count_failure(conn, key, now)
            logger.info("login failed (%s)", "known user" if found else "unknown user")
            raise AuthenticationFailed("invalid username or password")
        user_id, stored = verified
        new_hash = self.hasher.hash(password) if self.hasher.check_needs_rehash(stored) else None
        with self.db.transaction() as conn:
            # Only the username's count is forgiven: one good login of their own must
            # not let a client go on guessing other users' passwords.
            t = login_failure_table
            conn.execute(sa.delete(t).where(t.c.key == user_key))
            if new_hash is not None:
                c = credential_table
                # Only if unchanged since it was read: a password set meanwhile wins.
                conn.execute(
                    sa.update(c)
                    .where(c.c.user_id == user_id, c.c.password_hash == stored)
                    .values(password_hash=new_hash)
                )
        logger.info("login of user %s", user_id)
        return Caller.user(user_id)

    def prune_failures(self) -> int:
        """Forget failed attempts that no longer count; return how many keys were forgotten.

        Safe at any time (a maintenance job calls it): a forgotten key behaves exactly as
        it would have, since its window or its lockout is over.
        """
        now = self._now()
        t = login_failure_table
        with self.db.transaction() as conn:
            result = conn.execute(
                sa.delete(t).where(
                    sa.or_(
                        t.c.locked_until <= now,
                        sa.and_(
                            t.c.locked_until.is_(None), t.c.first_failed_at <= now - self.window
                        ),
                    )
                )
            )
        return int(result.rowcount)

    # -- API tokens ------------------------------------------------------

    def create_token(
        self,
        user_id: uuid.UUID,
        *,
        name: str,
        expires_in: dt.timedelta | None = dt.timedelta(days=90),
    ) -> NewToken:
        """Make an API token for ``user_id``; its secret is in the result, and only there.

        ``expires_in=None`` makes a token that never expires. Raises
        :class:`AccessDenied` unless the caller is that user, an administrator or the
        system context; :class:`RecordValidationError` for an empty or long name or a
        non-positive lifetime; :class:`RecordNotFound` for an unknown user.
        """
        self._require_self_or_administrator(user_id)
        problems = []
        if not isinstance(name, str) or not name.strip() or len(name) > _MAX_TOKEN_NAME:
            problems.append(Problem("/name", f"must be 1 to {_MAX_TOKEN_NAME} characters"))
        if expires_in is not None and expires_in <= dt.timedelta(0):
            problems.append(Problem("/expires_in", "must be positive, or None for no expiry"))
        if problems:
            raise RecordValidationError("the token is not acceptable", problems)
        now = self._now()
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        info = TokenInfo(
            id=new_id(),
            user_id=user_id,
            name=name,
            created_at=now,
            expires_at=None if expires_in is None else now + expires_in,
            revoked_at=None,
            last_used_at=None,
        )
        with self.db.transaction() as conn:
            self._require_user(conn, user_id)
            conn.execute(
                sa.insert(api_token_table).values(
                    id=info.id,
                    user_id=user_id,
                    name=name,
                    token_hash=_token_hash(secret),
                    created_at=now,
                    expires_at=info.expires_at,
                )
            )
        logger.info("API token %s made for user %s by %s", info.id, user_id, self.caller)
        return NewToken(secret, info)

    def authenticate(self, token: str) -> Caller:
        """The user an API token stands for, as a caller.

        Raises :class:`AuthenticationFailed` for an unknown, expired or revoked token
        and when its user is gone or inactive. Records when the token was last used
        (to the minute).
        """
        # Not ours (or absurdly long): refused without a query.
        if (
            not isinstance(token, str)
            or not token.startswith(TOKEN_PREFIX)
            or len(token) > _MAX_TOKEN
        ):
            raise AuthenticationFailed("invalid API token")
        digest = _token_hash(token)
        now = self._now()
        remembered = self.security.recall_token(digest)
        if isinstance(remembered, _Valid) and remembered.still(now):
            return Caller.user(remembered.user_id)
        t, users = api_token_table, self._users()
        with self.db.transaction(write=False) as conn:
            row = conn.execute(
                sa.select(t, users.c.is_active)
                .select_from(t.outerjoin(users, users.c.id == t.c.user_id))
                .where(t.c.token_hash == digest)
            ).first()
        if row is None:
            raise AuthenticationFailed("invalid API token")
        if row.revoked_at is not None:
            raise AuthenticationFailed("the API token was revoked")
        if row.expires_at is not None and row.expires_at <= now:
            raise AuthenticationFailed("the API token has expired")
        # A missing user reads as NULL through the outer join; NULL is not active.
        if row.is_active is not True:
            raise AuthenticationFailed("the API token's user is not active")
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION:
            with self.db.transaction() as conn:
                conn.execute(sa.update(t).where(t.c.id == row.id).values(last_used_at=now))
        user_id: uuid.UUID = row.user_id
        last_used = (
            now
            if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION
            else row.last_used_at
        )
        self.security.remember_token(digest, _Valid(user_id, row.expires_at, last_used))
        return Caller.user(user_id)

    def revoke(self, token_id: uuid.UUID) -> None:
        """Revoke a token for good (revoking it again changes nothing).

        Raises :class:`RecordNotFound` for an unknown token and :class:`AccessDenied`
        unless the caller is its user, an administrator or the system context.
        """
        self._require_caller()
        t = api_token_table
        now = self._now()
        with self.db.transaction() as conn:
            user_id = conn.execute(sa.select(t.c.user_id).where(t.c.id == token_id)).scalar()
            if user_id is None:
                raise RecordNotFound(
                    f"no API token with id {token_id}", details={"id": str(token_id)}
                )
            self._require_self_or_administrator(user_id)
            conn.execute(
                sa.update(t)
                .where(t.c.id == token_id, t.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        self.security.forget_tokens()
        logger.info("API token %s revoked by %s", token_id, self.caller)

    def tokens(self, user_id: uuid.UUID) -> list[TokenInfo]:
        """A user's tokens, revoked and expired ones included, oldest first.

        Raises :class:`AccessDenied` unless the caller is that user, an administrator
        or the system context.
        """
        self._require_self_or_administrator(user_id)
        t = api_token_table
        columns = [t.c[f.name] for f in fields(TokenInfo)]
        with self.db.transaction(write=False) as conn:
            rows = conn.execute(
                sa.select(*columns).where(t.c.user_id == user_id).order_by(t.c.created_at, t.c.id)
            ).mappings()
            return [TokenInfo(**row) for row in rows]

    # -- internals -------------------------------------------------------

    def _now(self) -> dt.datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the clock must return aware datetimes")
        return now

    def _require_caller(self) -> Caller:
        if self.caller is None:
            raise AccessDenied("no caller: use xrm.as_user(...) or xrm.as_system(...)")
        return self.caller

    def _require_self_or_administrator(self, user_id: uuid.UUID) -> None:
        caller = self._require_caller()
        if caller.user_id is not None and caller.user_id == user_id:
            return
        if not self.security.is_administrator(caller):
            raise AccessDenied(
                "only the user themself or an administrator may manage a user's credentials",
                details={"user_id": str(user_id)},
            )

    def _users(self) -> sa.Table:
        self.metadata.get("user")  # UnknownEntity until the security entities are installed
        return self.metadata.catalog.table("user")

    def _require_user(self, conn: Connection, user_id: uuid.UUID) -> None:
        users = self._users()
        if conn.execute(sa.select(users.c.id).where(users.c.id == user_id)).first() is None:
            raise RecordNotFound(f"no user with id {user_id}", details={"id": str(user_id)})

    def _password_of(self, conn: Connection, username: str) -> _Found | None:
        users, c = self._users(), credential_table
        row = conn.execute(
            sa.select(users.c.id, users.c.is_active, c.c.password_hash)
            .select_from(users.outerjoin(c, c.c.user_id == users.c.id))
            .where(users.c.username == username)
        ).first()
        return None if row is None else _Found(row.id, row.is_active is True, row.password_hash)

    def _verify(self, found: _Found | None, password: str) -> tuple[uuid.UUID, str] | None:
        """``(user id, stored hash)`` when the password is right and the user active."""
        if len(password) > MAX_PASSWORD:
            return None  # no such password can be set; spare the work
        if found is None or found.password_hash is None:
            # Same work as for a real user, so the time taken does not tell who exists.
            _matches(self.hasher, _dummy_hash(self.hasher), password)
            return None
        if not _matches(self.hasher, found.password_hash, password) or not found.active:
            return None
        return found.user_id, found.password_hash

    def _refuse_if_locked(self, conn: Connection, keys: Sequence[str], now: dt.datetime) -> None:
        t = login_failure_table
        locked_until = conn.execute(
            sa.select(t.c.locked_until)
            .where(t.c.key.in_(keys), t.c.locked_until > now)
            .order_by(t.c.locked_until.desc())
            .limit(1)
        ).scalar()
        if locked_until is None:
            return
        retry_after = max(1, math.ceil((locked_until - now).total_seconds()))
        logger.warning("login refused: too many failed attempts")
        raise TooManyAttempts(
            f"too many failed logins; try again in {retry_after} seconds",
            details={"retry_after": retry_after},
        )

    def _count_failure(self, conn: Connection, key: str, now: dt.datetime) -> None:
        t = login_failure_table
        conn.execute(
            _insert(conn, t)
            .values(key=key, failures=0, first_failed_at=now)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        # FOR UPDATE serializes concurrent failures on PostgreSQL; SQLite writers are
        # serialized already (BEGIN IMMEDIATE) and SQLAlchemy leaves the clause out.
        row = conn.execute(sa.select(t).where(t.c.key == key).with_for_update()).one()
        if row.locked_until is not None and row.locked_until > now:
            return
        if (
            row.failures == 0
            or row.locked_until is not None
            or now >= row.first_failed_at + self.window
        ):
            failures, first = 1, now
        else:
            failures, first = row.failures + 1, row.first_failed_at
        locked_until = now + self.lockout if failures >= self.max_failures else None
        conn.execute(
            sa.update(t)
            .where(t.c.key == key)
            .values(failures=failures, first_failed_at=first, locked_until=locked_until)
        )


@dataclass(frozen=True)
class _Found:
    user_id: uuid.UUID
    active: bool
    password_hash: str | None


def _key(kind: str, value: str) -> str:
    key = f"{kind}:{value}"
    if len(key) <= _MAX_KEY:
        return key
    return f"{kind}#sha256:{hashlib.sha256(value.encode()).hexdigest()}"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _matches(hasher: PasswordHasher, hashed: str, password: str) -> bool:
    try:
        return hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
@cache  # one for the process: an API call makes an Authenticator to check its token
def _default_hasher() -> PasswordHasher:
    # argon2-cffi's defaults follow RFC 9106's second recommended option (argon2id,
    # 64 MiB, 3 passes); when they change, logins rehash old passwords.
    return PasswordHasher()


_dummy_hashes: dict[tuple[Any, ...], str] = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash made with ``hasher``'s parameters, of a secret nobody knows."""
    params: tuple[Any, ...] = (
        hasher.time_cost,
        hasher.memory_cost,
        hasher.parallelism,
        hasher.hash_len,
        hasher.salt_len,
        hasher.type,
    )
    if params not in _dummy_hashes:
        _dummy_hashes[params] = hasher.hash(secrets.token_urlsafe(32))
    return _dummy_hashes[params]


def _insert(conn: Connection, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
    """An INSERT that can say ON CONFLICT, in the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
