"""The register adapter's inbox folder and progress records, without a broker."""

from pathlib import Path

from producers.register_adapter.csv_file import sha256_hex
from producers.register_adapter.inbox import Inbox
from producers.register_adapter.progress import FileProgress


def test_only_complete_csv_files_are_ready_in_name_order(tmp_path: Path) -> None:
    for name in ("b.csv", "a.csv", "c.csv.part", ".d.csv", "e.txt", "f.part"):
        (tmp_path / name).write_text("x")
    (tmp_path / "g.csv").mkdir()
    assert [p.name for p in Inbox(tmp_path).ready_files()] == ["a.csv", "b.csv"]


def test_archive_writes_notes_then_moves_and_never_overwrites_other_content(
    tmp_path: Path,
) -> None:
    inbox = Inbox(tmp_path)
    first = tmp_path / "x.csv"
    first.write_text("monday")
    moved = inbox.archive(first, sha256_hex(b"monday"), {".rejected.txt": "x.csv:3: bad\n"})
    assert moved == tmp_path / "done" / "x.csv"
    assert not first.exists()
    assert (tmp_path / "done" / "x.csv.rejected.txt").read_text() == "x.csv:3: bad\n"
    assert inbox.in_done("x.csv", sha256_hex(b"monday"))

    # The same name with other content keeps both; the same content again takes its place.
    again = tmp_path / "x.csv"
    again.write_text("tuesday")
    tuesday = sha256_hex(b"tuesday")
    assert inbox.archive(again, tuesday, {}) == tmp_path / "done" / f"x.{tuesday[:12]}.csv"
    assert (tmp_path / "done" / "x.csv").read_text() == "monday"
    assert not inbox.in_done("x.csv", tuesday)
    (tmp_path / "x.csv").write_text("monday")
    assert inbox.archive(tmp_path / "x.csv", sha256_hex(b"monday"), {}) == moved
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == [
        "x.csv",
        "x.csv.rejected.txt",
        f"x.{tuesday[:12]}.csv",
    ]


def test_a_rejected_file_moves_to_rejected_with_its_error(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("no header")
    moved = Inbox(tmp_path).reject(path, sha256_hex(b"no header"), "x.csv: no header row")
    assert moved == tmp_path / "rejected" / "x.csv"
    assert (tmp_path / "rejected" / "x.csv.error.txt").read_text() == "x.csv: no header row\n"


def test_progress_records_are_keyed_by_content_and_read_back_unchanged() -> None:
    progress = FileProgress("x.csv", "ab" * 32, 500, False, 498, 2)
    record = progress.record("bus.source-offsets.muni")
    assert record.topic == "bus.source-offsets.muni"
    assert record.key == b"ab" * 32
    assert FileProgress.from_json(record.value) == progress
