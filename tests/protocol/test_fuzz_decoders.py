"""Fuzz every decoder a peer can reach with hostile bytes: only ``ProtocolError`` may come out.

Decoders: canonical msgpack (``wire.decode``), entries and headers, entry bodies, charters and
charter bodies, fork proofs, the three sync messages, and RFC 9421 request headers. Inputs:
random bytes, hand-written msgpack with every encoding choice (non-minimal integers and lengths,
maps, floats, extension types, lying and 4 GB length fields, truncation, trailing bytes), deep
nesting, byte- and token-level mutations of valid encodings, re-encodings of valid values, and
validly *signed* entries around hostile headers and bodies (so the body decoder behind the
signature and digest checks is reached too).

Budget: every Hypothesis test has a fixed ``max_examples``; ``EXAMPLES`` adds up to 4,900
generated inputs per run. Deterministic sweeps add 13,260 (every hostile token alone, nested,
and in place of each token of each seed), 8,532 (4 GB length headers at every position) and 9
(oversized inputs): about 26,700 inputs in 15-20 s. The counts actually tried are written to
``$HASHBANK_FUZZ_DIR/hashbank-fuzz/decoders.json`` (default: the system temp dir) and printed
at the end of the module. ``pytest --hypothesis-seed=N`` replays one run exactly.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from protocol import wire
from protocol.body import decode_body, parse_kind
from protocol.charter import MAX_CHARTER_SIZE, decode_charter
from protocol.charter import decode_body as decode_charter_body
from protocol.entry import MAX_ENTRY_SIZE, MAX_HEADER_SIZE, decode_entry, decode_header
from protocol.errors import AuthError, NonCanonicalError, ProtocolError, TooLargeError
from protocol.feed import SelfCertifying, decode_fork_proof
from protocol.httpsig import MAX_HEADER_LENGTH, ReplayCache, sign_request, verify_request
from protocol.identity import SigningKey
from protocol.sync import (
    MAX_AUTHORS,
    MAX_BATCH_BYTES,
    MAX_RANGES,
    decode_entries,
    decode_heads,
    decode_ranges,
)
from tests.fuzz import hostile
from tests.fuzz import strategies as hs
from tests.fuzz.hostile import Tally

POLICY = SelfCertifying()

DECODERS: dict[str, Callable[[bytes], object]] = {
    "wire": lambda data: wire.decode(data, max_size=MAX_ENTRY_SIZE),
    "entry": decode_entry,
    "header": decode_header,
    "charter": decode_charter,
    "charter_body": decode_charter_body,
    "fork_proof": lambda data: decode_fork_proof(data, POLICY),
    "heads": decode_heads,
    "ranges": decode_ranges,
    "entries": decode_entries,
}
# The largest input each decoder reads before refusing on size alone.
MAX_SIZES = {
    "wire": MAX_ENTRY_SIZE,
    "entry": MAX_ENTRY_SIZE,
    "header": MAX_HEADER_SIZE,
    "charter": MAX_CHARTER_SIZE,
    "charter_body": MAX_CHARTER_SIZE,
    "fork_proof": 2 * MAX_ENTRY_SIZE,
    "heads": MAX_AUTHORS * 80 + 8,
    "ranges": MAX_RANGES * 64 + 8,
    "entries": MAX_BATCH_BYTES + MAX_ENTRY_SIZE,
}
_SEEDS = hostile.seeds()
POOLS: dict[str, tuple[bytes, ...]] = {
    "wire": _SEEDS.all(),
    "entry": _SEEDS.entries,
    "header": _SEEDS.headers,
    "charter": _SEEDS.charters,
    "charter_body": _SEEDS.charter_bodies,
    "fork_proof": _SEEDS.fork_proofs,
    "heads": _SEEDS.heads,
    "ranges": _SEEDS.ranges,
    "entries": _SEEDS.batches,
}
targets = st.sampled_from(sorted(DECODERS))

# max_examples per test; their sum is the number of inputs one run tries.
EXAMPLES = {
    "random_bytes": 300,
    "hostile_msgpack": 400,
    "deep_nesting": 100,
    "mutated_seeds": 800,
    "non_minimal_reencoding": 300,
    "type_confused_reencoding": 300,
    "resigned_bodies": 400,
    "resigned_headers": 200,
    "body_values": 400,
    "charters": 300,
    "sync_messages": 300,
    "fork_proofs": 200,
    "httpsig_garbage": 300,
    "httpsig_mutated": 400,
    "httpsig_targets": 200,
}


def fuzz(name: str) -> settings:
    return settings(
        max_examples=EXAMPLES[name],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


TALLY = Tally()


@pytest.fixture(scope="module", autouse=True)
def _report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    path = TALLY.write("decoders")
    hostile.announce(request.config, f"decoder fuzz: {TALLY.summary()}; counts in {path}")


def _in_model(value: Any) -> bool:
    """Only what ``protocol.wire`` admits, plus floats (which the schema layer refuses)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is list:
            stack.extend(item)
        elif item is not None and type(item) not in (bool, int, bytes, str, float):
            return False
    return True


