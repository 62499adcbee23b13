"""Storage backends for uploaded files: a registry of small classes keyed by the value of
``FILE_STORAGE``.

- ``local`` (the default): files under the upload folder (``UPLOAD_DIR``, else
  ``instance/uploads``). One machine's disk: several app nodes would each see their own.
- ``database``: files in the database itself (``stored_files`` and ``stored_file_chunks``,
  bytea on PostgreSQL, BLOB on SQLite) in chunks of ``CHUNK_BYTES``, so every node that
  shares the database reads every file, and backups carry them inside the database dump.

A file is named by its key (an attachment's ``stored_name``, e.g. ``12/3f2a….pdf``).
Reading streams chunk by chunk; each chunk opens and closes its own file handle or
database connection, so a download abandoned half-way holds nothing open, and a download
can stream after the request's session has ended (zips built in the response body).

``Storage`` is what the features use: writes go to the configured backend; reads and
deletes also look in the other backends, so files not yet moved by ``flask lms move-files``
stay readable and are purged too."""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import ClassVar

from flask import Flask, current_app, has_app_context
from sqlalchemy import Connection, Engine, delete, func, insert, select

from lms.database import DbSession, utcnow
from lms.extensions import db
from lms.storage.models import StoredChunk, StoredFile

CHUNK_BYTES = 256 * 1024
MAX_KEY = 300


class StorageError(Exception):
    """A key that cannot name a stored file, or a storage that is not configured right."""


def check_key(key: str) -> str:
    """A relative POSIX path without ``..``, hidden parts or backslashes, at most 300 characters."""
    parts = PurePosixPath(key).parts
    if (not key or len(key) > MAX_KEY or "\\" in key or "\x00" in key or key.startswith("/")
            or any(part in {"", ".", ".."} or part.startswith(".") for part in parts)):
        raise StorageError(f"{key!r} cannot name a stored file")
    return key


