"""The deployment files, checked by structure: no Docker engine runs on these machines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
LONG_RUNNING = ("redis", "postgres", "worker", "flower")


@pytest.fixture(scope="module")
def services() -> dict:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return compose["services"]


def _conditions(service: dict) -> dict[str, str]:
    deps = service.get("depends_on", {})
    assert isinstance(deps, dict), "depends_on must use the long form with conditions"
    return {name: spec["condition"] for name, spec in deps.items()}


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR:-default} (nested) and ${VAR}, as `docker compose` resolves them."""
    pattern = re.compile(r"\$\{(\w+)(?::-([^${}]*))?\}")
    while (m := pattern.search(value)) is not None:
        value = value[: m.start()] + env.get(m[1], m[2] or "") + value[m.end() :]
    return value


def _environment(service: dict, env: dict[str, str]) -> dict[str, str]:
    return {k: _interpolate(v, env) for k, v in service["environment"].items()}


def test_all_services_present(services: dict) -> None:
    assert set(services) >= {
        "redis",
        "postgres",
        "migrate",
        "worker",
        "scheduler",
        "flower",
        "beat",
    }


def test_long_running_services_have_healthchecks(services: dict) -> None:
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck", {})
        assert check.get("test"), f"{name} has no healthcheck"
        assert not check.get("disable", False)


def test_startup_order(services: dict) -> None:
    assert _conditions(services["migrate"]) == {"postgres": "service_healthy"}
    for name in ("worker", "scheduler"):
        assert _conditions(services[name]) == {
            "redis": "service_healthy",
            "postgres": "service_healthy",
            "migrate": "service_completed_successfully",
        }, name
    assert _conditions(services["flower"]) == {"redis": "service_healthy"}


def test_migrate_is_one_shot_alembic(services: dict) -> None:
    from alembic.config import CommandLine

    migrate = services["migrate"]
    assert migrate["entrypoint"][0] == "alembic"
    # Alembic's own parser accepts the command, and it upgrades to the newest revision.
    args = CommandLine().parser.parse_args(migrate["entrypoint"][1:])
    assert args.cmd[0].__name__ == "upgrade" and args.revision == "head"
    assert migrate.get("restart", "no") == "no"


def test_worker_scales(services: dict) -> None:
    worker = services["worker"]
    # A fixed name or host port would make `--scale worker=N` fail on the second replica.
    assert "container_name" not in worker
    assert "ports" not in worker
    # The command is one the dfscan CLI accepts (as the image's entry point runs it).
    from scheduler.cli import main

    name, *args = worker["command"]
    ctx = main.commands[name].make_context(name, args)
    assert ctx.params["hostname"] == "worker@%h"
    # Node names must differ per replica: %h is each container's own host name.
    assert "%h" in " ".join(worker["command"])


def test_dfscan_services_share_settings(services: dict) -> None:
    for name in ("migrate", "worker", "scheduler", "flower", "beat"):
        svc = services[name]
        assert svc["build"] == "."
        env = _environment(svc, {})
        assert env["DFSCAN_BROKER_URL"].startswith("redis://redis:")
        assert env["DFSCAN_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in env["DFSCAN_DATABASE_URL"]


def test_dockerfile_slim_and_not_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users, "the image must switch to a non-root user"
    assert users[-1] not in ("root", "0", "0:0")
    # Dependencies from the hashed lock, the project on top without re-resolving them.
    assert re.search(r"^RUN pip install --require-hashes -r requirements\.lock$", text, re.M)
    assert re.search(r"^RUN pip install --no-deps \.$", text, re.M)


@pytest.mark.parametrize(
    ("lock", "extra"), [("requirements.lock", "monitor"), ("requirements-dev.lock", "dev")]
)
def test_locks_pin_every_dependency_with_hashes(lock: str, extra: str) -> None:
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"][extra]
    text = (ROOT / lock).read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$", text, re.M))
    norm = {re.sub(r"[-_.]+", "-", k).lower(): v for k, v in pins.items()}
    for spec in map(Requirement, wanted):
        name = re.sub(r"[-_.]+", "-", spec.name).lower()
        assert name in norm, f"{lock} does not pin {name}: run scripts/lock"
        assert spec.specifier.contains(norm[name], prereleases=True), (name, norm[name])
    # Every pin carries hashes, so pip --require-hashes accepts the file.
    assert text.count("==") == len(pins) and text.count("--hash=sha256:") >= len(pins)


def test_dockerignore_keeps_data_out() -> None:
    text = (ROOT / ".dockerignore").read_text().splitlines()
    lines = [ln.strip() for ln in text if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "**", "ignore everything, then allow the sources back in"
    allowed = {ln[1:].split("/")[0] for ln in lines if ln.startswith("!")}
    assert allowed <= {
        "pyproject.toml",
        "requirements.lock",
        "README.md",
        "alembic.ini",
        "alembic",
        "common",
        "models",
        "worker",
        "scheduler",
    }


def test_flower_uses_the_configured_broker(services: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    import runpy

    mine = "redis://:secret@broker.internal:6380/2"
    flower = services["flower"]
    command = flower["entrypoint"] + flower.get("command", [])
    assert not any("redis://" in part for part in command), "no broker URL of its own"
    assert command[:3] == ["celery", "-A", "worker.app"] and "flower" in command
    # An operator's DFSCAN_BROKER_URL (shell or .env) reaches Flower's environment...
    env = _environment(flower, {"DFSCAN_BROKER_URL": mine, "POSTGRES_PASSWORD": "pw"})
    assert env["DFSCAN_BROKER_URL"] == mine
    # ...and the app Flower loads (-A worker.app) connects to it.
    monkeypatch.setenv("DFSCAN_BROKER_URL", env["DFSCAN_BROKER_URL"])
    app = runpy.run_module("worker.app")["app"]
    assert app.conf.broker_url == mine
    assert app.conf.task_default_queue == "dfscan"


def test_one_beat_runs_the_recovery_sweep(services: dict) -> None:
    from scheduler.cli import main

    beat = services["beat"]
    name, *args = beat["command"]
    assert name == "beat"
    main.commands[name].make_context(name, args)  # a command the dfscan CLI accepts
    assert _conditions(beat) == {"redis": "service_healthy"}
    assert "deploy" not in beat, "beat must run once: never replicated"
