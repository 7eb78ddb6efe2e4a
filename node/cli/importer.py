"""``hashbank import``: bulk-load hashes (JSON lines or CSV) or exported signed entries.

Hash files are read twice: once to check every line (so a typo on line 9,000,000 stops the
import before anything is published) and once to publish. Hashes are signed into entries of up
to 10,000 items; each chunk carries an idempotency key derived from its content, so an
interrupted import is resumed by running it again, and running it twice publishes nothing new.

An export (``hashbank export``) holds the charter history, the signed entries and the fork
proofs. Its charter versions are applied first, oldest first, so every entry is judged by the
chain that judged it at the source (a rotated key, a takedown); its fork proofs last, so the
entries a fork suspends are kept as the source keeps them (in the chain, void). The restored
bank is the source's.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from node.cli.client import Client
from node.cli.errors import ClientError, InputError, InterruptError, UsageError
from node.cli.parsing import Commands
from node.cli.progress import Progress
from node.datadir import DataDir
from node.replica.junk import NeverPublish, refusal_message
from protocol.body import MAX_ITEMS
from protocol.errors import ProtocolError
from protocol.signals import signal_type

FORMATS = ("auto", "entries", "jsonl", "csv")


@dataclass
class ImportTotals:
    hashes: int = 0
    entries_published: int = 0
    entries_skipped: int = 0

    def as_json(self) -> dict[str, int]:
        return {
            "hashes": self.hashes,
            "entries_published": self.entries_published,
            "entries_already_imported": self.entries_skipped,
        }


def detect(path: Path, fmt: str) -> str:
    """The file's format: as given, by suffix for CSV, else from its first line."""
    if fmt != "auto":
        return fmt
    if path.suffix.lower() == ".csv":
        return "csv"
    with path.open() as f:
        for line in f:
            if line.strip():
                try:
                    doc = json.loads(line)
                except json.JSONDecodeError:
                    raise InputError(f"{path}: line 1 is neither JSON nor a .csv file") from None
                exported = isinstance(doc, dict) and bool({"entry", "charter", "fork"} & set(doc))
                return "entries" if exported else "jsonl"
    raise InputError(f"{path} is empty")


