"""The compose stack (``ops/deploy/compose.yaml``) holds together: CI validates the file against
the Compose specification (``make compose-check``); these tests check what the schema cannot —
that its services name each other rightly and every ``marketsession`` command in it is one the
command line accepts. The topology itself runs, without containers, in
``tests/ops/test_shards.py`` (a scheduler, two worker processes, PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import pytest
import yaml

from ops.cli import commands

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "ops" / "deploy"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return dict(compose["services"])


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_the_stack_has_the_services_the_readme_lists(services: dict[str, Any]) -> None:
    assert set(services) == {"postgres", "init", "scheduler", "worker", "serve", "prometheus", "backtest"}
    assert services["worker"]["deploy"]["replicas"] == 2
    assert (
        "--nthreads" in services["worker"]["command"]
        and option(services["worker"]["command"], "--nthreads") == "1"
    )


def test_every_marketsession_command_in_it_parses(services: dict[str, Any]) -> None:
    root = commands()
    parent = click.Context(root, info_name="marketsession")

    def parse(args: list[str]) -> str:
        sub = root.get_command(parent, args[0])
        assert sub is not None, args[0]
        sub.make_context(args[0], args[1:], parent=parent)  # raises on an unknown or bad option
        return args[0]

    ran = [
        parse(list(service["command"][1:]))
        for service in services.values()
        if service.get("command", [""])[0] == "marketsession"
    ]
    assert sorted(ran) == ["demo", "run", "serve"]
    with pytest.raises(click.UsageError):  # the check can fail
        parse(["run", "x.json", "--shards", "many"])


def test_the_services_find_each_other(services: dict[str, Any]) -> None:
    engine = services["serve"]["environment"]["MARKETSESSION_DB"]
    store = urlsplit(engine)
    assert (
        store.hostname == "postgres"
        and store.path == f"/{services['postgres']['environment']['POSTGRES_DB']}"
    )
    scheduler = services["scheduler"]["command"]
    address = f"scheduler:{option(scheduler, '--port')}"
    assert services["worker"]["command"][2] == f"tcp://{address}"
    assert option(services["backtest"]["command"], "--executor") == f"dask://{address}"
    serve = services["serve"]["command"]
    assert option(serve, "--host") == "0.0.0.0"
    prometheus = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == [f"serve:{option(serve, '--port')}"]
    mounted = services["prometheus"]["volumes"][0].split(":")[0]
    assert (DEPLOY / mounted).resolve() == DEPLOY / "prometheus.yml"


def test_the_image_holds_every_package_and_the_configs() -> None:
    copied = {
        line.split()[1]
        for line in (DEPLOY / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY")
    }
    assert {"marketsession", "actors", "domain", "ops", "session_configs"} <= copied
    assert "'.[postgres,dask]'" in (DEPLOY / "Dockerfile").read_text()