def attempt(target: str, data: bytes, *, count_as: str | None = None) -> object | ProtocolError:
    """Run one decoder; any exception but a ``ProtocolError`` fails the test."""
    try:
        result = DECODERS[target](data)
    except ProtocolError as exc:
        TALLY.add(count_as or target, accepted=False)
        return exc
    TALLY.add(count_as or target, accepted=True)
    # Whatever a decoder accepts is canonical msgpack of the allowed value model.
    value = wire.decode(data, max_size=len(data))
    assert _in_model(value), value
    if target == "wire":
        assert msgpack.packb(result, use_bin_type=True) == data
    return result


# --- blind inputs ---------------------------------------------------------------------------


@fuzz("random_bytes")
@given(targets, hs.garbage)
def test_random_bytes(target: str, data: bytes) -> None:
    attempt(target, data)


@fuzz("hostile_msgpack")
@given(targets, hs.hostile_msgpack)
def test_hostile_msgpack(target: str, data: bytes) -> None:
    attempt(target, data)


@fuzz("deep_nesting")
@given(targets, hs.deeply_nested)
def test_deep_nesting(target: str, data: bytes) -> None:
    attempt(target, data)


# --- mutations of valid encodings -----------------------------------------------------------


@st.composite
def mutated_inputs(draw: st.DrawFn) -> tuple[str, bytes]:
    target = draw(targets)
    return target, draw(hs.mutated(POOLS[target]))


@fuzz("mutated_seeds")
@given(mutated_inputs())
def test_mutated_seeds(case: tuple[str, bytes]) -> None:
    attempt(*case)


@st.composite
def reencoded_inputs(draw: st.DrawFn, same_value: bool) -> tuple[str, bytes, bytes]:
    target = draw(targets)
    seed = draw(st.sampled_from(POOLS[target]))
    return target, seed, draw(hs.reencoded([seed], same_value=same_value))


@fuzz("non_minimal_reencoding")
@given(reencoded_inputs(same_value=True))
def test_non_minimal_reencoding_is_refused(case: tuple[str, bytes, bytes]) -> None:
    target, seed, data = case
    outcome = attempt(target, data)
    if data != seed:
        # The same value in any other encoding is refused as such, never accepted.
        assert isinstance(outcome, NonCanonicalError | TooLargeError), (data, outcome)


@fuzz("type_confused_reencoding")
@given(reencoded_inputs(same_value=False))
def test_type_confused_reencoding(case: tuple[str, bytes, bytes]) -> None:
    target, _, data = case
    attempt(target, data)


# --- structure-aware inputs -----------------------------------------------------------------


@fuzz("resigned_bodies")
@given(hs.resigned_bodies)
def test_signed_entries_with_hostile_bodies(data: bytes) -> None:
    attempt("entry", data)


@fuzz("resigned_headers")
@given(hs.resigned_headers)
def test_signed_entries_with_hostile_headers(data: bytes) -> None:
    attempt("entry", data)


@fuzz("body_values")
@given(hs.kinded_body_values)
def test_body_decoder_on_hostile_values(case: tuple[int, Any]) -> None:
    kind, value = case
    try:
        decode_body(parse_kind(kind), value)
    except ProtocolError:
        TALLY.add("body", accepted=False)
    else:
        TALLY.add("body", accepted=True)


@fuzz("charters")
@given(hs.structured_charters, st.booleans())
def test_structured_charters(data: bytes, body_only: bool) -> None:
    if body_only:
        attempt("charter_body", msgpack.unpackb(data)[0])
    else:
        attempt("charter", data)


@fuzz("sync_messages")
@given(
    st.one_of(
        st.tuples(st.just("heads"), hs.heads_messages),
        st.tuples(st.just("ranges"), hs.ranges_messages),
        st.tuples(st.just("entries"), hs.entries_messages(_SEEDS.entries)),
    )
)
def test_structured_sync_messages(case: tuple[str, bytes]) -> None:
    attempt(*case)


@fuzz("fork_proofs")
@given(hs.fork_proofs(hostile.fork_proof_raw, _SEEDS.entries))
def test_structured_fork_proofs(data: bytes) -> None:
    attempt("fork_proof", data)


