"""Hypothesis strategies for wire objects."""

from __future__ import annotations

from hypothesis import strategies as st

from protocol.body import (
    AddBody,
    Body,
    FeedbackBody,
    FeedbackNote,
    HashItem,
    RevokeBody,
    RevokeReason,
    RevokeTarget,
    Verdict,
)
from protocol.signals import SIGNAL_TYPES

labels = st.lists(
    st.from_regex(r"[a-z0-9][a-z0-9_.:/-]{0,10}", fullmatch=True), max_size=4, unique=True
).map(lambda ls: tuple(sorted(ls)))


@st.composite
def hash_items(draw: st.DrawFn) -> HashItem:
    spec = SIGNAL_TYPES[draw(st.sampled_from(sorted(SIGNAL_TYPES)))]
    return HashItem(
        spec.name,
        draw(st.binary(min_size=spec.size, max_size=spec.size)),
        draw(labels),
        draw(st.none() | st.binary(min_size=1, max_size=64)),
        draw(st.none() | st.integers(0, 2**63)),
    )


add_bodies = st.lists(hash_items(), min_size=1, max_size=5).map(lambda i: AddBody(tuple(i)))

revoke_targets = st.builds(
    RevokeTarget,
    st.binary(min_size=32, max_size=32),
    st.none()
    | st.lists(st.integers(0, 9_999), min_size=1, max_size=5, unique=True).map(
        lambda xs: tuple(sorted(xs))
    ),
)
revoke_bodies = st.builds(
    RevokeBody,
    st.lists(revoke_targets, min_size=1, max_size=3, unique_by=lambda t: t.entry_id).map(tuple),
    st.sampled_from(RevokeReason),
)
# Erasing revokes name whole entries only.
erasing_revoke_bodies = st.builds(
    RevokeBody,
    st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=3, unique=True).map(
        lambda ids: tuple(RevokeTarget(i, None) for i in ids)
    ),
    st.sampled_from(RevokeReason),
    st.just(True),
)
feedback_bodies = st.builds(
    FeedbackBody,
    st.just("pdq"),
    st.binary(min_size=32, max_size=32),
    st.sampled_from(Verdict),
    st.none() | st.binary(min_size=32, max_size=32),
    st.sampled_from(FeedbackNote),
)
bodies: st.SearchStrategy[Body] = (
    add_bodies | revoke_bodies | erasing_revoke_bodies | feedback_bodies
)