def sha256_of(chunks: Iterator[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


class FileStore(ABC):
    """One place files are kept."""

    name: ClassVar[str]

    @classmethod
    @abstractmethod
    def for_app(cls, app: Flask) -> FileStore:
        """This backend as ``app`` configures it."""

    @abstractmethod
    def describe(self) -> str:
        """Where the files are, for messages."""

    @abstractmethod
    def put(self, key: str, data: bytes, session: DbSession | None = None) -> None:
        """Store ``data`` under ``key``, replacing what was there. With ``session``, as part
        of that session's transaction where the backend can (the database)."""

    def write(self, key: str, chunks: Iterable[bytes]) -> tuple[int, str]:
        """Store what ``chunks`` yields under ``key`` (replacing what was there), never the
        whole file in memory; nobody reads a half-written file. Returns (size, sha256)."""
        data = b"".join(chunks)
        self.put(key, data)
        return len(data), hashlib.sha256(data).hexdigest()

    @abstractmethod
    def size(self, key: str) -> int | None:
        """The stored file's size in bytes, or None if there is no such file."""

    @abstractmethod
    def chunks(self, key: str) -> Iterator[bytes]:
        """The file's content in pieces of at most ``CHUNK_BYTES``; nothing if it is gone."""

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Remove the file; False if there was none."""

    @abstractmethod
    def list_keys(self) -> list[str]:
        """Every stored key, sorted."""

    def read(self, key: str) -> bytes | None:
        if self.size(key) is None:
            return None
        return b"".join(self.chunks(key))

    def sha256(self, key: str) -> str | None:
        if self.size(key) is None:
            return None
        return sha256_of(self.chunks(key))[0]


class LocalStore(FileStore):
    """Files under a folder of this machine."""

    name = "local"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def for_app(cls, app: Flask) -> LocalStore:
        return cls(upload_folder(app))

    def describe(self) -> str:
        return f"the folder {self.folder}"

    def path(self, key: str) -> Path | None:
        """Where ``key`` lives, or None if it would lie outside the folder."""
        try:
            check_key(key)
        except StorageError:
            return None
        path = (self.folder / key).resolve()
        return path if path.is_relative_to(self.folder.resolve()) else None

    def put(self, key: str, data: bytes, session: DbSession | None = None) -> None:
        path = self.path(key)
        if path is None:
            raise StorageError(f"{key!r} cannot name a stored file")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")  # hidden: never listed as a key
        try:
            partial.write_bytes(data)
            os.replace(partial, path)  # readers see the old file or the whole new one
        finally:
            partial.unlink(missing_ok=True)

    def write(self, key: str, chunks: Iterable[bytes]) -> tuple[int, str]:
        path = self.path(key)
        if path is None:
            raise StorageError(f"{key!r} cannot name a stored file")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
        digest, size = hashlib.sha256(), 0
        try:
            with partial.open("wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        return size, digest.hexdigest()

    def size(self, key: str) -> int | None:
        path = self.path(key)
        if path is None or not path.is_file():
            return None
        return path.stat().st_size

    def chunks(self, key: str) -> Iterator[bytes]:
        path = self.path(key)
        if path is None:
            return
        offset = 0
        while True:
            try:
                with path.open("rb") as handle:  # closed before the chunk is handed out
                    handle.seek(offset)
                    block = handle.read(CHUNK_BYTES)
            except (FileNotFoundError, IsADirectoryError):
                return
            if not block:
                return
            offset += len(block)
            yield block

    def delete(self, key: str) -> bool:
        path = self.path(key)
        if path is None or not path.is_file():
            return False
        path.unlink(missing_ok=True)
        return True

    def list_keys(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.rglob("*"):
            key = path.relative_to(self.folder).as_posix()
            if path.is_file() and not path.is_symlink() and self.path(key) is not None:
                found.append(key)
        return sorted(found)


class DatabaseStore(FileStore):
    """Files in the database's ``stored_files`` / ``stored_file_chunks`` tables."""

    name = "database"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def for_app(cls, app: Flask) -> DatabaseStore:
        if has_app_context() and current_app._get_current_object() is app:  # type: ignore[attr-defined]
            return cls(db.engine)
        with app.app_context():
            return cls(db.engine)

    def describe(self) -> str:
        return f"the {self.engine.dialect.name} database"

    def _write(self, conn: Connection, key: str, data: bytes) -> None:
        self._remove(conn, key)
        pieces = [data[i:i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]
        conn.execute(insert(StoredFile), [{"key": key, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                                           "chunks": len(pieces), "created_at": utcnow()}])
        if pieces:
            conn.execute(insert(StoredChunk), [{"file_key": key, "seq": n, "data": piece} for n, piece in enumerate(pieces)])

    @staticmethod
    def _remove(conn: Connection, key: str) -> bool:
        conn.execute(delete(StoredChunk).where(StoredChunk.file_key == key))
        return bool(conn.execute(delete(StoredFile).where(StoredFile.key == key)).rowcount)

    def put(self, key: str, data: bytes, session: DbSession | None = None) -> None:
        check_key(key)
        if session is not None:
            self._write(session.connection(), key, data)
            return
        with self.engine.begin() as conn:
            self._write(conn, key, data)

    def write(self, key: str, chunks: Iterable[bytes]) -> tuple[int, str]:
        """Spooled to a temporary file as it is made (memory up to one chunk, then disk), then
        stored in one short transaction, so no write lock is held while the file is made
        (SQLite would lock everyone else out meanwhile); readers see the whole file at the
        commit, or the one it replaces until then."""
        check_key(key)
        digest, size = hashlib.sha256(), 0
        with tempfile.SpooledTemporaryFile(max_size=CHUNK_BYTES) as spool:
            for chunk in chunks:
                spool.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            spool.seek(0)
            with self.engine.begin() as conn:
                self._remove(conn, key)
                count = -(-size // CHUNK_BYTES)
                conn.execute(insert(StoredFile), [{"key": key, "size": size, "sha256": digest.hexdigest(), "chunks": count,
                                                   "created_at": utcnow()}])
                for seq in range(count):
                    conn.execute(insert(StoredChunk), [{"file_key": key, "seq": seq, "data": spool.read(CHUNK_BYTES)}])
        return size, digest.hexdigest()

    def size(self, key: str) -> int | None:
        with self.engine.connect() as conn:
            return conn.scalar(select(StoredFile.size).where(StoredFile.key == key))

    def chunks(self, key: str) -> Iterator[bytes]:
        with self.engine.connect() as conn:
            count = conn.scalar(select(StoredFile.chunks).where(StoredFile.key == key))
        for seq in range(count or 0):
            with self.engine.connect() as conn:  # one short read per chunk: nothing held between them
                block = conn.scalar(select(StoredChunk.data).where(StoredChunk.file_key == key, StoredChunk.seq == seq))
            if block is None:  # deleted meanwhile
                return
            yield bytes(block)

    def delete(self, key: str) -> bool:
        with self.engine.begin() as conn:
            return self._remove(conn, key)

    def list_keys(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.scalars(select(StoredFile.key).order_by(StoredFile.key)))

    def sha256(self, key: str) -> str | None:
        """Worked out again from the chunks (not the hash recorded at upload), so it checks the bytes."""
        return super().sha256(key)

    def totals(self) -> tuple[int, int]:
        with self.engine.connect() as conn:
            files, size = conn.execute(select(func.count(), func.coalesce(func.sum(StoredFile.size), 0))).one()
        return int(files), int(size)


BACKENDS: dict[str, type[FileStore]] = {backend.name: backend for backend in (LocalStore, DatabaseStore)}


def upload_folder(app: Flask | None = None) -> Path:
    """The local upload folder: ``UPLOAD_DIR``, else ``instance/uploads``."""
    app = app or current_app
    return Path(app.config.get("UPLOAD_DIR") or Path(app.instance_path) / "uploads")


def backend_name(app: Flask) -> str:
    name = str(app.config.get("FILE_STORAGE") or "local")
    if name not in BACKENDS:
        raise StorageError(f"FILE_STORAGE={name!r}: choose one of {', '.join(BACKENDS)}")
    return name


@dataclass(frozen=True)
class Opened:
    """A stored file found for reading: its size, and its content in chunks."""

    size: int
    chunks: Iterator[bytes]


@dataclass(frozen=True)
class Storage:
    """The configured backend for writing; it and the others for reading and deleting."""

    primary: FileStore
    others: tuple[FileStore, ...] = field(default=())

    @property
    def stores(self) -> tuple[FileStore, ...]:
        return (self.primary, *self.others)

    def save(self, key: str, data: bytes, session: DbSession | None = None) -> None:
        self.primary.put(key, data, session)

    def write(self, key: str, chunks: Iterable[bytes]) -> tuple[int, str]:
        """A file too big to hold in memory (an export), written as it is made: (size, sha256)."""
        return self.primary.write(key, chunks)

    def open(self, key: str) -> Opened | None:
        for store in self.stores:
            size = store.size(key)
            if size is not None:
                return Opened(size, store.chunks(key))
        return None

    def read(self, key: str) -> bytes | None:
        opened = self.open(key)
        return None if opened is None else b"".join(opened.chunks)

    def delete(self, key: str) -> bool:
        deleted = [store.delete(key) for store in self.stores]  # every copy, wherever it is
        return any(deleted)


def store_for(name: str, app: Flask | None = None) -> FileStore:
    if name not in BACKENDS:
        raise StorageError(f"{name!r}: choose one of {', '.join(BACKENDS)}")
    return BACKENDS[name].for_app(app or current_app._get_current_object())  # type: ignore[attr-defined]


def file_storage(app: Flask | None = None) -> Storage:
    """The app's storage: ``FILE_STORAGE``'s backend first, then the others."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    primary = backend_name(app)
    return Storage(store_for(primary, app), tuple(store_for(name, app) for name in BACKENDS if name != primary))


def as_storage(where: Storage | Path) -> Storage:
    """A ``Storage`` as given, or a folder as local storage (callers that name a folder)."""
    return where if isinstance(where, Storage) else Storage(LocalStore(where))
