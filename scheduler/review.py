"""``dfscan report BATCH --html DIR``: the analyst's review page of a batch.

Read from the database (the embedded SQLite file or Postgres): counts and error rates
(``scheduler.report``), the score histogram (binned in SQL, one GROUP BY whatever the batch
size), the flagged videos by score with the families that drove them, and the failures
grouped by error code. Each flagged video gets a face thumbnail (its video read again) and
its explain page, made here for the first ``explain`` ones and otherwise listed with the
command that makes it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import case, func, literal_column
from sqlalchemy.orm import Session

from common.db import Scan, Video
from common.settings import Settings
from models.pages import figures
from models.pages.html import write_page
from scheduler.embedded import EMBEDDED_SOURCE
from scheduler.report import (
    batch_report,
    batch_scans,
    batch_status,
    flagged_query,
    get_batch,
)

JSON_NAME = "review.json"
BINS = 20  # score histogram bins of 0.05
EXAMPLES = 5  # failing videos listed per error code
TOP_FAMILIES = 3


@dataclass(frozen=True, slots=True)
class PageOptions:
    """How much of the batch the page reads again: ``limit`` flagged videos listed,
    ``thumbnails`` of them, explain pages for the first ``explain``."""

    limit: int = 100
    explain: int = 0
    thumbnails: bool = True


def _score_bin() -> Any:
    """The histogram bin of a score, 0..BINS-1, by comparisons: the same on both databases
    (a float-to-integer CAST truncates in SQLite but rounds in Postgres). Literal bounds, so
    the expression in SELECT and GROUP BY is one text for Postgres to match."""
    whens = [
        (Scan.score < literal_column(repr((k + 1) / BINS)), literal_column(str(k)))
        for k in range(BINS - 1)
    ]
    return case(*whens, else_=literal_column(str(BINS - 1)))


LABEL_ORDER = ("fake", "real", "unlabelled")


def score_histogram(session: Session, batch_id: int) -> dict[str, Any]:
    """Counts of scored videos per score bin and ground-truth label, binned in SQL."""
    batch = get_batch(session, batch_id)
    bin_ = _score_bin()
    rows = session.execute(
        batch_scans(batch)
        .add_columns(bin_, Video.label, func.count())
        .where(Scan.status == "done", Scan.score.is_not(None))
        .group_by(bin_, Video.label)
    )
    counts: dict[str, list[int]] = {}
    for b, truth, n in rows:
        counts.setdefault(truth or "unlabelled", [0] * BINS)[int(b)] += n
    ordered = sorted(counts, key=lambda k: LABEL_ORDER.index(k) if k in LABEL_ORDER else 9)
    return {"edges": [k / BINS for k in range(BINS + 1)], "counts": {k: counts[k] for k in ordered}}


def failures(session: Session, batch_id: int, errors: dict[str, int]) -> list[dict[str, Any]]:
    """Each error code with its count and a few of its videos, most frequent code first."""
    batch = get_batch(session, batch_id)
    out = []
    for code, n in sorted(errors.items(), key=lambda kv: (-kv[1], kv[0] or "")):
        examples = session.execute(
            batch_scans(batch)
            .add_columns(Video.url, Scan.error_message)
            .where(Scan.status == "failed", Scan.error_code == code)
            .order_by(Video.id)
            .limit(EXAMPLES)
        ).all()
        out.append(
            {
                "code": code,
                "count": n,
                "examples": [{"url": u, "message": m} for u, m in examples],
            }
        )
    return out


def driving(families: dict[str, float] | None) -> list[dict[str, Any]]:
    """The families that pushed a score most towards "fake" (positive pushes only)."""
    ranked = sorted((families or {}).items(), key=lambda kv: -kv[1])
    return [{"family": k, "push": v} for k, v in ranked[:TOP_FAMILIES] if v > 0]


def flagged(session: Session, batch_id: int, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` flagged videos, highest score first."""
    batch = get_batch(session, batch_id)
    query = flagged_query(batch=batch, limit=limit).add_columns(Scan.families)
    rows = [
        {
            "video_id": vid,
            "url": url,
            "score": score,
            "truth": truth,
            "driving": driving(fams),
        }
        for vid, url, _ext, score, truth, _model, _ts, fams in session.execute(query)
    ]
    return rows


