"""Adding a Kling family is adding one declaration (docs/architecture.md, "a family"), shown
in process: a registry that is a copy of FAMILIES plus one `_relay_only(...)` line, and
nothing else, gives the new family its routes on both mount points, its media-sized body
limit and its Kling model names in the catalogue; the registry without the line has none of
them. (`tests/integration/api/test_add_a_family.py` runs such a family end to end.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from openkling.api.middleware import RequestContextMiddleware
from openkling.api.routes_tasks import family_router
from openkling.config import Settings
from openkling.core import families
from openkling.core.registry import ModelRegistry
from openkling.vocabulary import ResultKind

NEW = "videos/motion-transfer"  # a family Kling might ship tomorrow
MODEL = "kling-motion-v1"
TEXT_LIMIT, IMAGE_LIMIT = 256 * 1024, 64 * 1024 * 1024
#: Kling takes one image up to 10 MB (kling-api.md); inline, as base64, 4/3 of that.
ONE_IMAGE_BASE64 = 10 * 1024 * 1024 * 4 // 3


@pytest.fixture
def original() -> dict[str, families.Family]:
    return dict(families.FAMILIES)


@pytest.fixture
def declared(monkeypatch: pytest.MonkeyPatch) -> Iterator[families.Family]:
    """The one declaration, in a copy of the registry that the module reads for the test."""
    family = families._relay_only(NEW, media=1, models=(MODEL,))
    monkeypatch.setattr(families, "FAMILIES", {**families.FAMILIES, NEW: family})
    yield family


def routes_of(family: families.Family) -> set[tuple[str, str]]:
    return {(method, route.path) for route in family_router(family).routes
            if isinstance(route, APIRoute) for method in route.methods or ()}


def test_the_declaration_gives_the_family_its_routes(declared: families.Family) -> None:
    assert routes_of(declared) == {("POST", f"/{NEW}"), ("GET", f"/{NEW}"),
                                   ("GET", f"/{NEW}/{{task_id}}"),
                                   ("POST", f"/{NEW}/{{task_id}}/cancel")}
    assert declared.kind == NEW and declared.result == ResultKind.VIDEOS


def test_the_declaration_gives_the_family_room_for_its_media(declared: families.Family) -> (
        None):
    limits = families.body_limits(TEXT_LIMIT, IMAGE_LIMIT)
    assert limits[NEW] >= TEXT_LIMIT + ONE_IMAGE_BASE64  # one image fits beside the text
    assert limits[NEW] < TEXT_LIMIT + 2 * ONE_IMAGE_BASE64  # room for one, not two
    assert limits[families.TEXT2VIDEO] == TEXT_LIMIT  # the others keep theirs
    middleware = RequestContextMiddleware(lambda *_: None,  # type: ignore[arg-type]
                                          max_body_bytes=TEXT_LIMIT, body_limits=limits)
    assert middleware.body_limits[f"/v1/{NEW}"] == middleware.body_limits[f"/kling/v1/{NEW}"] \
        == limits[NEW]


def test_the_declaration_puts_its_models_in_the_catalogue(declared: families.Family,
                                                          tmp_path: Path) -> None:
    assert MODEL in families.catalogue() and declared.default_model == MODEL
    settings = Settings(data_dir=tmp_path)
    resolved = ModelRegistry(settings).resolve(MODEL)
    assert resolved.provider == settings.provider and resolved.durations == (5, 10)


def test_the_body_is_stored_as_sent_with_the_resolved_model(declared: families.Family) -> None:
    body = {"image": "https://example.com/a.png", "motion": {"preset": "wave"},
            "callback_url": "https://example.com/cb", "external_task_id": "mine"}
    assert declared.normalize is not None
    stored = declared.normalize(declared.request.model_validate(body), MODEL)
    assert stored == {"image": "https://example.com/a.png", "motion": {"preset": "wave"},
                      "model_name": MODEL}


def test_without_the_declaration_there_is_no_such_family(original: dict[str, families.Family],
                                                         tmp_path: Path) -> None:
    assert NEW not in families.FAMILIES and families.FAMILIES == original
    assert NEW not in families.body_limits(TEXT_LIMIT, IMAGE_LIMIT)
    assert MODEL not in families.catalogue()
    with pytest.raises(Exception, match="unknown model"):
        ModelRegistry(Settings(data_dir=tmp_path)).resolve(MODEL)


def test_the_copy_leaves_the_registry_as_it_was(original: dict[str, families.Family],
                                                declared: families.Family) -> None:
    assert original == {path: f for path, f in families.FAMILIES.items() if path != NEW}
    assert NEW not in original
