"""Branching simulations: the loaded scenario (its whole graph kept as a JSON spec) and
each learner's runs through it, with the path they took."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.catalog.models import ContentItem, Module, Phase
from lms.database import UTCDateTime, utcnow
from lms.extensions import Model


class Simulation(ContentItem, Model):
    """A scenario from ``content/simulations/<id>.yml``; ``spec`` holds its nodes as loaded."""

    __tablename__ = "simulations"

    title: Mapped[str] = mapped_column(String(200))
    module_id: Mapped[int] = mapped_column(ForeignKey("modules.id"), index=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id"))
    intro: Mapped[str] = mapped_column(Text, default="")
    objectives: Mapped[list[str]] = mapped_column(JSON, default=list)
    # {"start": node id, "nodes": {id: {"situation", "outcome"?, "choices": [{text, next, consequence, points}]}}}
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    module: Mapped[Module] = relationship()
    phase: Mapped[Phase] = relationship()


class SimulationRun(Model):
    """One play-through: the choices made so far (``path``: [{"node", "choice"}]) and, once it
    reached an end, its score per objective (0-4, the path's mean points)."""

    __tablename__ = "simulation_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    simulation_id: Mapped[int] = mapped_column(ForeignKey("simulations.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    node: Mapped[str] = mapped_column(String(80))  # where the run stands (an end node once finished)
    path: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    scores: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    simulation: Mapped[Simulation] = relationship()
    user: Mapped[User] = relationship()

    @property
    def finished(self) -> bool:
        return self.finished_at is not None
