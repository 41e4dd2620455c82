"""Optimistic concurrency: a write based on a stale version is refused."""

from __future__ import annotations

import pytest

from xrm_core import RecordService, VersionConflict


def test_update_with_the_current_version_succeeds(accounts: RecordService) -> None:
    acme = accounts.create({"name": "Acme"})

    updated = accounts.update(acme["id"], {"name": "Acme Ltd"}, if_version=acme["version"])

    assert updated["name"] == "Acme Ltd"
    assert updated["version"] == 2


def test_update_with_a_stale_version_is_a_conflict(accounts: RecordService) -> None:
    acme = accounts.create({"name": "Acme"})
    accounts.update(acme["id"], {"name": "Acme Ltd"})

    with pytest.raises(VersionConflict) as caught:
        accounts.update(acme["id"], {"name": "Acme Inc"}, if_version=1)

    assert caught.value.code == "version_conflict"
    assert caught.value.details == {
        "id": str(acme["id"]),
        "current_version": 2,
        "your_version": 1,
    }


def test_a_refused_update_changes_nothing(accounts: RecordService) -> None:
    acme = accounts.create({"name": "Acme"})
    current = accounts.update(acme["id"], {"name": "Acme Ltd"})

    with pytest.raises(VersionConflict):
        accounts.update(acme["id"], {"name": "Acme Inc"}, if_version=acme["version"])

    assert accounts.get(acme["id"]) == current


def test_a_version_from_the_future_is_a_conflict_too(accounts: RecordService) -> None:
    acme = accounts.create({"name": "Acme"})

    with pytest.raises(VersionConflict) as caught:
        accounts.update(acme["id"], {"name": "Acme Inc"}, if_version=5)

    assert caught.value.details["current_version"] == 1


def test_two_writers_from_the_same_read_one_wins(accounts: RecordService) -> None:
    read = accounts.create({"name": "Acme"})

    accounts.update(read["id"], {"industry": "food"}, if_version=read["version"])
    with pytest.raises(VersionConflict):
        accounts.update(read["id"], {"industry": "tech"}, if_version=read["version"])

    assert accounts.get(read["id"])["industry"] == "food"


def test_update_without_a_version_always_applies(accounts: RecordService) -> None:
    acme = accounts.create({"name": "Acme"})
    accounts.update(acme["id"], {"name": "Acme Ltd"})

    assert accounts.update(acme["id"], {"name": "Acme Inc"})["version"] == 3


def test_delete_with_the_current_version_succeeds(accounts: RecordService) -> None:
    acme = accounts.create({"name": "Acme"})

    assert accounts.delete(acme["id"], if_version=1).deleted == {"account": 1}
    assert accounts.count() == 0


def test_delete_with_a_stale_version_is_refused(accounts: RecordService) -> None:
    acme = accounts.create({"name": "Acme"})
    current = accounts.update(acme["id"], {"name": "Acme Ltd"})

    with pytest.raises(VersionConflict) as caught:
        accounts.delete(acme["id"], if_version=1)

    assert caught.value.details["current_version"] == 2
    assert accounts.get(acme["id"]) == current


def test_a_dry_run_delete_checks_the_version_too(accounts: RecordService) -> None:
    acme = accounts.create({"name": "Acme"})
    accounts.update(acme["id"], {"name": "Acme Ltd"})

    with pytest.raises(VersionConflict):
        accounts.delete(acme["id"], if_version=1, dry_run=True)
