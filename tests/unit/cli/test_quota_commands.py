"""`openkling quota add|list` against a SQLite file (in process, through Typer's runner)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from openkling.cli.main import app


def run(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--data-dir", str(data_dir)])


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    created = run(tmp_path, "keys", "create", "--name", "acme", "--json")
    assert created.exit_code == 0, created.output
    return tmp_path


def test_add_then_list_shows_the_pack_as_account_costs_does(data_dir: Path) -> None:
    added = run(data_dir, "quota", "add", "acme", "--units", "12.5", "--expires", "2099-01-31",
                "--name", "launch", "--json")
    assert added.exit_code == 0, added.output
    pack = json.loads(added.output)
    assert pack["resource_pack_name"] == "launch" and pack["total_quantity"] == 12.5
    assert pack["invalid_time"] == int(datetime(2099, 1, 31, tzinfo=UTC).timestamp() * 1000)
    assert pack["status"] == "online" and pack["resource_pack_type"] == "decreasing_total"
    listed = run(data_dir, "quota", "list", "acme", "--json")
    assert listed.exit_code == 0 and json.loads(listed.output) == [pack]


def test_days_and_future_start(data_dir: Path) -> None:
    added = run(data_dir, "quota", "add", "acme", "--units", "5", "--starts", "2098-01-01",
                "--days", "30", "--json")
    pack = json.loads(added.output)
    assert pack["status"] == "toBeOnline"
    assert pack["invalid_time"] - pack["effective_time"] == 30 * 86_400_000


@pytest.mark.parametrize("args", [
    ["--units", "5", "--expires", "yesterday"],
    ["--units", "5", "--expires", "2099-01-01", "--days", "3"],
    ["--units", "0"],
    ["--units", "5", "--starts", "2099-01-02", "--expires", "2099-01-01"],
])
def test_bad_options_are_refused(data_dir: Path, args: list[str]) -> None:
    assert run(data_dir, "quota", "add", "acme", *args).exit_code == 2


def test_unknown_account(data_dir: Path) -> None:
    result = run(data_dir, "quota", "add", "nobody", "--units", "5")
    assert result.exit_code == 1 and "No account named 'nobody'" in result.output