def review_data(session: Session, batch_id: int, limit: int) -> dict[str, Any]:
    rep = batch_report(session, batch_id)
    return {
        "embedded": get_batch(session, batch_id).source.startswith(EMBEDDED_SOURCE),
        "status": batch_status(session, batch_id).as_json(),
        "report": rep.as_json(),
        "histogram": score_histogram(session, batch_id),
        "flagged": flagged(session, batch_id, limit),
        "failures": failures(session, batch_id, rep.errors),
    }


def explain_command(url: str, out: str) -> str:
    """The shell command that makes a video's explain page (quoted: URLs are untrusted)."""
    return f"dfscan explain {shlex.quote(url)} --out {shlex.quote(out)}"


def _with_faces(
    data: dict[str, Any], out: Path, settings: Settings, opts: PageOptions
) -> str | None:
    """Thumbnails and explain pages of the flagged videos; the model version used for them."""
    if not data["flagged"] or not (opts.thumbnails or opts.explain):
        return None
    from models.explain.analysis import explain_target, face_thumbnail
    from models.explain.page import write_explain
    from models.scanner import Scanner

    # A batch of the embedded scan names the user's own files; any other was submitted, and
    # is read as its workers read it (URLs; files only under DFSCAN_LOCAL_ROOT).
    scanner = Scanner(settings, local_files=data["embedded"])
    (out / "thumbs").mkdir(parents=True, exist_ok=True)
    for k, row in enumerate(data["flagged"]):
        sub = f"explain/{row['video_id']}"
        face, code = None, ""
        if k < opts.explain:
            ex = explain_target(row["url"], scanner)
            write_explain(out / sub, ex)
            row["explain"] = f"{sub}/index.html"
            face = ex.faces[0] if ex.faces else None
            code = ex.result.error["code"] if ex.result.error else ""
        elif opts.thumbnails:
            face, code = face_thumbnail(row["url"], scanner)
        if face is not None:
            row["thumbnail"] = f"thumbs/{row['video_id']}.png"
            figures.write_thumbnail(face, out / row["thumbnail"])
        row["thumbnail_error"] = code
    return scanner.model_version


def write_review(
    out: Path, session: Session, batch_id: int, settings: Settings, opts: PageOptions
) -> Path:
    """Write the review page of ``batch_id`` into ``out`` (index.html, review.json, PNGs)."""
    data = review_data(session, batch_id, opts.limit)
    out.mkdir(parents=True, exist_ok=True)
    for row in data["flagged"]:
        sub = f"explain/{row['video_id']}"
        row.update(explain=None, thumbnail=None, thumbnail_error="")
        row["command"] = explain_command(row["url"], str(out / sub))
    data["explain_model"] = _with_faces(data, out, settings, opts)
    hist = data["histogram"]
    threshold = _batch_threshold(data, settings)
    data["threshold"] = threshold
    figures.draw_histogram(
        np.asarray(hist["edges"]),
        {k: np.asarray(v) for k, v in hist["counts"].items()},
        threshold,
        out / "histogram.png",
    )
    return write_page(out, "review.html.j2", data, JSON_NAME, histogram="histogram.png")


def _batch_threshold(data: dict[str, Any], settings: Settings) -> float | None:
    """The threshold the batch was labelled at, when the bundle configured here made it."""
    if settings.threshold is not None:
        return settings.threshold
    from models.bundle import BundleError, check_bundle, version_of
    from models.trusted import Trust

    try:
        meta = check_bundle(settings.model_path, Trust.from_settings(settings))
    except BundleError:
        return None
    same = version_of(meta) == data["status"]["model_version"]
    return float(meta["threshold"]) if same else None