def test_genuine_fork_proofs_at_extreme_seqs_decode() -> None:
    for seq in (1, 2, 2**31, 2**63 - 1, 2**63, 2**64 - 1):
        proof = decode_fork_proof(hostile.fork_proof_raw(seq), POLICY)
        assert proof.seq == seq


def test_every_hostile_token_alone_nested_and_in_place_of_each_token() -> None:
    """Timestamps, floats, maps, lying lengths... wherever they appear in a valid encoding."""
    for target in sorted(DECODERS):
        for token in hostile.HOSTILE_TOKENS:
            for wrapped in (token, b"\x91" + token, b"\x92\xc0" + token):
                attempt(target, wrapped, count_as="hostile_tokens")
            for seed in POOLS[target]:
                for tok in hostile.tokens(seed)[:60]:
                    data = seed[: tok.offset] + token + seed[tok.end :]
                    attempt(target, data, count_as="hostile_tokens")


@pytest.mark.parametrize(
    ("target", "data"),
    [
        # An array among an item's labels: hashing it for the label cache raised TypeError.
        ("entry", hostile.resign_body(msgpack.packb([[["md5", bytes(16), [[]], None, None]]]))),
        ("entry", hostile.resign_body(msgpack.packb([[["pdq", bytes(32), ["a", [1]], None, 1]]]))),
        # A timestamp (extension type -1) slipped past the extension hook as a Timestamp.
        ("wire", b"\xd6\xff\x00\x00\x00\x01"),
        ("wire", b"\x91\xd7\xff\x00\x00\x00\x04\x00\x00\x00\x00"),
    ],
)
def test_inputs_that_once_escaped_a_decoder(target: str, data: bytes) -> None:
    assert isinstance(attempt(target, data, count_as="regressions"), ProtocolError)


# --- size limits: fail fast, allocate nothing ------------------------------------------------

# Headers that declare far more than follows; each is tried alone, after every token of every
# seed, and in place of every token.
HUGE = (
    b"\xdd\xff\xff\xff\xff",
    b"\xdf\xff\xff\xff\xff",
    b"\xc6\xff\xff\xff\xff",
    b"\xdb\xff\xff\xff\xff",
    b"\xc9\xff\xff\xff\xff\x00",
    b"\xdc\xff\xff",
    b"\xde\xff\xff",
    b"\xc5\xff\xff",
    b"\xda\xff\xff",
)


def _huge_cases() -> Iterator[tuple[str, bytes]]:
    for target in sorted(DECODERS):
        for header in HUGE:
            yield target, header
            yield target, header + b"\x00" * 64
            for seed in POOLS[target]:
                for tok in hostile.tokens(seed)[:40]:
                    yield target, seed[: tok.offset] + header + seed[tok.offset :]
                    yield target, seed[: tok.offset] + header + seed[tok.end :]


def test_huge_declared_lengths_fail_fast_without_allocating() -> None:
    cases = list(_huge_cases())
    tracemalloc.start()
    try:
        for target, data in cases:
            tracemalloc.reset_peak()
            before, _ = tracemalloc.get_traced_memory()
            outcome = attempt(target, data, count_as="huge_lengths")
            _, peak = tracemalloc.get_traced_memory()
            assert isinstance(outcome, ProtocolError), (target, data[:40])
            # Proportional to the input, never to the declared length (4 GB): what makes a
            # huge length cheap, whatever the machine's speed (no timing is asserted).
            assert peak - before < 64 * len(data) + 1024 * 1024, (target, data[:40], peak)
    finally:
        tracemalloc.stop()
    assert len(cases) > 5000


@pytest.mark.parametrize("target", sorted(DECODERS))
def test_oversized_inputs_are_refused_before_parsing(target: str) -> None:
    data = b"\xc0" * (MAX_SIZES[target] + 1)
    outcome = attempt(target, data, count_as="oversized")
    # The size check's own error: parsing would have found trailing bytes instead.
    assert isinstance(outcome, TooLargeError)


# --- RFC 9421 request headers ---------------------------------------------------------------

KEY = SigningKey(bytes(range(32)))
NOW = 1_700_000_000
METHOD = "POST"
PATH = "/v1/peer/push?x=1"
BODY = b"\x90"
RECEIVER = SigningKey(bytes(range(1, 33))).public_key
SIGNED = sign_request(
    KEY, recipient=RECEIVER, method=METHOD, path=PATH, body=BODY, now=NOW, nonce="n" * 22
)