def hash_rows(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, API item) for every hash in a JSON-lines or CSV file."""
    with path.open(newline="") as f:
        yield from (_csv_rows(f, path) if fmt == "csv" else _jsonl_rows(f, path))


def _jsonl_rows(f: TextIO, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(f, 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            raise InputError(f"{path}:{number}: not valid JSON") from None
        if not isinstance(doc, dict):
            raise InputError(f"{path}:{number}: expected a JSON object")
        for kind, value in hashes_in(doc):
            item: dict[str, Any] = {"signal_type": kind, "value": value}
            if "signal_type" in doc and doc.get("quality") is not None:
                item["quality"] = doc["quality"]  # a PDQ hash's, as its hasher rated it
            yield number, _checked(item, path, number)


def hashes_in(doc: dict[str, Any], notes: TextIO = sys.stderr) -> list[tuple[str, str]]:
    """(type, hex) pairs in one JSON line: ``{"signal_type", "value"}`` or `hashbank hash` output.

    A `hashbank hash` line gives up to four hashes (PDQ, the upright PDQ of an image whose
    EXIF orientation is not 1, MD5, SHA-256); an unreliable PDQ hash (quality < 50) and a file
    that could not be hashed are skipped with a note.
    """
    if "signal_type" in doc:
        return [(str(doc["signal_type"]), str(doc.get("value")))]
    if doc.get("error"):
        notes.write(f"skipping {doc.get('file')}: {doc['error']}\n")
        return []
    found = []
    for prefix, what in (("", "PDQ"), ("upright_", "upright PDQ")):
        if doc.get(f"{prefix}pdq") and doc.get(f"{prefix}unreliable"):
            notes.write(
                f"note: {doc.get('file')}: {what} quality {doc.get(f'{prefix}quality')} is "
                f"below 50; the {what} hash is unreliable and not used\n"
            )
        elif doc.get(f"{prefix}pdq"):
            found.append(("pdq", str(doc[f"{prefix}pdq"])))
    found += [(kind, str(doc[kind])) for kind in ("md5", "sha256") if doc.get(kind)]
    return found


def _csv_rows(f: TextIO, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(f)
    if not reader.fieldnames or not {"signal_type", "value"} <= set(reader.fieldnames):
        raise InputError(
            f"{path}: the first line must be a header with at least signal_type,value "
            "(optional: labels, case, expires_ms, quality; labels separated by ';')"
        )
    for row in reader:
        number = reader.line_num
        item: dict[str, Any] = {"signal_type": row["signal_type"], "value": row["value"]}
        if row.get("labels"):
            item["labels"] = [x.strip() for x in row["labels"].split(";") if x.strip()]
        if row.get("case"):
            item["case"] = row["case"]
        if row.get("quality"):
            if not row["quality"].isdigit():
                raise InputError(f"{path}:{number}: quality must be an integer")
            item["quality"] = int(row["quality"])
        if row.get("expires_ms"):
            if not row["expires_ms"].isdigit():
                raise InputError(f"{path}:{number}: expires_ms must be an integer")
            item["expires_ms"] = int(row["expires_ms"])
        yield number, _checked(item, path, number)


def _checked(item: dict[str, Any], path: Path, number: int) -> dict[str, Any]:
    try:
        spec = signal_type(item.get("signal_type"))
        spec.parse(item.get("value"))
    except ProtocolError as exc:
        raise InputError(f"{path}:{number}: {exc.message}") from None
    quality = item.get("quality")
    if quality is not None and (
        spec.name != "pdq" or type(quality) is not int or not 0 <= quality <= 100
    ):
        raise InputError(f"{path}:{number}: quality is a PDQ hash's quality, 0 to 100")
    item["value"] = str(item["value"]).lower()
    return item


def import_id(path: Path, batch: int) -> str:
    """The same for a resumed run of the same import, so the console shows it as one."""
    stat = path.stat()
    key = f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0{batch}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def import_hashes(
    client: Client,
    path: Path,
    fmt: str,
    *,
    labels: list[str],
    case: str | None,
    never_publish: NeverPublish,
    batch: int = MAX_ITEMS,
    out: TextIO = sys.stderr,
) -> ImportTotals:
    """Check the whole file, then publish it in idempotent chunks with a progress line.

    A hash ``never_publish`` refuses (an empty file's digest, say) stops the import before
    anything is published, naming each line.
    """
    total = checked_count(path, fmt, never_publish)
    totals, started, chunk, lines = ImportTotals(), time.monotonic(), [], []
    step = {"id": import_id(path, batch), "name": path.name, "done": 0, "total": total}
    progress = Progress(total, "hashes", out, lines=True)
    try:
        for number, item in hash_rows(path, fmt):
            if labels:
                item["labels"] = sorted(set(item.get("labels", [])) | set(labels))
            if case and "case" not in item:
                item["case"] = case
            chunk.append(item)
            lines.append(number)
            if len(chunk) == batch:
                _send(client, chunk, lines, totals, path, step)
                chunk, lines = [], []
                progress.update(totals.hashes, _note(totals, started))
        if chunk:
            _send(client, chunk, lines, totals, path, step)
    except KeyboardInterrupt:
        progress.finish(totals.hashes, "interrupted")
        raise InterruptError(
            f"interrupted after {totals.hashes:,} of {total:,} hashes "
            f"({totals.entries_published + totals.entries_skipped} entries stored); run the "
            "same command again to resume (same file, same --batch): the entries already "
            "stored are recognised and skipped, nothing is published twice"
        ) from None
    progress.finish(totals.hashes, _note(totals, started))
    return totals


def checked_count(path: Path, fmt: str, never_publish: NeverPublish) -> int:
    """How many hashes the file holds, once every line is checked (junk refused by line)."""
    total, refused = 0, []
    for number, item in hash_rows(path, fmt):
        total += 1
        value = bytes.fromhex(item["value"])  # _checked parsed it already
        why = never_publish.refusal(item["signal_type"], value, item.get("quality"))
        if why is not None:
            refused.append(f"{path}:{number}: {item['signal_type']} {item['value']} is {why}")
    if refused:
        raise InputError(refusal_message(refused))
    return total


def _note(totals: ImportTotals, started: float) -> str:
    rate = totals.hashes / max(time.monotonic() - started, 1e-9)
    return (
        f"{totals.entries_published} published, {totals.entries_skipped} already there, "
        f"{rate:,.0f} hashes/s"
    )


def _send(
    client: Client,
    chunk: list[dict[str, Any]],
    lines: list[int],
    totals: ImportTotals,
    path: Path,
    step: dict[str, Any],
) -> None:
    digest = hashlib.sha256(json.dumps(chunk, sort_keys=True).encode()).hexdigest()
    # The idempotency key covers the items only: the progress note may differ on a resume.
    step = {**step, "done": totals.hashes + len(chunk)}
    doc = {"items": chunk, "idempotency_key": f"import:{digest}", "import": step}
    try:
        result = client.post("/v1/hashes", doc)
    except ClientError as exc:
        raise InputError(_at_line(exc.message, lines, path)) from None
    totals.hashes += len(chunk)
    if result.get("duplicate"):
        totals.entries_skipped += 1
    else:
        totals.entries_published += 1


def _at_line(message: str, lines: list[int], path: Path) -> str:
    """Point an ``items[i]`` error at the file's line."""
    if message.startswith("items[") and "]" in message:
        index = message[6 : message.index("]")]
        if index.isdigit() and int(index) < len(lines):
            return f"{path}:{lines[int(index)]}: {message}"
    return message


@dataclass(frozen=True)
class ExportLine:
    """One line of an export: a signed entry or charter version (base64), or a fork proof
    (hex, as ``GET /v1/forks`` shows it)."""

    number: int
    entry: str | None = None
    charter: str | None = None
    version: int = 0
    fork: str | None = None


def export_lines(path: Path) -> Iterator[ExportLine]:
    """Every line of an export, checked: ``{"entry": …}``, ``{"charter": …, "version": n}`` or
    ``{"fork": …}``."""
    with path.open() as stream:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
                if "charter" in doc:
                    text, version = doc["charter"], doc.get("version", 0)
                    if not isinstance(version, int):
                        raise TypeError(version)
                    base64.b64decode(text, validate=True)
                    yield ExportLine(number, charter=text, version=version)
                    continue
                if "fork" in doc:
                    bytes.fromhex(doc["fork"])
                    yield ExportLine(number, fork=doc["fork"])
                    continue
                entry = doc["entry"]
                base64.b64decode(entry, validate=True)
            except (ValueError, KeyError, TypeError):
                raise InputError(
                    f'{path}:{number}: not an exported entry ({{"entry": …}}), charter '
                    '({"charter": …, "version": …}) or fork proof ({"fork": …})'
                ) from None
            yield ExportLine(number, entry=entry)


def entry_chunks(path: Path, size: int = 200) -> Iterator[list[str]]:
    """Exported signed entries (``{"entry": base64}`` lines) in chunks for ``/v1/entries``."""
    chunk: list[str] = []
    for line in export_lines(path):
        if line.entry is None:
            continue
        chunk.append(line.entry)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def apply_forks(client: Client, path: Path) -> tuple[int, list[str]]:
    """Keep the export's fork proofs (after its entries); returns how many were new here, and
    a message for each proof the node refused."""
    lines = [line for line in export_lines(path) if line.fork is not None]
    fresh, refused = 0, list[str]()
    for start in range(0, len(lines), 100):  # the most one POST /v1/forks takes
        chunk = lines[start : start + 100]
        answer = client.post("/v1/forks", {"proofs": [line.fork for line in chunk]})
        fresh += answer["new"]
        refused += [
            f"{path}:{chunk[bad['index']].number}: {bad['code']}: {bad['message']}"
            for bad in answer["invalid"]
        ]
    return fresh, refused


def apply_charters(client: Client, path: Path, out: TextIO = sys.stderr) -> list[int]:
    """Apply the export's charter versions, oldest first; returns the versions adopted.

    Version 1 is a network's trust root, adopted only on its operator's word. Importing an
    export is that word, but only for a node without a charter: one that follows a charter
    already must hold the same version 1, and takes the export's later versions as any.
    """
    versions = sorted(
        (line for line in export_lines(path) if line.charter is not None),
        key=lambda line: line.version,
    )
    if not versions:
        return []
    had_charter = client.get("/v1/charter").get("raw") is not None
    adopted: list[int] = []
    for line in versions:
        try:
            answer = client.post("/v1/charter", {"charter": line.charter})
        except ClientError as exc:
            hint = (
                "; this node follows another charter: restore an export into a fresh node"
                if had_charter
                else ""
            )
            raise InputError(
                f"{path}:{line.number}: charter version {line.version} was refused: "
                f"{exc.message}{hint}"
            ) from None
        adopted += answer["adopted"]
    if 1 in adopted and not had_charter:
        out.write(
            f"adopted charter version 1 from {path}: this node had no charter, and importing "
            "an export is its operator's decision; check the network and members with "
            "`hashbank charter show`\n"
        )
    if adopted:
        out.write(f"charter versions adopted: {', '.join(map(str, adopted))}\n")
    return adopted


def cmd_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{path} is not a readable file")
    if not 0 < args.batch <= MAX_ITEMS:
        raise UsageError(f"--batch must be between 1 and {MAX_ITEMS}")
    fmt = detect(path, args.format)
    data = DataDir(Path(args.data))
    client = Client.for_data(data, args.url)
    if fmt != "entries":
        totals = import_hashes(
            client,
            path,
            fmt,
            labels=args.label or [],
            case=args.case,
            never_publish=NeverPublish(data.never_publish),
            batch=args.batch,
        )
        print(json.dumps(totals.as_json()))
        return 0
    adopted = apply_charters(client, path)
    result: dict[str, Any] = {"stored": 0, "duplicates": 0, "held": 0, "rejected": {}}
    result["charter_versions_adopted"] = adopted
    total = sum(1 for line in export_lines(path) if line.entry is not None)
    step: dict[str, Any] = {"id": import_id(path, 0), "name": path.name, "total": total}
    done = 0
    try:
        for chunk in entry_chunks(path):
            done += len(chunk)
            answer = client.post(
                "/v1/entries", {"entries": chunk, "import": {**step, "done": done}}
            )
            for key in ("stored", "duplicates", "held"):
                result[key] += answer[key]
            for code, n in answer["rejected"].items():
                result["rejected"][code] = result["rejected"].get(code, 0) + n
        fresh, refused = apply_forks(client, path)
    except KeyboardInterrupt:
        raise InterruptError(
            f"interrupted after {result['stored']:,} entries stored; run the same command "
            "again to resume: entries already stored count as duplicates"
        ) from None
    result["fork_proofs_new"], result["fork_proofs_refused"] = fresh, refused
    print(json.dumps(result))
    return 0 if not result["rejected"] and not refused else 1


def add_parsers(commands: Commands) -> None:
    p = commands.add(
        "import",
        cmd_import,
        "bulk-publish hashes from JSON lines or CSV (resumable), or load exported entries",
        client=True,
    )
    p.add_argument("file", help="hashes (.jsonl, .csv, `hashbank hash` output) or an export")
    p.add_argument("--format", choices=FORMATS, default="auto")
    p.add_argument("--label", action="append", help="label for every hash (repeatable)")
    p.add_argument("--case", help="case reference for hashes that name none")
    p.add_argument("--batch", type=int, default=MAX_ITEMS, help="hashes per signed entry")
