"""The peer issue 20 measures REST PATCH against: the user-update service a Python team writes by hand.

    .venv/bin/python -m bench.fastapi_peer --database PATH --port P [--build N]

FastAPI with a sync endpoint (run on its thread pool, as most such services are), SQLAlchemy 2's ORM (one
``Session`` per request, ``session.get`` then attribute updates), a pydantic model of the patchable fields
applied with ``model_dump(exclude_unset=True)`` (the partial update FastAPI's tutorial teaches), SQLite in
WAL mode, one uvicorn worker. It answers ``PATCH /v1/users/{id}`` with the JSON body ``make bench`` sends
(``displayName``, ``givenName``), returns the user, and ignores the key and the ``updateMask`` (less work
than the service does: no key check, no mask, no etag, no audit row, no whole-user validation).
``--build N`` first makes its database: N users with the ids of ``bench.dataset``.

Written here rather than taken from a published project: no maintained FastAPI user service answers this
request shape, and the comparison needs one run on the same machine, rounds alternating with the service.
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from sqlalchemy import String, create_engine, event, insert
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from bench import dataset


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    given_name: Mapped[str] = mapped_column(String(200), default="")
    family_name: Mapped[str] = mapped_column(String(200), default="")
    update_time: Mapped[datetime.datetime]


class Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


class UserPatch(Camel):
    display_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None


class UserOut(Camel):
    id: str
    username: str
    email: str
    display_name: str
    given_name: str
    family_name: str
    update_time: datetime.datetime


def engine_for(path: Path) -> Any:
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")

    return engine


def build(path: Path, n: int) -> None:
    engine = engine_for(path)
    Base.metadata.create_all(engine)
    width, now = dataset.digits(n), datetime.datetime.now(datetime.UTC)
    with Session(engine) as session, session.begin():
        session.execute(insert(User), [
            {"id": dataset.user_id(i, width), "username": f"bench{i:0{width}d}", "email": f"bench{i}@example.com",
             "update_time": now} for i in range(n)])
    engine.dispose()


def app_for(path: Path) -> FastAPI:
    engine = engine_for(path)
    app = FastAPI()

    @app.patch("/v1/users/{user_id}", response_model=UserOut, response_model_by_alias=True)
    def update_user(user_id: str, patch: UserPatch) -> UserOut:
        with Session(engine) as session, session.begin():
            user = session.get(User, user_id)
            if user is None:
                raise HTTPException(status_code=404, detail="user not found")
            for name, value in patch.model_dump(exclude_unset=True).items():
                setattr(user, name, value)
            user.update_time = datetime.datetime.now(datetime.UTC)
            session.flush()
            return UserOut.model_validate(user)

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--build", type=int, default=0, metavar="N")
    args = parser.parse_args(argv)
    if args.build:
        build(args.database, args.build)
    # uvicorn's "Uvicorn running on ..." line (info level) says it listens; access lines stay off.
    uvicorn.run(app_for(args.database), host="127.0.0.1", port=args.port, log_level="info", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