# Pieces of RFC 8941 structured fields, to write plausible garbage.
SF_PIECES = (
    "hb",
    "sig",
    "=",
    "(",
    ")",
    '"@method"',
    '"@path"',
    '"@query"',
    '"content-digest"',
    '"hashbank-recipient"',
    str(RECEIVER),
    '"@authority"',
    ";",
    "created=",
    "keyid=",
    "alg=",
    "nonce=",
    "tag=",
    "expires=",
    '"ed25519"',
    '"hashbank"',
    f'"{KEY.public_key}"',
    f"{NOW}",
    "999999999999999",
    "9999999999999999",
    "-1",
    "1.5",
    "123456789012.123",
    "?1",
    "?0",
    ":",
    "AAAA",
    "YQ==",
    "YR==",
    "sha-256=",
    "sha-512=",
    ",",
    ", ",
    " ",
    "\t",
    '"',
    "\\",
    '\\"',
    "*",
    "tok/en",
    "=" * 3,
)
sf_text = st.lists(
    st.sampled_from(SF_PIECES) | st.text(st.characters(min_codepoint=32, max_codepoint=126)),
    max_size=40,
).map("".join)
header_values = st.one_of(
    sf_text,
    sf_text,
    st.text(max_size=60),
    st.text(max_size=60).map(lambda t: t * 200),
    st.just("a" * (MAX_HEADER_LENGTH + 1)),
)


def _mutate_text(text: str, ops: list[tuple[int, int, int]]) -> str:
    chars = list(text)
    for op, a, b in ops:
        at = a % (len(chars) + 1)
        piece = SF_PIECES[b % len(SF_PIECES)]
        if op == 0 and chars:
            del chars[at % len(chars)]
        elif op == 1:
            chars[at:at] = piece
        elif op == 2 and chars:
            chars[at % len(chars)] = chr(32 + b % 95)
        elif op == 3:
            del chars[at : at + 1 + b % 8]
        elif op == 4 and chars:
            chars[at:at] = chars[at : at + 1 + b % 16]
        elif op == 5:
            chars[at:at] = chr(b % 0x110000) if not 0xD800 <= b % 0x110000 < 0xE000 else "\x00"
    return "".join(chars)


text_ops = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 2**16), st.integers(0, 2**32)),
    min_size=1,
    max_size=4,
)
header_names = st.sampled_from(
    ("Hashbank-Recipient", "Content-Digest", "Signature-Input", "Signature")
)


@st.composite
def mutated_headers(draw: st.DrawFn) -> CIMultiDict[str]:
    headers = CIMultiDict(SIGNED)
    for name in draw(st.lists(header_names, min_size=1, max_size=4, unique=True)):
        how = draw(st.integers(0, 9))
        if how == 0:
            del headers[name]
        elif how == 1:  # a second copy
            headers.add(name, draw(st.sampled_from((headers[name], draw(sf_text)))))
        elif how == 2:
            headers[name] = draw(header_values)
        elif how == 3:  # another spelling of the name next to the original
            headers.add(name.upper(), headers[name])
        else:
            headers[name] = _mutate_text(headers[name], draw(text_ops))
    for extra, value in draw(st.lists(st.tuples(st.text(max_size=10), sf_text), max_size=2)):
        headers.add(extra or "X", value)
    return headers


def verify(method: str, path: str, headers: Any, body: bytes = BODY) -> None:
    try:
        result = verify_request(
            recipient=RECEIVER,
            method=method,
            path=path,
            headers=headers,
            body=body,
            now=NOW,
            replay=ReplayCache(window_seconds=60),
            accept_key=lambda key: key == KEY.public_key,
        )
    except AuthError:
        TALLY.add("httpsig", accepted=False)
        return
    TALLY.add("httpsig", accepted=True)
    assert result.key == KEY.public_key


@fuzz("httpsig_garbage")
@given(header_values, header_values, header_values)
def test_httpsig_garbage_headers(digest: str, signature_input: str, signature: str) -> None:
    headers = {
        "Hashbank-Recipient": str(RECEIVER),  # right, so that the other three get parsed
        "Content-Digest": digest,
        "Signature-Input": signature_input,
        "Signature": signature,
    }
    verify(METHOD, PATH, headers)


@fuzz("httpsig_mutated")
@given(mutated_headers())
def test_httpsig_mutated_headers(headers: CIMultiDict[str]) -> None:
    verify(METHOD, PATH, headers)


@fuzz("httpsig_targets")
@given(
    st.text(max_size=40) | st.sampled_from(("GET", "POST", "post", "PO ST", "")),
    st.text(max_size=80) | st.from_regex(r"/[ -~]{0,80}", fullmatch=True),
    st.binary(max_size=40),
)
def test_httpsig_garbage_targets(method: str, path: str, body: bytes) -> None:
    verify(method, path, SIGNED, body)
