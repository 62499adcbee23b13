"""Files kept in the database (``FILE_STORAGE=database``): one row per file with its size
and sha256, its bytes in fixed-size chunks so no statement moves a whole file at once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from lms.database import UTCDateTime, utcnow
from lms.extensions import Model


class StoredFile(Model):
    """A stored file, named by its key (an attachment's ``stored_name``)."""

    __tablename__ = "stored_files"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    chunks: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StoredChunk(Model):
    """One piece of a stored file, in order of ``seq`` (0, 1, ...)."""

    __tablename__ = "stored_file_chunks"

    file_key: Mapped[str] = mapped_column(String(300), ForeignKey("stored_files.key", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
