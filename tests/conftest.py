"""Fixtures for the real services that scripts/test starts (Redis, PostgreSQL, moto_server),
for the small deployment the integration tests run on them (tests/_cluster.py), and the
browser it installs (Debian's chromium, run headless by the page tests).

Each service is found through a DFSCAN_TEST_* variable. Without it the test is skipped with
the reason, so a plain `pytest` on a laptop still runs the rest; under scripts/test
(DFSCAN_TEST_REQUIRE_SERVICES=1) a missing service is an error, so nothing skips silently.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.engine import Engine

from common.db import init_db, make_engine

if TYPE_CHECKING:
    from _cluster import Cluster, Corpus

S3_KEY = "testing"  # moto accepts any credentials


def _service(var: str, what: str) -> str:
    value = os.environ.get(var)
    if value:
        return value
    reason = f"{var} is not set: run scripts/test, which starts {what} on 127.0.0.1"
    if os.environ.get("DFSCAN_TEST_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def all_services() -> None:
    """Skip (or fail) before any costly module set-up when a service is missing."""
    _service("DFSCAN_TEST_REDIS_URL", "redis-server")
    _service("DFSCAN_TEST_POSTGRES_URL", "PostgreSQL")
    _service("DFSCAN_TEST_S3_ENDPOINT", "moto_server")


@pytest.fixture
def services_ctl() -> Callable[[str, str], None]:
    """Stop and start the services scripts/test runs: ``ctl("postgres", "stop")``,
    ``ctl("postgres", "start")``, ``ctl("redis", "restart")`` (without persistence)."""
    script = _service("DFSCAN_TEST_SERVICES_CTL", "its services' control script")

    def ctl(service: str, action: str) -> None:
        subprocess.run([script, service, action], check=True, timeout=120)

    return ctl


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis URL whose database is empty at the start of the test."""
    import redis

    url = _service("DFSCAN_TEST_REDIS_URL", "redis-server")
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test alone, dropped afterwards."""
    base = make_url(_service("DFSCAN_TEST_POSTGRES_URL", "PostgreSQL"))
    name = f"dfscan_t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base.render_as_string(hide_password=False))
    # CREATE/DROP DATABASE cannot run inside a transaction.
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    """An engine on a fresh PostgreSQL database holding the dfscan schema."""
    engine = make_engine(postgres_url)
    init_db(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def s3_endpoint() -> str:
    return _service("DFSCAN_TEST_S3_ENDPOINT", "moto_server")


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A new, empty bucket on moto_server."""
    import boto3

    name = f"dfscan-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_KEY,
    )
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def chromium() -> str:
    """The Chromium binary scripts/test found or installed, for headless page renders."""
    return _service("DFSCAN_TEST_CHROMIUM", "Debian's chromium")


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The same schema on SQLite (embedded mode) and PostgreSQL (distributed mode)."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'dfscan.db'}")
        init_db(eng)
        yield eng
        eng.dispose()
    else:
        yield request.getfixturevalue("pg_engine")


# --------------------------------------------------------------------------- deployment


@pytest.fixture(scope="session")
def corpus(all_services: None, tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """The media and the tiny bundle, made once for every test that runs workers."""
    from _cluster import make_corpus

    return make_corpus(tmp_path_factory.mktemp("media"))


@pytest.fixture
def http_base(corpus: Corpus) -> Iterator[str]:
    """The corpus served over HTTP on 127.0.0.1."""
    from _cluster import QuietHandler

    handler = functools.partial(QuietHandler, directory=str(corpus.root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def cluster(
    corpus: Corpus, redis_url: str, postgres_url: str, s3_endpoint: str, tmp_path: Path
) -> Iterator[Cluster]:
    """No process yet: each test starts its workers (and beat), stopped afterwards."""
    from _cluster import Cluster, cluster_env, migrate

    migrate(postgres_url)
    c = Cluster(env=cluster_env(corpus, redis_url, postgres_url, s3_endpoint), logs=tmp_path)
    yield c
    c.stop()


@pytest.fixture
def busy_list(
    corpus: Corpus,
    cluster: Cluster,
    http_base: str,
    s3_bucket: str,
    s3_endpoint: str,
    tmp_path: Path,
) -> tuple[Path, dict[str, str | None]]:
    """The batch list of a fault test and its expected errors; the cluster's workers read
    16 frames per video, so they are busy when the fault strikes."""
    from _cluster import upload, write_list

    upload(corpus, s3_endpoint, s3_bucket)
    path = tmp_path / "list.jsonl"
    expected = write_list(corpus, http_base, s3_bucket, path)
    cluster.env["DFSCAN_FRAMES_PER_VIDEO"] = "16"
    return path, expected
