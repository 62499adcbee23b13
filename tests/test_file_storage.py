"""Uploads through the storage interface (lms/storage): local disk and the database, chosen by
FILE_STORAGE; uploads, downloads, the data export, the purge, erasure and backups on both;
``flask lms move-files`` between them, checked by sha256 and safe to run again."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from lms.cohorts.models import Cohort
from lms.coursework.models import Attachment
from lms.database import utcnow
from lms.extensions import db
from lms.storage.backends import CHUNK_BYTES, DatabaseStore, FileStore, LocalStore, StorageError, file_storage
from lms.storage.models import StoredChunk, StoredFile
from lms.storage.services import move_files
from tests.test_backup import _target, cli, target  # noqa: F401 - _target and target are fixtures

CASE = "mlops-case-coldwatch"
BACKENDS = ["local", "database"]
# Three chunks (the last one short) and bytes of every value, so nothing relies on text.
BIG = b"%PDF-1.4\n" + bytes(range(256)) * ((2 * CHUNK_BYTES + 1000) // 256) + b"\n%%EOF\n"


@pytest.fixture()
def uploads(app: Flask, tmp_path: Path) -> Path:
    """A private upload folder: move-files moves everything in it."""
    folder = tmp_path / "uploads"
    app.config["UPLOAD_DIR"] = str(folder)
    return folder


@pytest.fixture()
def people(app: Flask, uploads: Path, loaded, make_cohort, enrol_learner, make_user, login) -> dict[str, Any]:
    instructor = make_user(name="Ines Instructor")
    cohort = make_cohort(months_ago=5, instructors=[instructor])
    learner = enrol_learner(cohort, name="Lea Learner")
    clients = {}
    for name, person in (("learner", learner), ("instructor", instructor)):
        clients[name] = app.test_client()
        login(clients[name], person)
    return {"cohort": cohort, "user": learner, **clients}


def post_file(client: Any, name: str, data: bytes, action: str = "save") -> Any:
    """The file on the learner's work; handed in with ``action="submit"`` (the cohort's staff
    read only files handed in)."""
    boundary, body = encode_multipart({"body": "See the file.", "action": action,
                                       "file": FileStorage(io.BytesIO(data), filename=name)})
    return client.post(f"/assignments/{CASE}/work", data=body, content_type=f"multipart/form-data; boundary={boundary}")


def attachments() -> list[Attachment]:
    db.session.expire_all()
    return list(db.session.scalars(select(Attachment).order_by(Attachment.id)))


def stored_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(StoredFile)) or 0


def local_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --------------------------------------------------------------------------- the backends


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, app: Flask, uploads: Path) -> Iterator[FileStore]:
    app.config["FILE_STORAGE"] = request.param
    yield file_storage(app).primary


def test_each_backend_stores_streams_in_chunks_replaces_and_deletes(store: FileStore) -> None:
    store.put("7/plan.pdf", BIG)
    assert store.size("7/plan.pdf") == len(BIG)
    pieces = list(store.chunks("7/plan.pdf"))
    assert [len(p) for p in pieces] == [CHUNK_BYTES, CHUNK_BYTES, len(BIG) - 2 * CHUNK_BYTES]
    assert b"".join(pieces) == store.read("7/plan.pdf") == BIG
    assert store.sha256("7/plan.pdf") == hashlib.sha256(BIG).hexdigest()
    store.put("7/plan.pdf", b"shorter")
    store.put("8/notes.txt", b"notes")
    assert store.read("7/plan.pdf") == b"shorter" and store.list_keys() == ["7/plan.pdf", "8/notes.txt"]
    assert store.delete("7/plan.pdf") and not store.delete("7/plan.pdf")
    assert store.read("7/plan.pdf") is None and store.size("7/plan.pdf") is None and list(store.chunks("7/plan.pdf")) == []
    for bad in ("../escape.txt", "/etc/passwd", ".hidden/x", "a/../../b", "", "x" * 301):
        with pytest.raises(StorageError):
            store.put(bad, b"no")
        assert store.read(bad) is None


def test_each_backend_writes_a_file_as_it_is_made(store: FileStore) -> None:
    pieces = (BIG[i:i + 1000] for i in range(0, len(BIG), 1000))  # an export, a row at a time
    assert store.write("exports/job-1.csv", pieces) == (len(BIG), hashlib.sha256(BIG).hexdigest())
    assert store.read("exports/job-1.csv") == BIG and store.list_keys() == ["exports/job-1.csv"]
    assert store.write("exports/job-1.csv", iter([b"a,b\n"])) == (4, hashlib.sha256(b"a,b\n").hexdigest())
    assert store.read("exports/job-1.csv") == b"a,b\n"
    assert store.write("exports/empty.csv", iter([])) == (0, hashlib.sha256(b"").hexdigest())
    assert store.read("exports/empty.csv") == b""


def test_a_download_abandoned_half_way_holds_nothing_open(store: FileStore) -> None:
    store.put("9/big.pdf", BIG)
    stream = store.chunks("9/big.pdf")
    assert next(stream) == BIG[:CHUNK_BYTES]
    stream.close()  # ResourceWarning (an error here) if a handle or connection were left open


def test_an_unknown_backend_fails_when_the_app_is_built(make_app: Callable[..., Flask]) -> None:
    with pytest.raises(StorageError, match="FILE_STORAGE='s3'"):
        make_app(FILE_STORAGE="s3")


# --------------------------------------------------------------------------- uploads and downloads


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_upload_is_stored_where_configured_and_downloads_streamed(app: Flask, people, uploads: Path, backend: str) -> None:
    app.config["FILE_STORAGE"] = backend
    assert post_file(people["learner"], "plan.pdf", BIG, "submit").status_code == 302
    [item] = attachments()
    if backend == "database":
        assert local_files(uploads) == [] and stored_rows() == 1
        row = db.session.get(StoredFile, item.stored_name)
        assert row is not None and (row.size, row.sha256, row.chunks) == (len(BIG), hashlib.sha256(BIG).hexdigest(), 3)
    else:
        assert local_files(uploads) == [item.stored_name] and stored_rows() == 0
    for who in ("learner", "instructor"):
        response = people[who].get(f"/attachments/{item.id}")
        assert response.status_code == 200 and response.is_streamed and response.content_length == len(BIG)
        assert response.get_data() == BIG and response.headers["Cache-Control"] == "private, no-store"
        response.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_rolled_back_upload_leaves_no_row_behind(app: Flask, people, uploads: Path, backend: str) -> None:
    app.config["FILE_STORAGE"] = backend
    assert post_file(people["learner"], "plan.exe", b"MZ").status_code == 400  # refused type: nothing stored
    assert post_file(people["learner"], "plan.pdf", b"%PDF-1.4 ok").status_code == 302
    assert len(attachments()) == 1 and stored_rows() == (backend == "database")


def test_reads_fall_back_to_files_not_yet_moved(app: Flask, people, uploads: Path) -> None:
    assert post_file(people["learner"], "plan.pdf", BIG, "submit").status_code == 302  # local, the default
    [item] = attachments()
    app.config["FILE_STORAGE"] = "database"  # switched before move-files ran
    response = people["instructor"].get(f"/attachments/{item.id}")
    assert response.get_data() == BIG
    response.close()
    assert people["instructor"].get("/attachments/999999").status_code == 404


# --------------------------------------------------------------------------- move-files


def test_move_files_both_ways_checked_by_hash_and_safe_to_run_again(app: Flask, people, uploads: Path) -> None:
    assert post_file(people["learner"], "plan.pdf", BIG).status_code == 302
    assert post_file(people["learner"], "notes.txt", b"short notes", "submit").status_code == 302
    items = attachments()
    keys = sorted(a.stored_name for a in items)
    assert local_files(uploads) == keys

    dry = cli(app, "move-files", "--to", "database", "--dry-run")
    assert dry.exit_code == 0 and "Would move 2 files" in dry.output and local_files(uploads) == keys
    moved = cli(app, "move-files", "--to", "database")
    assert moved.exit_code == 0, moved.output
    assert "Moved 2 files (0.5 MB)" in moved.output and "0 already there" in moved.output and "0 failed" in moved.output
    assert "set FILE_STORAGE=database" in moved.output
    assert local_files(uploads) == [] and stored_rows() == 2
    assert {r.key: r.sha256 for r in db.session.scalars(select(StoredFile))} == {
        items[0].stored_name: hashlib.sha256(BIG).hexdigest(), items[1].stored_name: hashlib.sha256(b"short notes").hexdigest()}
    again = cli(app, "move-files", "--to", "database")
    assert again.exit_code == 0 and "Moved 0 files" in again.output

    app.config["FILE_STORAGE"] = "database"
    response = people["instructor"].get(f"/attachments/{items[0].id}")
    assert response.get_data() == BIG
    response.close()

    # Back to disk, as an interrupted run would leave it: copied, the source kept; the next run only removes.
    kept = cli(app, "move-files", "--to", "local", "--keep-source")
    assert kept.exit_code == 0 and "Copied 2 files" in kept.output and "set FILE_STORAGE=local" in kept.output
    assert local_files(uploads) == keys and stored_rows() == 2
    finish = cli(app, "move-files", "--to", "local")
    assert finish.exit_code == 0 and "Moved 0 files" in finish.output and "2 already there with the same sha256" in finish.output
    assert stored_rows() == 0 and (uploads / items[0].stored_name).read_bytes() == BIG


class Corrupting(DatabaseStore):
    """A target that damages what it is given (a bad disk, a broken driver)."""

    def put(self, key: str, data: bytes, session: Any = None) -> None:
        super().put(key, data[:-1] + bytes([data[-1] ^ 1]), session)


def test_a_copy_that_does_not_match_is_reported_and_the_original_kept(app: Flask, uploads: Path) -> None:
    source = LocalStore(uploads)
    source.put("3/a.pdf", BIG)
    source.put("3/b.txt", b"fine")
    with app.app_context():
        target = Corrupting(db.engine)
        report = move_files(source, target)
    assert (report.moved, report.failed, report.failures) == (0, 2, ["3/a.pdf", "3/b.txt"])
    assert source.read("3/a.pdf") == BIG and source.read("3/b.txt") == b"fine"


def test_move_files_reports_a_failure_with_a_nonzero_exit(app: Flask, uploads: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    LocalStore(uploads).put("4/a.txt", b"abc")
    honest = DatabaseStore.put
    monkeypatch.setattr(DatabaseStore, "put", lambda self, key, data, session=None: honest(self, key, data + b"!", session))
    result = cli(app, "move-files", "--to", "database")
    assert result.exit_code == 1 and "1 failed" in result.output and "4/a.txt" in result.output
    assert "could not be copied intact" in result.output and (uploads / "4" / "a.txt").read_bytes() == b"abc"


# --------------------------------------------------------------------------- data rights and backups


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_export_purge_and_erasure_reach_files_in_either_storage(app: Flask, people, uploads: Path, make_user, login,
                                                                    backend: str) -> None:
    app.config["FILE_STORAGE"] = backend
    assert post_file(people["learner"], "plan.pdf", BIG).status_code == 302
    [item] = attachments()
    response = people["learner"].post("/account/data/export")
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    response.close()
    assert archive.read(f"files/submission-{item.submission_id}/{item.id}-plan.pdf") == BIG
    assert "MISSING.txt" not in archive.namelist()

    cohort = db.session.get(Cohort, people["cohort"].id)
    assert cohort is not None
    cohort.archived_at = utcnow() - timedelta(days=800)
    db.session.commit()
    purged = cli(app, "purge-uploads")
    assert purged.exit_code == 0 and "Deleted 1 file " in purged.output
    assert file_storage(app).read(item.stored_name) is None and local_files(uploads) == [] and stored_rows() == 0
    assert db.session.scalar(select(func.count()).select_from(StoredChunk)) == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_erasing_a_learner_deletes_their_files_from_either_storage(app: Flask, people, uploads: Path, make_user, login,
                                                                  backend: str) -> None:
    app.config["FILE_STORAGE"] = backend
    assert post_file(people["learner"], "plan.pdf", b"%PDF-1.4 mine").status_code == 302
    [item] = attachments()
    admin = app.test_client()
    login(admin, make_user(name="Sid Admin", admin=True))
    learner = people["user"]
    done = admin.post(f"/admin/users/{learner.id}/erase", data={"confirm_email": learner.email})
    assert done.status_code == 302
    assert file_storage(app).read(item.stored_name) is None and local_files(uploads) == [] and stored_rows() == 0


def test_a_backup_carries_files_kept_in_the_database(app: Flask, people, uploads: Path, tmp_path: Path,
                                                      target: Flask) -> None:  # noqa: F811
    app.config["FILE_STORAGE"] = "database"
    assert post_file(people["learner"], "plan.pdf", BIG).status_code == 302
    key = attachments()[0].stored_name  # read here: inside the target's context a lazy load would use its database
    made = cli(app, "backup", str(tmp_path / "backup"))
    assert made.exit_code == 0, made.output
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["tables"]["stored_files"] == 1 and manifest["tables"]["stored_file_chunks"] == 3
    restored = cli(target, "restore", str(tmp_path / "backup"))
    assert restored.exit_code == 0, restored.output
    with target.app_context():
        assert file_storage(target).read(key) == BIG
        assert local_files(Path(target.config["UPLOAD_DIR"])) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_export_made_by_a_job_is_kept_in_either_storage(app: Flask, loaded: Flask, world: Any, client: Any, login,
                                                           uploads: Path, backend: str) -> None:
    app.config["FILE_STORAGE"] = backend
    login(client, world.instructor_a)
    streamed = client.get(f"/cohorts/{world.cohort_a.id}/competency.csv").get_data()
    app.config["EXPORT_BACKGROUND_ABOVE"] = 0  # every cohort's export is a job (inline: no Redis here)
    asked = client.post(f"/cohorts/{world.cohort_a.id}/exports/competency.csv")
    assert asked.status_code == 302 and "/jobs/" in asked.headers["Location"]
    job_id = int(asked.headers["Location"].rstrip("/").split("/")[-1])
    download = client.get(f"/jobs/{job_id}/download")
    assert download.status_code == 200 and download.get_data() == streamed and download.content_length == len(streamed)
    download.close()
    keys = [k for k in file_storage(app).primary.list_keys() if k.startswith("exports/")]
    assert len(keys) == 1 and (stored_rows() == 1) is (backend == "database") and bool(local_files(uploads)) is (backend == "local")
