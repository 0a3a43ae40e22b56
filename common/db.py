"""Database schema shared by the embedded (SQLite) and distributed (Postgres) modes.

Writes of scan results are idempotent upserts keyed by (video, model version), so a task that
runs twice (a worker killed after the write but before the ack) leaves exactly one row.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from common.types import ScanResult


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Batch(Base):
    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    source: Mapped[str] = mapped_column(Text, default="")
    model_version: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    total: Mapped[int] = mapped_column(Integer, default=0)


class Video(Base):
    __tablename__ = "videos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    url_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    content_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # Ground truth when the submitted list carries one ("real"/"fake"): feeds FAR/FRR reports.
    label: Mapped[str | None] = mapped_column(String(8), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BatchItem(Base):
    __tablename__ = "batch_items"

    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id"), primary_key=True, index=True)


class Scan(Base):
    __tablename__ = "scans"
    __table_args__ = (UniqueConstraint("video_id", "model_version", name="uq_scan_video_model"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id"), index=True)
    model_version: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | done | failed
    score: Mapped[float | None] = mapped_column(Float, nullable=True, index=True)
    label: Mapped[str | None] = mapped_column(String(8), nullable=True, index=True)
    frames_used: Mapped[int] = mapped_column(Integer, default=0)
    faces_found: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    families: Mapped[dict] = mapped_column(JSON, default=dict)
    timings: Mapped[dict] = mapped_column(JSON, default=dict)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    worker_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    # Times the recovery sweep (worker.recovery) sent this row's lost task again. A server
    # default only: an embedded database made before it (no such column) still takes writes.
    recoveries: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )


def normalize_url(url: str) -> str:
    """Canonical form used for de-duplication: lower-case scheme and host, no fragment."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, ""))


def url_hash(url: str) -> str:
    return hashlib.sha256(normalize_url(url).encode()).hexdigest()


def make_engine(url: str) -> Engine:
    """Engine for either backend; SQLite gets WAL and a busy timeout for concurrent writers."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # A bounded connect: an unreachable host then fails in seconds (and the caller retries or
    # reports it) instead of hanging on the OS's TCP timeout.
    connect_args = {"connect_timeout": 10} if url.startswith("postgresql") else {}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def init_db(engine: Engine) -> None:
    """Create the schema where it is missing (embedded mode; Postgres uses Alembic)."""
    Base.metadata.create_all(engine)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    session = factory()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def dialect_insert(session: Session):  # type: ignore[no-untyped-def]
    """The INSERT construct of the session's dialect (both have ON CONFLICT upserts)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"unsupported database dialect {name!r}")


def upsert_video(
    session: Session,
    url: str,
    *,
    label: str | None = None,
    external_id: str | None = None,
) -> int:
    """Insert the video if new (keyed by normalized URL hash); return its id."""
    insert = dialect_insert(session)
    values = {"url": url, "url_hash": url_hash(url), "label": label, "external_id": external_id}
    stmt = insert(Video).values(**values)
    update = {k: stmt.excluded[k] for k in ("label", "external_id") if values[k] is not None}
    if update:
        stmt = stmt.on_conflict_do_update(index_elements=["url_hash"], set_=update)
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=["url_hash"])
    session.execute(stmt)
    return session.scalars(select(Video.id).where(Video.url_hash == values["url_hash"])).one()


def upsert_scan(session: Session, video_id: int, result: ScanResult) -> None:
    """Write one scan result; a repeat for the same (video, model) replaces it in place."""
    if result.model_version is None:
        raise ValueError("a scan result must carry the model version it was scored with")
    insert = dialect_insert(session)
    values = {
        "video_id": video_id,
        "model_version": result.model_version,
        "status": "failed" if result.error else "done",
        "score": result.score,
        "label": result.label,
        "frames_used": result.frames_used,
        "faces_found": result.faces_found,
        "seconds": result.seconds,
        "families": result.families,
        "timings": result.timings,
        "error_code": result.error["code"] if result.error else None,
        "error_message": result.error["message"] if result.error else None,
        "worker_host": socket.gethostname(),
        "attempts": 1,
        "updated_at": utcnow(),
    }
    stmt = insert(Scan).values(**values)
    update = {k: stmt.excluded[k] for k in values if k not in ("video_id", "model_version")}
    update["attempts"] = Scan.attempts + 1
    stmt = stmt.on_conflict_do_update(index_elements=["video_id", "model_version"], set_=update)
    session.execute(stmt)
    if result.content_sha256:
        video = session.get(Video, video_id)
        if video is not None and video.content_sha256 is None:
            video.content_sha256 = result.content_sha256
