"""Two units of work at once, on two real connections: the first does its work and holds it,
uncommitted, while the second starts in a thread with a session of its own (as another
request would); the second must wait for the first, then finish without an error once the
first commits."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask
from sqlalchemy.orm import Session

from lms.extensions import db

T = TypeVar("T")
U = TypeVar("U")


def second_waits_for_first(app: Flask, first: Callable[[Session], T], second: Callable[[Session], U]) -> tuple[T, U]:
    """What ``first`` and ``second`` returned (plain values: their sessions are closed)."""
    one, two = Session(db.engine), Session(db.engine)
    failed: list[BaseException] = []
    answers: list[U] = []

    def run_second() -> None:
        try:
            with app.app_context():
                answers.append(second(two))
                two.commit()
        except BaseException as error:  # noqa: BLE001 - reported below, in the test's thread
            failed.append(error)
        finally:
            two.close()

    other = threading.Thread(target=run_second)
    try:
        answer = first(one)
        one.flush()
        other.start()
        other.join(1.0)
        assert other.is_alive(), "the second did not wait for the first"
        one.commit()
    finally:
        one.close()
        other.join(30)
    assert not other.is_alive() and not failed, failed
    db.session.expire_all()
    return answer, answers[0]


def race(actions: list[Callable[[], Any]]) -> list[Any]:
    """Start every action at once, each in its own thread (each a real request, its own
    connection), and answer their results in order; an exception in any fails the test."""
    barrier = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)
    failed: list[BaseException] = []

    def run(i: int, action: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = action()
        except BaseException as error:  # noqa: BLE001 - reported below, in the test's thread
            failed.append(error)

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failed, failed
    return results
