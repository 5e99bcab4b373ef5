"""The Kling access-key token, checked against the shape Kling's documentation gives."""

from __future__ import annotations

import jwt
import pytest

from openkling.core.kling_jwt import sign_token

SECRET = "a-secret-key-long-enough-for-hs256-0123"


def test_token_shape_matches_klings_sdks() -> None:
    token = sign_token("AK123", SECRET, now=1_700_000_000)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, SECRET, algorithms=["HS256"],
                        options={"verify_exp": False, "verify_nbf": False})
    assert claims == {"iss": "AK123", "exp": 1_700_000_000 + 1800,
                      "nbf": 1_700_000_000 - 5}


def test_a_fresh_token_verifies_now_and_not_with_another_secret() -> None:
    token = sign_token("AK123", SECRET)
    assert jwt.decode(token, SECRET, algorithms=["HS256"])["iss"] == "AK123"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, SECRET + "x", algorithms=["HS256"])
