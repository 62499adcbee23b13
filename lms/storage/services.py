"""Moving stored files from one backend to another, checking every copy's sha256."""

from __future__ import annotations

from dataclasses import dataclass

from lms.storage.backends import FileStore, sha256_of


@dataclass
class MoveReport:
    moved: int = 0  # copied, checked, and (unless kept) removed from the source
    already: int = 0  # the target held the same bytes already (an earlier, interrupted run)
    replaced: int = 0  # the target held different bytes under that key: the source's won
    failed: int = 0  # the copy's sha256 differed from the source's: the source kept
    bytes: int = 0  # size of what was copied
    failures: list[str] | None = None

    @property
    def seen(self) -> int:
        return self.moved + self.already + self.failed


def move_files(source: FileStore, target: FileStore, *, keep_source: bool = False, dry_run: bool = False) -> MoveReport:
    """Copy every file of ``source`` into ``target`` and check the copy's sha256 against the
    source's, then remove it from ``source`` (unless ``keep_source``). Running it again
    moves only what is left: a file already in ``target`` with the same hash is not copied
    again. A file whose copy does not match stays in ``source`` and is reported."""
    report = MoveReport(failures=[])
    for key in source.list_keys():
        digest, size = sha256_of(source.chunks(key))
        there = target.sha256(key)
        if dry_run:
            if there == digest:
                report.already += 1
            else:
                report.moved += 1
                report.bytes += size
            continue
        if there != digest:
            data = source.read(key)
            if data is None:  # deleted meanwhile (a purge): nothing to move
                continue
            target.put(key, data)
            copied = target.sha256(key)
            if copied != digest or sha256_of(iter([data]))[0] != digest:
                report.failed += 1
                assert report.failures is not None
                report.failures.append(key)
                continue
            report.moved += 1
            report.replaced += there is not None
            report.bytes += len(data)
        else:
            report.already += 1
        if not keep_source:
            source.delete(key)
    return report
