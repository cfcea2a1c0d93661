"""PostgreSQL's group commit (docs/api.md, "Running"): write commands of different users queued together
share one transaction, each answered as it would be alone; what cannot share it is left to run alone.

In process, on a real PostgreSQL database (the PostgreSQL pass of `make test`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest

from service.errors import Aborted, InvalidArgument, NotFound, Unavailable
from service.storage import Store
from service.users.update import prepare_update
from tests import factories
from tests.support import fresh_postgres

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def store() -> Iterator[Store]:
    with fresh_postgres("userservice_group") as url:
        opened = Store(url)
        try:
            yield opened
        finally:
            opened.close()


def rename(user_id: str, display_name: str, **options: Any) -> Any:
    return prepare_update(factories.admin(), factories.update(user_id, ["display_name"], display_name=display_name,
                                                              **options))


def transaction_ids(store: Store, *ids: str) -> set[int]:
    """The transactions that last wrote these users' rows (PostgreSQL's ``xmin``)."""
    with psycopg2.connect(store.database.url) as conn, conn.cursor() as cur:
        cur.execute("SELECT xmin::text FROM users WHERE id = ANY(%s)", (list(ids),))
        return {int(x) for (x,) in cur.fetchall()}


def changes(store: Store, user_id: str) -> int:
    return len(store.users.audit.changes(1, user_id, page_size=100, after_seq=0)[0])


def test_commands_of_different_users_commit_in_one_transaction_each_with_its_own_answer(store: Store) -> None:
    users = [factories.stored_user(store, display_name=f"Before {i}") for i in range(3)]

    answers = store.users.run_many([rename(u.id, f"After {i}") for i, u in enumerate(users)])

    assert [a.display_name for a in answers] == ["After 0", "After 1", "After 2"]  # type: ignore[union-attr]
    assert [store.users.get(1, u.id).display_name for u in users] == ["After 0", "After 1", "After 2"]
    assert [store.users.get(1, u.id).etag for u in users] == [a.etag for a in answers]  # type: ignore[union-attr]
    assert len(transaction_ids(store, *(u.id for u in users))) == 1
    assert [changes(store, u.id) for u in users] == [2, 2, 2]  # created, then renamed: one audit row each


def test_a_row_locked_by_another_transaction_is_left_to_run_alone_and_the_others_commit(store: Store) -> None:
    first, locked, last = (factories.stored_user(store, display_name="Before") for _ in range(3))
    with psycopg2.connect(store.database.url) as holder, holder.cursor() as cur:
        cur.execute("SELECT id FROM users WHERE id = %s FOR UPDATE", (locked.id,))

        answers = store.users.run_many([rename(first.id, "A"), rename(locked.id, "B"), rename(last.id, "C")])

        assert answers[1] is None
        assert [answers[0].display_name, answers[2].display_name] == ["A", "C"]  # type: ignore[union-attr]
        holder.rollback()
    assert store.users.get(1, locked.id).display_name == "Before"
    assert (changes(store, locked.id), changes(store, first.id)) == (1, 2)


def test_a_command_refused_by_its_rules_gets_its_error_and_the_others_commit(store: Store) -> None:
    stale, fresh = factories.stored_user(store), factories.stored_user(store)

    answers = store.users.run_many([rename(stale.id, "Stale", etag='"not-the-etag"'), rename(fresh.id, "Fresh")])

    assert isinstance(answers[0], Aborted) and answers[0].reason == "ETAG_MISMATCH"
    assert answers[1].display_name == "Fresh"  # type: ignore[union-attr]
    assert store.users.get(1, stale.id).etag == stale.etag and changes(store, stale.id) == 1


def test_a_unique_index_refusing_the_shared_transaction_leaves_every_command_to_run_alone(store: Store) -> None:
    one, two = factories.stored_user(store), factories.stored_user(store)
    taken = factories.name("taken")
    same_name = [prepare_update(factories.admin(), factories.update(u.id, ["username"], username=taken))
                 for u in (one, two)]

    answers = store.users.run_many(same_name)

    assert answers == [None, None]
    assert [store.users.get(1, u.id).username for u in (one, two)] == [one.username, two.username]
    assert (changes(store, one.id), changes(store, two.id)) == (1, 1)  # nothing of it was written


def test_validate_only_and_missing_users_are_left_to_run_alone(store: Store) -> None:
    kept, renamed = factories.stored_user(store, display_name="Kept"), factories.stored_user(store)

    answers = store.users.run_many([rename(kept.id, "Checked", validate_only=True), rename("usr_missing", "X"),
                                    rename(renamed.id, "Renamed")])

    assert answers[:2] == [None, None] and answers[2].display_name == "Renamed"  # type: ignore[union-attr]
    assert store.users.get(1, kept.id).display_name == "Kept"
    with pytest.raises(NotFound):
        store.users.run(rename("usr_missing", "X"))


def test_request_ids_replay_inside_a_group_without_writing_again(store: Store) -> None:
    users = [factories.stored_user(store) for _ in range(3)]
    ids = ["0b5e8f6e-3c1d-4a7e-9b2f-5d6c7e8f9a01", "1c6f9a7f-4d2e-4b8f-8c3a-6e7d8f9a0b12"]
    first = store.users.run_many([rename(users[0].id, "Once", request_id=ids[0]),
                                  rename(users[1].id, "Twice", request_id=ids[1]), rename(users[2].id, "Other")])

    again = store.users.run_many([rename(users[0].id, "Once", request_id=ids[0]),
                                  rename(users[1].id, "Twice", request_id=ids[1]), rename(users[2].id, "Other 2")])

    assert again[:2] == first[:2]
    assert [store.users.get(1, u.id).etag for u in users[:2]] == [u.etag for u in first[:2]]  # type: ignore[union-attr]
    assert [changes(store, u.id) for u in users] == [2, 2, 3]


def test_a_request_id_reused_for_another_request_is_refused_in_a_group_and_the_others_commit(store: Store) -> None:
    user, other = factories.stored_user(store), factories.stored_user(store)
    request_id = "2d7a0b8c-5e3f-4c9a-9d4b-7f8e9a0b1c23"
    store.users.run_many([rename(user.id, "First", request_id=request_id), rename(other.id, "Other")])

    answers = store.users.run_many([rename(user.id, "Changed", request_id=request_id), rename(other.id, "Other 2")])

    assert isinstance(answers[0], InvalidArgument) and answers[0].reason == "REQUEST_ID_REUSED"
    assert answers[1].display_name == "Other 2"  # type: ignore[union-attr]
    assert store.users.get(1, user.id).display_name == "First"


def test_a_connection_lost_under_a_group_is_every_commands_unavailable_and_none_runs_again(store: Store) -> None:
    users = [factories.stored_user(store, display_name="Before") for _ in range(3)]
    name = store.database.url.rsplit("/", 1)[1]
    with psycopg2.connect(store.database.url) as admin, admin.cursor() as cur:  # what a failover does
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
                    " AND pid <> pg_backend_pid()", (name,))

    answers = store.users.run_many([rename(u.id, "Lost") for u in users])

    assert [(type(a), getattr(a, "reason", None)) for a in answers] == [(Unavailable, "DATABASE_UNAVAILABLE")] * 3
    assert [store.users.get(1, u.id).display_name for u in users] == ["Before"] * 3
    assert [changes(store, u.id) for u in users] == [1, 1, 1]
    assert [a.display_name for a in store.users.run_many([rename(u.id, "After") for u in users])] == ["After"] * 3  # type: ignore[union-attr]
