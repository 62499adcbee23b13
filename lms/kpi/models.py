"""A learner's own business figures against the program's success-metric targets."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.catalog.models import Metric
from lms.database import UTCDateTime, utcnow
from lms.extensions import Model


class KpiEntry(Model):
    """One figure for one metric and one period (the month it describes); recording the
    same period again corrects the figure."""

    __tablename__ = "kpi_entries"
    __table_args__ = (UniqueConstraint("user_id", "metric_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))  # looked up through its unique (user_id, metric_id, period)
    metric_id: Mapped[int] = mapped_column(ForeignKey("metrics.id"))
    period: Mapped[date] = mapped_column(Date)  # first day of the month the figure describes
    value: Mapped[float] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # when the figure was last typed
    # When the month's figure was first recorded: corrections keep it. A baseline's is when
    # the learner's measured progress on the metric starts (``lms.kpi.services``).
    first_recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    metric: Mapped[Metric] = relationship()
