"""The task service's create for every family, on a relay and on the local provider double:
durations read the same way everywhere, Kling's model names, refusals naming the field.

No network: the relay's channel points at a closed loopback port and a create never calls it
(the provider's `check` does no I/O; the worker, which would, is not started)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from openkling.assembly import ApiParts, Resources, build_api
from openkling.config import Settings
from openkling.core.auth import Principal
from openkling.core.errors import KlingError
from openkling.core.families import FAMILIES
from tests.conftest import PROVIDER_DOUBLE, free_port

RELAYED = {"kling-v1-6": {"provider": "kling"}, "kling-v2-6": {"provider": "kling",
                                                                "durations": list(range(3, 16))}}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[ApiParts, Principal]]:
    settings = Settings(
        data_dir=tmp_path, provider=PROVIDER_DOUBLE, embedded_worker=False,
        models=json.loads(json.dumps(RELAYED)),
        provider_options={"kling": {"base_url": f"http://127.0.0.1:{free_port()}",
                                    "api_key": "sk-never-sent"}},
    )
    resources = Resources.open(settings)
    try:
        await resources.migrate()
        account, _ = await resources.accounts.get_or_create(
            "durations", now=1, callback_secret_enc=resources.master.encrypt("s"))
        parts = build_api(resources, resources.build_providers(), http=None)
        yield parts, Principal(account_id=account.id, account_name="durations",
                               credential_id=0)
    finally:
        await resources.close()


async def _create(api: tuple[ApiParts, Principal], path: str, body: dict[str, Any]) -> Any:
    parts, who = api
    family = FAMILIES[path]
    return await parts.tasks.create(who, family.request.model_validate(body), family)


RELAY_ONLY_VIDEOS = ("videos/omni-video", "videos/multi-image2video", "videos/video-extend",
                     "videos/effects")


@pytest.mark.parametrize("path", RELAY_ONLY_VIDEOS)
@pytest.mark.parametrize("duration", ["5", 5, "10"])
async def test_a_relay_only_family_takes_durations_like_text2video(
        api: tuple[ApiParts, Principal], path: str, duration: object) -> None:
    task = await _create(api, path, {"model_name": "kling-v1-6", "prompt": "x",
                                     "duration": duration})
    assert task.kind == path and task.request["duration"] == int(str(duration))


@pytest.mark.parametrize("path", ("videos/text2video", *RELAY_ONLY_VIDEOS))
async def test_a_duration_the_model_does_not_allow_is_refused_on_every_family(
        api: tuple[ApiParts, Principal], path: str) -> None:
    with pytest.raises(KlingError) as info:
        await _create(api, path, {"model_name": "kling-v1-6", "prompt": "x", "duration": "7"})
    assert (info.value.http_status, info.value.code) == (400, 1201)
    assert info.value.message == 'duration: kling-v1-6 accepts "5", "10"'
    ok = await _create(api, path, {"model_name": "kling-v2-6", "prompt": "x", "duration": "7"})
    assert ok.request["duration"] == 7


@pytest.mark.parametrize("duration", ["5.0", " 5", True, "2", 16])
async def test_a_malformed_duration_is_refused_by_the_request_model(duration: object) -> None:
    from pydantic import ValidationError
    for path in ("videos/text2video", *RELAY_ONLY_VIDEOS):
        with pytest.raises(ValidationError) as info:
            FAMILIES[path].request.model_validate({"prompt": "x", "duration": duration})
        assert info.value.errors()[0]["loc"] == ("duration",)
