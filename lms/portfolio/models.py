from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.catalog.models import Level
from lms.database import UTCDateTime, utcnow
from lms.extensions import Model


class Portfolio(Model):
    __tablename__ = "portfolios"
    __table_args__ = (UniqueConstraint("user_id", "level_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    level_id: Mapped[int] = mapped_column(ForeignKey("levels.id"))
    artifact_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # submission ids, in the learner's order
    reflections: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # objective code -> text
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    share_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    shared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    level: Mapped[Level] = relationship()
