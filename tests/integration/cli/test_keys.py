"""`openkling keys`: the listing shows what `keys revoke` needs, and `--admin` makes operators."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def keys(data_dir: Path, *args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKLING_")}
    env.update(OPENKLING_DATA_DIR=str(data_dir), COLUMNS=str(columns),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "openkling.cli.main", "keys", *args],
                          env=env, capture_output=True, text=True, cwd=ROOT)


@pytest.mark.parametrize("columns", [40, 80, 200])
def test_list_shows_the_whole_access_key_and_revoke_takes_it(
    tmp_path: Path, columns: int
) -> None:
    made = keys(tmp_path, "create", "--name", "an-account-with-a-rather-long-name",
                "--label", "a label long enough to need wrapping in a narrow table", "--json")
    assert made.returncode == 0, made.stderr
    access_key = json.loads(made.stdout)["access_key"]

    listing = keys(tmp_path, "list", columns=columns)
    assert listing.returncode == 0, listing.stderr
    assert access_key in listing.stdout  # one piece: not cut, not wrapped
    assert json.loads(made.stdout)["api_key"] not in listing.stdout

    revoked = keys(tmp_path, "revoke", access_key)
    assert revoked.returncode == 0 and "Revoked 1" in revoked.stdout
    after = keys(tmp_path, "list", columns=columns).stdout
    assert "revoked" in after


def test_create_admin_marks_the_account(tmp_path: Path) -> None:
    plain = json.loads(keys(tmp_path, "create", "--name", "user", "--json").stdout)
    assert plain["admin"] is False
    admin = json.loads(keys(tmp_path, "create", "--name", "ops", "--admin", "--json").stdout)
    assert admin["admin"] is True
    # another key of an admin account reports the account as admin too
    second = json.loads(keys(tmp_path, "create", "--name", "ops", "--json").stdout)
    assert second["admin"] is True and second["account_created"] is False

    rows = json.loads(keys(tmp_path, "list", "--json").stdout)
    assert {(r["account"], r["admin"]) for r in rows} == {("user", False), ("ops", True)}
    assert "ops (admin)" in keys(tmp_path, "list").stdout
