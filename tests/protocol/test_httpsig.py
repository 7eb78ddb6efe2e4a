"""RFC 9421 request signatures: the RFC's own vector, round trips, and every way to be refused."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from multidict import CIMultiDict

from protocol import httpsig
from protocol import structured_fields as sf
from protocol.errors import AuthError, BadSignatureError, InvalidValueError
from protocol.httpsig import (
    DEFAULT_MAX_AGE,
    ReplayCache,
    SignedRequest,
    check_headers,
    sign_request,
    verify_request,
)
from protocol.identity import Context, PublicKey, SigningKey, sign_raw, verify_raw

KEY = SigningKey(bytes(range(32)))
OTHER = SigningKey(bytes(range(1, 33)))
RECEIVER = SigningKey(bytes(range(2, 34))).public_key
NOW = 1_700_000_000
METHOD = "POST"
PATH = "/v1/feeds/abc?since=12&limit=100"
BODY = b'{"hello": "world"}'
NONCE = "bm9uY2Utbm9uY2Utbm9uY2U"


def _sign(
    key: SigningKey = KEY,
    *,
    method: str = METHOD,
    path: str = PATH,
    body: bytes = BODY,
    now: int = NOW,
    nonce: str | None = NONCE,
    recipient: PublicKey = RECEIVER,
) -> dict[str, str]:
    return sign_request(
        key, recipient=recipient, method=method, path=path, body=body, now=now, nonce=nonce
    )


def _verify(
    headers: Mapping[str, str],
    *,
    method: str = METHOD,
    path: str = PATH,
    body: bytes = BODY,
    now: int = NOW,
    replay: ReplayCache | None = None,
    max_age: int = 30,
    accept_key: Callable[[PublicKey], bool] | None = None,
    recipient: PublicKey = RECEIVER,
) -> SignedRequest:
    return verify_request(
        recipient=recipient,
        method=method,
        path=path,
        headers=headers,
        body=body,
        now=now,
        replay=replay if replay is not None else ReplayCache(window_seconds=60),
        max_age=max_age,
        accept_key=accept_key or (lambda key: key == KEY.public_key),
    )


def _with(headers: Mapping[str, str], name: str, old: str, new: str) -> dict[str, str]:
    assert old in headers[name], (old, headers[name])
    return {**headers, name: headers[name].replace(old, new)}


# --- RFC 9421 Appendix B.2.6 ----------------------------------------------------------------

# Appendix B.1.4, "Example Ed25519 Test Key" (test-key-ed25519), as PKCS#8 PEM and as JWK.
RFC_PRIVATE_PEM = "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF"
RFC_PUBLIC_PEM = "MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs="
RFC_JWK_D = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU"
RFC_JWK_X = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"

# Appendix B.2.6, "Signing a Request Using ed25519", with the RFC 8792 line wrapping undone.
RFC_COMPONENTS = (
    ("date", "Tue, 20 Apr 2021 02:07:55 GMT"),
    ("@method", "POST"),
    ("@path", "/foo"),
    ("@authority", "example.com"),
    ("content-type", "application/json"),
    ("content-length", "18"),
)
RFC_PARAMS = (("created", 1618884473), ("keyid", "test-key-ed25519"))
RFC_SIGNATURE_PARAMS = (
    '("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)
RFC_BASE = (
    '"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
    '"@method": POST\n'
    '"@path": /foo\n'
    '"@authority": example.com\n'
    '"content-type": application/json\n'
    '"content-length": 18\n'
    f'"@signature-params": {RFC_SIGNATURE_PARAMS}'
)
RFC_SIGNATURE_INPUT = f"sig-b26={RFC_SIGNATURE_PARAMS}"
RFC_SIGNATURE_B64 = (
    "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="
)
RFC_SIGNATURE = f"sig-b26=:{RFC_SIGNATURE_B64}:"


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _rfc_key() -> SigningKey:
    return SigningKey(_b64url(RFC_JWK_D))


def test_rfc_test_key_forms_agree() -> None:
    # PKCS#8 and SPKI for Ed25519 end with the raw 32-byte seed and public key respectively.
    assert base64.b64decode(RFC_PRIVATE_PEM)[-32:] == _b64url(RFC_JWK_D)
    assert base64.b64decode(RFC_PUBLIC_PEM)[-32:] == _b64url(RFC_JWK_X)
    assert _rfc_key().public_key.raw == _b64url(RFC_JWK_X)


def test_rfc9421_b26_signature_base_is_reproduced() -> None:
    assert httpsig.signature_base(RFC_COMPONENTS, RFC_PARAMS) == RFC_BASE.encode()


def test_rfc9421_b26_signature_is_reproduced() -> None:
    signature = sign_raw(_rfc_key(), RFC_BASE.encode())
    assert base64.b64encode(signature).decode() == RFC_SIGNATURE_B64


def test_rfc9421_b26_headers_are_reproduced() -> None:
    covered = sf.InnerList(tuple(sf.Item(name) for name, _ in RFC_COMPONENTS), RFC_PARAMS)
    signature = base64.b64decode(RFC_SIGNATURE_B64)
    assert sf.serialize_dictionary({"sig-b26": covered}) == RFC_SIGNATURE_INPUT
    assert sf.serialize_dictionary({"sig-b26": sf.Item(signature)}) == RFC_SIGNATURE


def test_rfc9421_b26_verifies_from_the_rfc_headers() -> None:
    covered = sf.parse_dictionary(RFC_SIGNATURE_INPUT)["sig-b26"]
    assert isinstance(covered, sf.InnerList)
    base = httpsig._signature_base(covered, [value for _, value in RFC_COMPONENTS])
    assert base == RFC_BASE.encode()
    signature = sf.parse_dictionary(RFC_SIGNATURE)["sig-b26"]
    assert isinstance(signature, sf.Item)
    assert isinstance(signature.value, bytes)
    public = PublicKey(_b64url(RFC_JWK_X))
    verify_raw(public, base, signature.value)
    with pytest.raises(BadSignatureError, match="does not verify"):
        verify_raw(public, base.replace(b"/foo", b"/bar"), signature.value)


def test_rfc9530_content_digest_example() -> None:
    assert httpsig.content_digest(BODY) == "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"


# --- Wire form and round trip ---------------------------------------------------------------


def test_sign_produces_the_documented_headers() -> None:
    headers = _sign()
    assert set(headers) == {"Hashbank-Recipient", "Content-Digest", "Signature-Input", "Signature"}
    assert headers["Hashbank-Recipient"] == str(RECEIVER)
    assert headers["Content-Digest"] == httpsig.content_digest(BODY)
    assert headers["Signature-Input"] == (
        'hb=("@method" "@path" "@query" "hashbank-recipient" "content-digest")'
        f';created={NOW};keyid="{KEY.public_key}";alg="ed25519";nonce="{NONCE}";tag="hashbank"'
    )
    assert headers["Signature"].startswith("hb=:")
    assert headers["Signature"].endswith(":")


def _base(headers: Mapping[str, str], method: str = METHOD, path: str = PATH) -> bytes:
    covered = sf.parse_dictionary(headers["Signature-Input"])["hb"]
    assert isinstance(covered, sf.InnerList)
    target = httpsig._Target.parse(method, path)
    assert isinstance(target, httpsig._Target)
    values = target.values(headers["Hashbank-Recipient"], headers["Content-Digest"])
    return httpsig._signature_base(covered, values)


def test_signature_base_covers_method_path_query_recipient_and_digest() -> None:
    headers = _sign()
    base = _base(headers)
    assert base.decode().split("\n")[:5] == [
        '"@method": POST',
        '"@path": /v1/feeds/abc',
        '"@query": ?since=12&limit=100',
        f'"hashbank-recipient": {RECEIVER}',
        f'"content-digest": {headers["Content-Digest"]}',
    ]
    assert base.startswith(b'"@method": ')


def test_round_trip() -> None:
    result = _verify(_sign())
    assert result == SignedRequest(KEY.public_key, NOW, NONCE)


def test_round_trip_without_query_covers_empty_query() -> None:
    headers = _sign(path="/v1/status", method="GET", body=b"")
    assert _verify(headers, path="/v1/status", method="GET", body=b"").key == KEY.public_key
    with pytest.raises(AuthError, match="does not verify"):
        _verify(headers, path="/v1/status?x=1", method="GET", body=b"")


def test_default_nonce_is_random_and_accepted() -> None:
    first, second = _sign(nonce=None), _sign(nonce=None)
    assert first["Signature-Input"] != second["Signature-Input"]
    replay = ReplayCache(60)
    assert len(_verify(first, replay=replay).nonce) == 22
    _verify(second, replay=replay)


def test_header_lookup_is_case_insensitive() -> None:
    headers = {name.lower(): value for name, value in _sign().items()}
    assert _verify(headers).key == KEY.public_key
    upper = {name.upper(): value for name, value in _sign().items()}
    assert _verify(upper).key == KEY.public_key


def test_multidict_headers_are_accepted() -> None:
    headers = CIMultiDict(_sign())
    headers.add("Content-Type", "application/msgpack")
    assert _verify(headers).key == KEY.public_key


def test_other_signature_labels_are_ignored() -> None:
    headers = _sign()
    headers["Signature-Input"] = (
        'proxy=("@method");created=1;keyid="x", ' + headers["Signature-Input"]
    )
    headers["Signature"] = headers["Signature"] + ", proxy=:AAAA:"
    assert _verify(headers).key == KEY.public_key


def test_parameter_order_of_the_signer_is_respected() -> None:
    params = (
        ("nonce", NONCE),
        ("tag", "hashbank"),
        ("alg", "ed25519"),
        ("keyid", str(KEY.public_key)),
        ("created", NOW),
    )
    covered = httpsig._covered(params)
    target = httpsig._Target.parse(METHOD, PATH)
    assert isinstance(target, httpsig._Target)
    digest = httpsig.content_digest(BODY)
    base = httpsig._signature_base(covered, target.values(str(RECEIVER), digest))
    headers = {
        "Hashbank-Recipient": str(RECEIVER),
        "Content-Digest": digest,
        "Signature-Input": sf.serialize_dictionary({"hb": covered}),
        "Signature": sf.serialize_dictionary({"hb": sf.Item(sign_raw(KEY, base))}),
    }
    assert _verify(headers).nonce == NONCE


def test_extra_spaces_inside_the_covered_list_are_not_part_of_the_base() -> None:
    # The @signature-params line is the serialisation of the parsed list, not the raw text.
    headers = _sign()
    spaced = headers["Signature-Input"].replace('" "', '"   "').replace("hb=(", "hb=(  ")
    assert spaced != headers["Signature-Input"]
    assert _verify({**headers, "Signature-Input": spaced}).key == KEY.public_key


def test_optional_whitespace_around_header_values_is_tolerated() -> None:
    headers = {name: f" {value}\t" for name, value in _sign().items()}
    assert _verify(headers).key == KEY.public_key


# --- Domain separation ----------------------------------------------------------------------


def test_base_never_signed_or_verified_with_a_hashbank_prefix() -> None:
    with pytest.raises(ValueError, match="quoted component identifier"):
        sign_raw(KEY, Context.ENTRY.value + b"anything")
    entry_signature = KEY.sign(Context.ENTRY, b"anything")
    with pytest.raises(ValueError, match="quoted component identifier"):
        verify_raw(KEY.public_key, Context.ENTRY.value + b"anything", entry_signature)


def test_http_signature_is_not_a_context_signature_and_vice_versa() -> None:
    headers = _sign()
    signature = base64.b64decode(headers["Signature"][len("hb=:") : -1])
    base = _base(headers)
    for context in Context:
        with pytest.raises(BadSignatureError):
            KEY.public_key.verify(context, base, signature)
    request_signature = KEY.sign(Context.REQUEST, base)
    forged = {
        **headers,
        "Signature": sf.serialize_dictionary({"hb": sf.Item(request_signature)}),
    }
    with pytest.raises(AuthError, match="does not verify"):
        _verify(forged)


# --- Refusals -------------------------------------------------------------------------------


HEADERS = ["Hashbank-Recipient", "Content-Digest", "Signature-Input", "Signature"]


@pytest.mark.parametrize("name", HEADERS)
def test_missing_header(name: str) -> None:
    headers = _sign()
    del headers[name]
    with pytest.raises(AuthError, match=f"missing {name} header"):
        _verify(headers)


@pytest.mark.parametrize("name", HEADERS)
def test_duplicate_header(name: str) -> None:
    headers = _sign()
    headers[name.lower()] = headers[name]
    with pytest.raises(AuthError, match=f"{name} header appears 2 times"):
        _verify(headers)
    multi = CIMultiDict(_sign())
    multi.add(name, multi[name])
    with pytest.raises(AuthError, match="appears 2 times"):
        _verify(multi)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("a" * 5000, "5000 characters, limit 4096"),
        ('hb=("@méthod")', "non-ASCII or control"),
        ('hb=("@method")\r\nX-Evil: 1', "non-ASCII or control"),
        ("hb=(\x00)", "non-ASCII or control"),
    ],
)
def test_oversized_or_non_ascii_header(value: str, problem: str) -> None:
    with pytest.raises(AuthError, match=problem):
        _verify({**_sign(), "Signature-Input": value})


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("hb=(", "not a valid structured field"),
        ('hb=("@method"', "not a valid structured field"),
        ("HB=()", "not a valid structured field"),
        ("hb=(), ", "trailing comma"),
        ("hb=(), hb=()", "duplicate key 'hb'"),
        ('hb=("@method");created=1;created=2', "duplicate parameter 'created'"),
        ('hb=("@method")junk', "not a valid structured field"),
        ("sig1=()", "no 'hb' signature"),
        ("hb=:AAAA:", "not an inner list"),
        ("", "no 'hb' signature"),
    ],
)
def test_garbled_signature_input(value: str, problem: str) -> None:
    with pytest.raises(AuthError, match=problem):
        _verify({**_sign(), "Signature-Input": value})


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("hb=:AAE:", "bad base64"),
        ("hb=:AAF=:", "non-canonical base64"),
        ("hb=:!!!!:", "expected byte sequence"),
        ("hb=(1 2)", "not a byte sequence"),
        ('hb="sig"', "not a byte sequence"),
        ("hb=:AAAA:;p=1", "not a byte sequence"),
        ("hb=:AAAA:", "signature is 3 bytes, expected 64"),
        ("other=:AAAA:", "Signature header has no 'hb' signature"),
    ],
)
def test_garbled_signature(value: str, problem: str) -> None:
    with pytest.raises(AuthError, match=problem):
        _verify({**_sign(), "Signature": value})


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("sha-512=:" + base64.b64encode(bytes(64)).decode() + ":", "exactly sha-256"),
        (httpsig.content_digest(BODY) + ", md5=:AAAA:", "exactly sha-256"),
        ("sha-256=:AAAA:", "not a 32-byte sequence"),
        ("sha-256=abc", "not a 32-byte sequence"),
        ("sha-256=:not base64:", "not a valid structured field"),
    ],
)
def test_garbled_content_digest(value: str, problem: str) -> None:
    with pytest.raises(AuthError, match=problem):
        _verify({**_sign(), "Content-Digest": value})


COVERED = '("@method" "@path" "@query" "hashbank-recipient" "content-digest")'


@pytest.mark.parametrize(
    "replacement",
    [
        '("@method" "@path" "@query" "content-digest")',
        '("@method" "@path" "hashbank-recipient" "content-digest")',
        '("@path" "@method" "@query" "hashbank-recipient" "content-digest")',
        '("@method" "@path" "@query" "content-digest" "hashbank-recipient")',
        '("@method" "@path" "@query" "hashbank-recipient" "content-digest" "content-type")',
        '("@method";req "@path" "@query" "hashbank-recipient" "content-digest")',
        '("@method" "@path" "@query" "hashbank-recipient" content-digest)',
        '("@method" "@path" "@query" "Hashbank-Recipient" "content-digest")',
        "()",
    ],
)
def test_wrong_covered_components(replacement: str) -> None:
    headers = _with(_sign(), "Signature-Input", COVERED, replacement)
    with pytest.raises(AuthError, match="covered components must be exactly"):
        _verify(headers)


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (f';nonce="{NONCE}"', "", r"missing signature parameters \['nonce'\]"),
        (f";created={NOW}", "", r"missing signature parameters \['created'\]"),
        (';tag="hashbank"', "", r"missing signature parameters \['tag'\]"),
        (';alg="ed25519"', "", r"missing signature parameters \['alg'\]"),
        (";keyid=", ";kid=", "missing signature parameters"),
        (';tag="hashbank"', ';tag="hashbank";expires=1700000100', "unexpected signature param"),
        ('alg="ed25519"', 'alg="rsa-pss-sha512"', "alg must be 'ed25519'"),
        ('alg="ed25519"', "alg=ed25519", "alg must be 'ed25519'"),
        ('tag="hashbank"', 'tag="other-app"', "tag must be 'hashbank'"),
        (f"created={NOW}", f'created="{NOW}"', "created must be a non-negative integer"),
        (f"created={NOW}", "created=-5", "created must be a non-negative integer"),
        (f"created={NOW}", f"created={NOW}.5", "created must be a non-negative integer"),
        (f"created={NOW}", "created", "created must be a non-negative integer"),
        (f'keyid="{KEY.public_key}"', f'keyid="{str(KEY.public_key).upper()}"', "lowercase hex"),
        (f'keyid="{KEY.public_key}"', 'keyid="test-key-ed25519"', "lowercase hex"),
        (f'nonce="{NONCE}"', 'nonce="short"', "nonce must be"),
        (f'nonce="{NONCE}"', 'nonce="has spaces in it, which is odd"', "nonce must be"),
    ],
)
def test_bad_signature_params(old: str, new: str, problem: str) -> None:
    with pytest.raises(AuthError, match=problem):
        _verify(_with(_sign(), "Signature-Input", old, new))


@pytest.mark.parametrize("offset", [-30, 0, 5])
def test_created_inside_window_is_accepted(offset: int) -> None:
    assert _verify(_sign(now=NOW + offset)).created == NOW + offset


def test_created_too_old_is_refused() -> None:
    with pytest.raises(AuthError, match="too old"):
        _verify(_sign(now=NOW - 31))
    with pytest.raises(AuthError, match="too old"):
        _verify(_sign(now=NOW - 11), max_age=10)


def test_created_in_future_is_refused() -> None:
    with pytest.raises(AuthError, match="in the future"):
        _verify(_sign(now=NOW + 6))


def test_key_not_accepted() -> None:
    with pytest.raises(AuthError, match=f"key {OTHER.public_key} is not accepted"):
        _verify(_sign(OTHER))


def test_a_request_signed_for_another_node_is_refused() -> None:
    headers = _sign(recipient=OTHER.public_key)
    with pytest.raises(AuthError, match=f"addressed to node {OTHER.public_key}, not to this node"):
        _verify(headers)
    assert _verify(headers, recipient=OTHER.public_key).key == KEY.public_key


def test_a_request_addressed_to_an_earlier_key_of_the_verifier_is_accepted() -> None:
    # After a rotation, peers that have not yet seen the new charter use the old node id.
    asked: list[PublicKey] = []

    def earlier(key: PublicKey) -> bool:
        asked.append(key)
        return key == OTHER.public_key

    headers = _sign(recipient=OTHER.public_key)
    result = verify_request(
        recipient=RECEIVER,
        earlier_key=earlier,
        method=METHOD,
        path=PATH,
        headers=headers,
        body=BODY,
        now=NOW,
        replay=ReplayCache(60),
        accept_key=lambda key: key == KEY.public_key,
    )
    assert result.key == KEY.public_key
    assert asked == [OTHER.public_key]
    stranger = SigningKey(bytes(range(3, 35))).public_key
    with pytest.raises(AuthError, match=f"addressed to node {stranger}"):
        verify_request(
            recipient=RECEIVER,
            earlier_key=earlier,
            method=METHOD,
            path=PATH,
            headers=_sign(recipient=stranger),
            body=BODY,
            now=NOW,
            replay=ReplayCache(60),
            accept_key=lambda key: key == KEY.public_key,
        )


def test_the_current_key_never_asks_about_earlier_keys() -> None:
    def earlier(key: PublicKey) -> bool:
        raise AssertionError("asked about an earlier key for a request to the current one")

    verify_request(
        recipient=RECEIVER,
        earlier_key=earlier,
        method=METHOD,
        path=PATH,
        headers=_sign(),
        body=BODY,
        now=NOW,
        replay=ReplayCache(60),
        accept_key=lambda key: key == KEY.public_key,
    )


def test_recipient_rewritten_to_the_verifier_does_not_verify() -> None:
    headers = {**_sign(recipient=OTHER.public_key), "Hashbank-Recipient": str(RECEIVER)}
    with pytest.raises(AuthError, match="does not verify"):
        _verify(headers)


@pytest.mark.parametrize(
    "value",
    [str(RECEIVER).upper(), str(RECEIVER)[:-1], str(RECEIVER) + "0", f'"{RECEIVER}"', ""],
)
def test_recipient_must_be_exactly_64_lowercase_hex(value: str) -> None:
    headers = {**_sign(), "Hashbank-Recipient": value}
    with pytest.raises(AuthError, match="Hashbank-Recipient must be 64 lowercase hex"):
        _verify(headers)


def test_content_digest_mismatch() -> None:
    with pytest.raises(AuthError, match="Content-Digest does not match the body"):
        _verify(_sign(), body=BODY + b" ")


def test_bad_signature() -> None:
    headers = _sign()
    signature = bytearray(base64.b64decode(headers["Signature"][4:-1]))
    signature[10] ^= 1
    forged = {**headers, "Signature": f"hb=:{base64.b64encode(signature).decode()}:"}
    with pytest.raises(AuthError, match=f"signature does not verify with key {KEY.public_key}"):
        _verify(forged)


def test_replay_is_refused() -> None:
    replay = ReplayCache(60)
    headers = _sign()
    _verify(headers, replay=replay)
    with pytest.raises(AuthError, match="already used"):
        _verify(headers, replay=replay, now=NOW + 10)


def test_failed_requests_do_not_consume_nonces() -> None:
    replay = ReplayCache(60)
    headers = _sign()
    with pytest.raises(AuthError):
        _verify(headers, replay=replay, body=b"tampered")
    with pytest.raises(AuthError):
        _verify(headers, replay=replay, method="PUT")
    assert len(replay) == 0
    _verify(headers, replay=replay)
    assert len(replay) == 1


@pytest.mark.parametrize(
    ("method", "path", "problem"),
    [
        ("PO ST", PATH, "not an HTTP token"),
        ("", PATH, "not an HTTP token"),
        (METHOD, "v1/feeds", "not an origin-form"),
        (METHOD, "", "not an origin-form"),
        (METHOD, "/a b", "not an origin-form"),
        (METHOD, "/a#frag", "not an origin-form"),
        (METHOD, "/caf\u00e9", "not an origin-form"),
        (METHOD, "/a\nb", "not an origin-form"),
        (METHOD, "/" + "a" * 9000, "limit 8192"),
    ],
)
def test_bad_request_target(method: str, path: str, problem: str) -> None:
    with pytest.raises(AuthError, match=problem):
        _verify(_sign(), method=method, path=path)
    with pytest.raises(InvalidValueError, match=problem):
        _sign(method=method, path=path)


def test_sign_rejects_bad_nonce_and_time() -> None:
    with pytest.raises(InvalidValueError, match="nonce"):
        _sign(nonce='bad"nonce-with-quote')
    with pytest.raises(InvalidValueError, match="now"):
        _sign(now=-1)


def test_replay_window_shorter_than_max_age_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="replay window 10s is shorter than max_age 30s"):
        _verify(_sign(), replay=ReplayCache(10))


# --- Tampering ------------------------------------------------------------------------------


def test_tampered_method() -> None:
    with pytest.raises(AuthError, match="does not verify"):
        _verify(_sign(), method="PUT")


def test_tampered_path_and_query() -> None:
    with pytest.raises(AuthError, match="does not verify"):
        _verify(_sign(), path="/v1/feeds/abd?since=12&limit=100")
    with pytest.raises(AuthError, match="does not verify"):
        _verify(_sign(), path="/v1/feeds/abc?since=13&limit=100")
    with pytest.raises(AuthError, match="does not verify"):
        _verify(_sign(), path="/v1/feeds/abc")


def test_tampered_body_with_matching_digest() -> None:
    # An attacker who also rewrites Content-Digest still cannot re-sign it.
    body = b'{"hello": "there"}'
    headers = {**_sign(), "Content-Digest": httpsig.content_digest(body)}
    with pytest.raises(AuthError, match="does not verify"):
        _verify(headers, body=body)


def test_tampered_created() -> None:
    headers = _with(_sign(), "Signature-Input", f"created={NOW}", f"created={NOW - 1}")
    with pytest.raises(AuthError, match="does not verify"):
        _verify(headers)


def test_tampered_nonce() -> None:
    headers = _with(_sign(), "Signature-Input", NONCE, NONCE[::-1])
    with pytest.raises(AuthError, match="does not verify"):
        _verify(headers)


def test_tampered_keyid() -> None:
    headers = _with(_sign(), "Signature-Input", str(KEY.public_key), str(OTHER.public_key))
    with pytest.raises(AuthError, match=f"does not verify with key {OTHER.public_key}"):
        _verify(headers, accept_key=lambda key: True)


def test_signature_from_another_request() -> None:
    other = _sign(path="/v1/other")
    headers = {**_sign(), "Signature": other["Signature"]}
    with pytest.raises(AuthError, match="does not verify"):
        _verify(headers)


# --- Properties -----------------------------------------------------------------------------

# Visible ASCII except '#', the alphabet _Target accepts after the leading '/'.
PATH_CHARS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "#")
paths = st.text(PATH_CHARS, max_size=60).map(lambda tail: "/" + tail)
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"])


@given(body=st.binary(max_size=512), path=paths, method=methods)
def test_random_requests_round_trip(body: bytes, path: str, method: str) -> None:
    headers = _sign(method=method, path=path, body=body, nonce=None)
    result = _verify(headers, method=method, path=path, body=body)
    assert result.key == KEY.public_key
    assert result.created == NOW


@given(body=st.binary(min_size=1, max_size=256), data=st.data())
def test_any_body_byte_change_is_rejected(body: bytes, data: st.DataObject) -> None:
    headers = _sign(body=body)
    index = data.draw(st.integers(0, len(body) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != body[index]))
    tampered = body[:index] + bytes([byte]) + body[index + 1 :]
    with pytest.raises(AuthError, match="Content-Digest does not match"):
        _verify(headers, body=tampered)


@given(name=st.sampled_from(HEADERS), data=st.data())
def test_any_header_character_change_is_rejected(name: str, data: st.DataObject) -> None:
    headers = _sign()
    value = headers[name]
    index = data.draw(st.integers(0, len(value) - 1))
    char = data.draw(st.characters(min_codepoint=0, max_codepoint=255))
    assume(char != value[index])
    tampered = {**headers, name: value[:index] + char + value[index + 1 :]}
    with pytest.raises(AuthError):
        _verify(tampered, accept_key=lambda key: True)


@given(path=paths, data=st.data())
def test_any_path_character_change_is_rejected(path: str, data: st.DataObject) -> None:
    headers = _sign(path=path)
    index = data.draw(st.integers(1, len(path) - 1)) if len(path) > 1 else 0
    char = data.draw(st.sampled_from(PATH_CHARS))
    assume(char != path[index])
    with pytest.raises(AuthError):
        _verify(headers, path=path[:index] + char + path[index + 1 :])


# --- Replay cache ---------------------------------------------------------------------------

KEY_A = b"a" * 32
KEY_B = b"b" * 32


def test_cache_refuses_a_seen_nonce_and_scopes_nonces_per_key() -> None:
    cache = ReplayCache(30)
    cache.check_and_remember(KEY_A, "n1", created=100, now=100)
    cache.check_and_remember(KEY_B, "n1", created=100, now=100)
    cache.check_and_remember(KEY_A, "n2", created=100, now=100)
    with pytest.raises(AuthError, match="already used"):
        cache.check_and_remember(KEY_A, "n1", created=100, now=130)
    assert len(cache) == 3


def test_cache_forgets_only_after_expiry() -> None:
    cache = ReplayCache(30)
    cache.check_and_remember(KEY_A, "n1", created=100, now=100)
    cache.check_and_remember(KEY_A, "n2", created=120, now=120)
    cache.check_and_remember(KEY_A, "n3", created=131, now=131)
    assert len(cache) == 2
    cache.check_and_remember(KEY_A, "n4", created=151, now=151)
    assert len(cache) == 2


def test_cache_refuses_requests_older_than_its_window() -> None:
    cache = ReplayCache(30)
    with pytest.raises(AuthError, match="older than the replay window"):
        cache.check_and_remember(KEY_A, "n1", created=100, now=131)
    cache.check_and_remember(KEY_A, "n1", created=100, now=130)


def test_full_cache_refuses_instead_of_evicting_live_nonces() -> None:
    cache = ReplayCache(30, max_entries=3)
    for nonce in ("n1", "n2", "n3"):
        cache.check_and_remember(KEY_A, nonce, created=100, now=100)
    with pytest.raises(AuthError, match="too many requests in window"):
        cache.check_and_remember(KEY_A, "n4", created=100, now=110)
    with pytest.raises(AuthError, match="already used"):
        cache.check_and_remember(KEY_A, "n1", created=100, now=130)
    cache.check_and_remember(KEY_A, "n4", created=131, now=131)
    assert len(cache) == 1


def test_one_key_fills_only_its_share_of_the_cache() -> None:
    cache = ReplayCache(30, max_entries=6, max_per_key=3)
    for nonce in ("n1", "n2", "n3"):
        cache.check_and_remember(KEY_A, nonce, created=100, now=100)
    with pytest.raises(AuthError, match="too many requests from key"):
        cache.check_and_remember(KEY_A, "n4", created=100, now=100)
    assert cache.held_by(KEY_A) == 3
    for nonce in ("n1", "n2", "n3"):  # the other member is still served
        cache.check_and_remember(KEY_B, nonce, created=100, now=100)
    cache.check_and_remember(KEY_A, "n4", created=131, now=131)  # A's share freed on expiry
    assert cache.held_by(KEY_A) == 1
    assert cache.held_by(KEY_B) == 0


def test_headers_are_checked_before_the_body_and_nothing_is_recorded_until_remember() -> None:
    cache = ReplayCache(DEFAULT_MAX_AGE)
    headers = _sign(body=b"the body")
    checked = check_headers(
        recipient=RECEIVER,
        method=METHOD,
        path=PATH,
        headers=headers,
        now=NOW,
        replay=cache,
        accept_key=lambda key: True,
    )
    assert len(cache) == 0
    with pytest.raises(AuthError, match="Content-Digest"):
        checked.verify_body(b"another body")
    signed = checked.verify_body(b"the body")
    assert len(cache) == 0  # a rate limit may still refuse it: then nothing is recorded
    cache.remember(signed, NOW)
    with pytest.raises(AuthError, match="already used"):  # a replay is refused before its body
        check_headers(
            recipient=RECEIVER,
            method=METHOD,
            path=PATH,
            headers=headers,
            now=NOW,
            replay=cache,
            accept_key=lambda key: True,
        )


def test_cache_rejects_nonsense_configuration() -> None:
    with pytest.raises(ValueError, match="positive"):
        ReplayCache(0)
    with pytest.raises(ValueError, match="positive"):
        ReplayCache(30, max_entries=0)


@given(
    st.lists(
        st.tuples(st.sampled_from([KEY_A, KEY_B]), st.sampled_from("abcde"), st.integers(0, 20)),
        max_size=60,
    )
)
def test_cache_never_allows_a_live_replay_and_stays_bounded(
    events: list[tuple[bytes, str, int]],
) -> None:
    window, limit = 10, 4
    cache = ReplayCache(window, max_entries=limit)
    accepted: dict[tuple[bytes, str], int] = {}
    now = 0
    for key, nonce, step in events:
        now += step % 6
        created = now - step % 3
        try:
            cache.check_and_remember(key, nonce, created=created, now=now)
        except AuthError:
            continue
        previous = accepted.get((key, nonce))
        assert previous is None or previous + window < now
        accepted[(key, nonce)] = created
        assert len(cache) <= limit
