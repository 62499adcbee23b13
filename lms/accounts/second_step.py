"""A second sign-in step after the password (two-factor sign-in plugs in here).

Accounts knows nothing about what the step asks: a later feature registers a
``SecondStep`` with ``set_second_step`` in its ``init_app``. After a right password the
login view calls it; an answer (a redirect to the step's page) means the person is not
signed in yet, and the step finishes with ``lms.accounts.views.finish_sign_in``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from flask import Flask, current_app
from werkzeug.wrappers import Response

from lms.accounts.models import User

SECOND_STEP_KEY = "lms.sign_in_second_step"


@dataclass(frozen=True)
class PasswordAccepted:
    """What the password step knew: who, whether to keep them signed in, where to go
    next, and the sign-in guard's device nonce for this browser (if it carried one)."""

    user: User
    remember: bool
    next_url: str
    device: str | None


class SecondStep(Protocol):
    def __call__(self, accepted: PasswordAccepted) -> Response | None: ...


def set_second_step(app: Flask, step: SecondStep) -> None:
    app.extensions[SECOND_STEP_KEY] = step


def second_step() -> SecondStep | None:
    found: SecondStep | None = current_app.extensions.get(SECOND_STEP_KEY)
    return found
