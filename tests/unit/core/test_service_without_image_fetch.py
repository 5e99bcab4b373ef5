"""An API built without an HTTP client (it cannot fetch image URLs) still takes creates that
carry no image, and refuses those that do with 503 / 5001 rather than failing later."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from openkling.assembly import Resources, build_api
from openkling.config import Settings
from openkling.core.auth import Principal
from openkling.core.errors import KlingError
from openkling.core.families import FAMILIES, IMAGES
from tests.conftest import PROVIDER_DOUBLE
from tests.support.images import png


async def test_an_image_family_without_an_image_is_created_and_one_with_an_image_refused(
        tmp_path: Path) -> None:
    resources = Resources.open(Settings(data_dir=tmp_path, provider=PROVIDER_DOUBLE,
                                        embedded_worker=False))
    try:
        await resources.migrate()
        account, _ = await resources.accounts.get_or_create(
            "no-fetch", now=1, callback_secret_enc=resources.master.encrypt("s"))
        api = build_api(resources, resources.build_providers(), http=None)
        who = Principal(account_id=account.id, account_name="no-fetch", credential_id=0)
        family = FAMILIES[IMAGES]

        created = await api.tasks.create(
            who, family.request.model_validate({"prompt": "a lighthouse"}), family)
        assert created.kind == IMAGES and created.status == "submitted"

        with_image = family.request.model_validate(
            {"prompt": "a lighthouse", "image": base64.b64encode(png(400, 400)).decode()})
        with pytest.raises(KlingError) as refused:
            await api.tasks.create(who, with_image, family)
        assert (refused.value.http_status, int(refused.value.code)) == (503, 5001)
    finally:
        await resources.close()
