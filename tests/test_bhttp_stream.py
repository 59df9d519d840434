"""Binary HTTP responses as a stream (indeterminate-length framing, RFC 9292 §3.2): the RFC's
indeterminate-length response example decoded in pieces, encoder round trips, a differential
property against the whole-message decoder (every prefix, and arbitrary bytes, are accepted by
one exactly when accepted by the other, with the same result), random splits, and named negative
tests."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import load_vector
from pcc import bhttp
from pcc.errors import FormatError, InvalidArgument, LimitError, PccError, StateError

EXAMPLES = {e["name"]: bytes.fromhex(e["hex"]) for e in load_vector("bhttp_rfc9292.json")["examples"]}
RFC_RESPONSE = EXAMPLES["response_indeterminate_length_with_informational"]


def stream_decode(data, cuts=()):
    """Decode data with ResponseDecoder fed in pieces; returns a Response like Response.decode."""
    d = bhttp.ResponseDecoder()
    content = b""
    cuts = sorted({c % (len(data) + 1) for c in cuts})
    for a, b in zip([0] + cuts, cuts + [len(data)]):
        content += d.feed(data[a:b])
    d.finish()
    h = d.head
    return bhttp.Response(h.status, h.headers, content, d.trailers, h.informational)


def test_rfc_example_in_pieces_matches_the_whole_decoder():
    want = bhttp.Response.decode(RFC_RESPONSE)
    assert want.informational and want.status == 200
    assert stream_decode(RFC_RESPONSE) == want
    assert stream_decode(RFC_RESPONSE, range(len(RFC_RESPONSE))) == want  # byte by byte


def test_head_is_reported_before_the_content():
    head = bhttp.encode_response_head(200, [("content-type", "text/plain")], [(100, [])])
    d = bhttp.ResponseDecoder()
    assert d.feed(head[:-1]) == b"" and d.head is None
    assert d.feed(head[-1:]) == b""
    assert d.head == bhttp.Response(200, [("content-type", "text/plain")], informational=[(100, [])])
    assert d.feed(bhttp.encode_content_chunk(b"abc")[:3]) == b"ab"
    assert d.feed(b"c" + bhttp.encode_content_chunk(b"def")) == b"cdef"
    assert d.trailers is None
    assert d.feed(bhttp.encode_response_end([("x-done", "1")])) == b""
    assert d.trailers == [(b"x-done", b"1")]
    d.finish()
    assert d.done


def test_encoder_parts_make_the_whole_encoding():
    r = bhttp.Response(200, [("a", "1")], b"xyz", [("t", "2")], [(103, [("link", "l")])])
    parts = (bhttp.encode_response_head(r.status, r.headers, r.informational)
             + bhttp.encode_content_chunk(r.content) + bhttp.encode_response_end(r.trailers))
    assert parts == r.encode(known_length=False)
    assert bhttp.Response.decode(parts) == r


def test_empty_content_chunk_encodes_to_nothing():
    assert bhttp.encode_content_chunk(b"") == b""


def test_encoder_rejects_bad_input():
    with pytest.raises(InvalidArgument):
        bhttp.encode_response_head(99)
    with pytest.raises(InvalidArgument):
        bhttp.encode_response_head(200, [("Upper", "x")])
    with pytest.raises(InvalidArgument):
        bhttp.encode_response_end([("x", "a\nb")])
    with pytest.raises(TypeError):
        bhttp.encode_content_chunk("text")


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8)
values = st.binary(max_size=12).filter(lambda v: not any(c in v for c in b"\x00\r\n"))
fields = st.lists(st.tuples(names, values), max_size=4)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=st.integers(200, 599), headers=fields, trailers=fields,
       info=st.lists(st.tuples(st.integers(100, 199), fields), max_size=2),
       chunks=st.lists(st.binary(min_size=1, max_size=40), max_size=5),
       padding=st.integers(0, 3), cuts=st.lists(st.integers(0, 10**6), max_size=10))
def test_stream_round_trip_with_random_splits(status, headers, trailers, info, chunks, padding, cuts):
    data = (bhttp.encode_response_head(status, headers, info)
            + b"".join(bhttp.encode_content_chunk(c) for c in chunks)
            + bhttp.encode_response_end(trailers) + bytes(padding))
    want = bhttp.Response(status, headers, b"".join(chunks), trailers, info)
    assert bhttp.Response.decode(data) == want
    assert stream_decode(data, cuts) == want


def _whole(data):
    try:
        return bhttp.Response.decode(data)
    except (FormatError, LimitError):
        return None


def _stream(data, cuts=()):
    try:
        return stream_decode(data, cuts)
    except (FormatError, LimitError):
        return None


def test_every_prefix_agrees_with_the_whole_decoder():
    data = RFC_RESPONSE
    for cut in range(len(data) + 1):
        assert _stream(data[:cut]) == _whole(data[:cut]), cut


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=60), cuts=st.lists(st.integers(0, 100), max_size=4))
def test_differential_against_the_whole_decoder(data, cuts):
    data = b"\x03" + data  # indeterminate-length response framing
    assert _stream(data, cuts) == _whole(data)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=60))
def test_mutated_rfc_example_agrees_with_the_whole_decoder(data):
    mutated = RFC_RESPONSE[:len(RFC_RESPONSE) // 2] + data
    assert _stream(mutated) == _whole(mutated)


# ---- negative tests ----

@pytest.mark.parametrize("name", ["request_known_length", "request_indeterminate_length",
                                  "response_known_length_from_chunked"])
def test_other_framings_are_format_errors(name):
    with pytest.raises(FormatError):
        bhttp.ResponseDecoder().feed(EXAMPLES[name])


def test_truncated_inside_the_content_is_format_error():
    d = bhttp.ResponseDecoder()
    d.feed(bhttp.encode_response_head(200) + bhttp.encode_content_chunk(b"abcdef")[:4])
    with pytest.raises(FormatError):
        d.finish()


def test_truncated_after_a_chunk_without_terminator_is_format_error():
    d = bhttp.ResponseDecoder()
    d.feed(bhttp.encode_response_head(200) + bhttp.encode_content_chunk(b"abc"))
    with pytest.raises(FormatError):
        d.finish()


def test_truncated_inside_the_head_is_format_error():
    head = bhttp.encode_response_head(200, [("a", "b")])
    d = bhttp.ResponseDecoder()
    d.feed(head[:-1])
    with pytest.raises(FormatError):
        d.finish()


def test_allowed_truncations_give_empty_sections():
    for data in (b"\x03\x40\xc8", bhttp.encode_response_head(204),
                 bhttp.encode_response_head(200, [("a", "b")]) + b"\x00"):
        r = stream_decode(data)
        assert r == bhttp.Response.decode(data) and r.content == b"" and r.trailers == []


def test_non_zero_padding_is_format_error():
    data = bhttp.encode_response_head(200) + bhttp.encode_response_end() + b"\x00\x01"
    with pytest.raises(FormatError):
        bhttp.ResponseDecoder().feed(data)


def test_invalid_field_name_is_format_error():
    bad = b"\x03\x40\xc8\x01A\x01x\x00"  # "A" is not lower case
    with pytest.raises(FormatError):
        bhttp.ResponseDecoder().feed(bad)


def test_status_out_of_range_is_format_error():
    with pytest.raises(FormatError):
        bhttp.ResponseDecoder().feed(b"\x03\x40\x63")  # 99
    with pytest.raises(FormatError):
        bhttp.ResponseDecoder().feed(b"\x03\x42\x58")  # 600


def test_oversized_field_length_is_limit_error():
    with pytest.raises(LimitError):
        bhttp.ResponseDecoder().feed(b"\x03\x40\xc8\xff\xff\xff\xff\xff\xff\xff\xff")


def test_too_many_informational_responses_is_limit_error():
    data = b"\x03" + b"\x40\x64\x00" * (bhttp.MAX_INFORMATIONAL + 1) + b"\x40\xc8\x00"
    with pytest.raises(LimitError):
        bhttp.ResponseDecoder().feed(data)


def test_errors_and_the_end_are_final():
    d = bhttp.ResponseDecoder()
    with pytest.raises(FormatError):
        d.feed(b"\x01")
    with pytest.raises(StateError):
        d.feed(b"\x03")
    d = bhttp.ResponseDecoder()
    d.feed(bhttp.encode_response_head(200) + bhttp.encode_response_end())
    d.finish()
    with pytest.raises(StateError):
        d.feed(b"\x00")
    with pytest.raises(StateError):
        d.finish()


def test_wrong_type_is_type_error():
    with pytest.raises(TypeError):
        bhttp.ResponseDecoder().feed("text")


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200), cuts=st.lists(st.integers(0, 300), max_size=5))
def test_fuzz_only_raises_pcc_errors(data, cuts):
    try:
        stream_decode(data, cuts)
    except PccError:
        pass


def test_repr():
    d = bhttp.ResponseDecoder()
    assert repr(d) == "bhttp.ResponseDecoder(state=start)"
    d.feed(bhttp.encode_response_head(204))
    assert repr(d) == "bhttp.ResponseDecoder(state=head, status=204)"
