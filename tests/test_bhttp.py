"""Binary HTTP (RFC 9292): known answers from the RFC, truncation, padding, named negatives,
limits, hypothesis fuzzing and round trips."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import load_vector
from pcc import bhttp
from pcc.errors import FormatError, InvalidArgument, LimitError

V = load_vector("bhttp_rfc9292.json")
EXAMPLES = {e["name"]: e for e in V["examples"]}


def _fields(pairs):
    return [(n.encode(), v.encode()) for n, v in pairs]


def _expected(d):
    """The message a vector's `decoded` block describes."""
    if d["framing_indicator"] % 2 == 0:
        return bhttp.Request(d["method"], d["scheme"], d["authority"], d["path"],
                             _fields(d.get("header_fields", [])), d.get("content", "").encode(),
                             _fields(d.get("trailer_fields", [])))
    return bhttp.Response(d["status"], _fields(d.get("header_fields", [])),
                          d.get("content", "").encode(), _fields(d.get("trailer_fields", [])),
                          [(i["status"], _fields(i["fields"])) for i in d.get("informational", [])])


def _decode(data, d):
    cls = bhttp.Request if d["framing_indicator"] % 2 == 0 else bhttp.Response
    return cls.decode(data)


def _varint_enc(n):
    for size, flag in ((1, 0), (2, 0x4000), (4, 0x80000000), (8, 0xC000000000000000)):
        if n < (1 << (8 * size - 2)):
            return (n | flag).to_bytes(size, "big")
    raise ValueError(n)


def _vb(b):
    """A varint length prefix and the bytes."""
    return _varint_enc(len(b)) + b


# ---- an independent walker giving the section boundaries of a well-formed message ----

def _varint(b, i):
    if i >= len(b):
        raise IndexError
    n = 1 << (b[i] >> 6)
    if i + n > len(b):
        raise IndexError
    v = b[i] & 0x3F
    for j in range(1, n):
        v = (v << 8) | b[i + j]
    return v, i + n


def _section(b, i, known):
    if known:
        n, i = _varint(b, i)
        return i + n
    while True:
        n, i = _varint(b, i)
        if n == 0:
            return i
        i += n
        n, i = _varint(b, i)
        i += n


def _boundaries(b):
    """Offsets where RFC 9292 §3.8 lets the message end: after the control data, the header
    section, the content and the trailers; and the end of the trailers (padding follows)."""
    fi, i = _varint(b, 0)
    known = fi < 2
    if fi % 2 == 0:
        for _ in range(4):
            n, i = _varint(b, i)
            i += n
    else:
        while True:
            s, i = _varint(b, i)
            if s >= 200:
                break
            i = _section(b, i, known)
    ctl = i
    hdr = _section(b, i, known)
    if known:
        n, i = _varint(b, hdr)
        content = i + n
    else:
        i = hdr
        while True:
            n, i = _varint(b, i)
            if n == 0:
                break
            i += n
        content = i
    trailers = _section(b, content, known)
    return ctl, hdr, content, trailers


# ---- known answers ----

@pytest.mark.parametrize("name", list(EXAMPLES))
def test_rfc_example_decodes_to_its_fields(name):
    e = EXAMPLES[name]
    data = bytes.fromhex(e["hex"])
    assert len(data) == e["length"]
    assert _decode(data, e["decoded"]) == _expected(e["decoded"])


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_rfc_example_reencodes_byte_for_byte(name):
    e = EXAMPLES[name]
    d = e["decoded"]
    data = bytes.fromhex(e["hex"])
    msg = _decode(data, d)
    assert msg.encode(known_length=d["framing_indicator"] < 2, padding=d["padding_bytes"]) == data


def test_rfc_example_request_fields_are_bytes():
    msg = bhttp.Request.decode(bytes.fromhex(EXAMPLES["request_known_length"]["hex"]))
    assert msg.method == "GET" and msg.scheme == "https" and msg.authority == "" and msg.path == "/hello.txt"
    assert all(isinstance(n, bytes) and isinstance(v, bytes) for n, v in msg.headers)
    assert msg.headers[1] == (b"host", b"www.example.com")


def test_rfc_example_informational_responses():
    msg = bhttp.Response.decode(bytes.fromhex(
        EXAMPLES["response_indeterminate_length_with_informational"]["hex"]))
    assert [s for s, _ in msg.informational] == [102, 103]
    assert msg.informational[1][1][0] == (b"link", b"</style.css>; rel=preload; as=style")
    assert msg.status == 200 and msg.content.endswith(b"\r\n") and len(msg.content) == 51


@pytest.mark.parametrize("e", V["derived"], ids=lambda e: e["name"])
def test_rfc_derived_truncations_decode(e):
    msg = _decode(bytes.fromhex(e["hex"]), e["decoded"])
    assert msg == _expected(e["decoded"])


@pytest.mark.parametrize("e", V["from_rfc9458"], ids=lambda e: e["name"])
def test_ohttp_example_messages_decode(e):
    data = bytes.fromhex(e["hex"])
    msg = _decode(data, e["decoded"])
    assert msg == _expected(e["decoded"])
    # they are truncated right after the control data: truncate=True reproduces them
    assert msg.encode(truncate=True) == data


def test_known_length_request_truncated_2_reencodes_with_truncate():
    data = bytes.fromhex(EXAMPLES["request_known_length"]["hex"])
    assert bhttp.Request.decode(data).encode(truncate=True) == data[:-2]


@pytest.mark.parametrize("name", list(EXAMPLES) + [e["name"] for e in V["from_rfc9458"]])
def test_every_truncation_decodes_only_where_allowed(name):
    e = EXAMPLES.get(name) or next(x for x in V["from_rfc9458"] if x["name"] == name)
    data = bytes.fromhex(e["hex"])
    d = e["decoded"]
    full = _decode(data, d)
    try:
        ctl, hdr, content, trailers = _boundaries(data)
        allowed = {ctl, hdr, content} | set(range(trailers, len(data) + 1))
    except IndexError:  # the message itself is truncated (RFC 9458 examples)
        ctl = hdr = content = trailers = len(data)
        allowed = {len(data)}
    for n in range(len(data) + 1):
        if n in allowed:
            msg = _decode(data[:n], d)
            # what survives equals the full message's parts; the rest is empty
            assert msg.headers == (full.headers if n >= hdr or n == len(data) else [])
            assert msg.trailers == (full.trailers if n >= trailers or n == len(data) else [])
            assert msg.content == (full.content if n >= content or n == len(data) else b"")
        else:
            with pytest.raises(FormatError):
                _decode(data[:n], d)


# ---- framing, padding, truncation ----

def test_padding_is_accepted_and_encoded():
    req = bhttp.Request("GET", "https", "example.com", "/")
    for known in (True, False):
        plain = req.encode(known)
        padded = req.encode(known, padding=17)
        assert padded == plain + bytes(17)
        assert bhttp.Request.decode(padded) == req


def test_nonzero_padding_is_format_error():
    data = bhttp.Request("GET", "https", "example.com", "/").encode(padding=4)
    with pytest.raises(FormatError):
        bhttp.Request.decode(data[:-1] + b"\x01")


def test_negative_padding_is_invalid():
    with pytest.raises(InvalidArgument):
        bhttp.Request("GET", "https", "a", "/").encode(padding=-1)


@pytest.mark.parametrize("framing", [b"\x04", b"\x05", b"\x3f", b"\x40\x04", b"\xc0" + bytes(6) + b"\x07"])
def test_unknown_framing_indicator_is_format_error(framing):
    with pytest.raises(FormatError):
        bhttp.Request.decode(framing + b"\x03GET\x05https\x00\x01/")


def test_non_minimal_varints_are_accepted():
    # framing 0 as a 2-byte varint, method length as a 4-byte varint
    data = b"\x40\x00" + b"\x80\x00\x00\x03GET" + b"\x05https\x00\x01/"
    assert bhttp.Request.decode(data) == bhttp.Request("GET", "https", "", "/")


def test_empty_input_is_format_error():
    with pytest.raises(FormatError):
        bhttp.Request.decode(b"")


def test_request_decode_of_response_is_format_error():
    with pytest.raises(FormatError):
        bhttp.Request.decode(bytes.fromhex("0140c8"))


def test_response_decode_of_request_is_format_error():
    with pytest.raises(FormatError):
        bhttp.Response.decode(bytes.fromhex(V["from_rfc9458"][0]["hex"]))


def test_indeterminate_content_chunks_are_joined():
    data = (b"\x03\x40\xc8" + b"\x00" + b"\x03abc" + b"\x02de" + b"\x01f" + b"\x00" + b"\x00")
    msg = bhttp.Response.decode(data)
    assert msg.content == b"abcdef" and msg.status == 200


def test_indeterminate_content_without_terminator_is_format_error():
    with pytest.raises(FormatError):
        bhttp.Response.decode(b"\x03\x40\xc8\x00\x03abc")


def test_indeterminate_section_without_terminator_is_format_error():
    with pytest.raises(FormatError):
        bhttp.Response.decode(b"\x03\x40\xc8\x01a\x01b")


def test_known_section_length_past_end_is_format_error():
    with pytest.raises(FormatError):
        bhttp.Response.decode(b"\x01\x40\xc8\x10\x01a\x01b")


def test_known_content_length_past_end_is_format_error():
    with pytest.raises(FormatError):
        bhttp.Response.decode(b"\x01\x40\xc8\x00\x05abc")


def test_known_section_line_overrunning_section_is_format_error():
    # section length 3 but the value length says 2 bytes after "a"
    with pytest.raises(FormatError):
        bhttp.Response.decode(b"\x01\x40\xc8\x03\x01a\x02bc\x00\x00")


def test_empty_name_in_known_length_section_is_format_error():
    with pytest.raises(FormatError):
        bhttp.Response.decode(b"\x01\x40\xc8\x02\x00\x00\x00\x00")


def test_truncated_varint_is_format_error():
    with pytest.raises(FormatError):
        bhttp.Response.decode(b"\x01\x40")


def test_truncated_in_control_data_is_format_error():
    with pytest.raises(FormatError):
        bhttp.Request.decode(b"\x00\x03GET\x05https")


def test_truncated_between_informational_and_final_is_format_error():
    resp = bhttp.Response(200, informational=[(103, [("link", "x")])])
    data = resp.encode(truncate=True)
    assert bhttp.Response.decode(data) == resp
    with pytest.raises(FormatError):
        bhttp.Response.decode(data[:-2])  # drop the final status


# ---- field names, values, control data, statuses ----

@pytest.mark.parametrize("name", [b"Host", b"ho st", b":authority", b"a\x00", b"caf\xc3\xa9", b"x(y)"])
def test_invalid_field_name_decode_is_format_error(name):
    data = bhttp.Request("GET", "https", "a", "/", [("x" * len(name), "v")]).encode()
    data = data.replace(b"x" * len(name), name)
    with pytest.raises(FormatError):
        bhttp.Request.decode(data)


@pytest.mark.parametrize("name", ["Host", "ho st", ":path", "", "a\x00", "x\ny"])
def test_invalid_field_name_encode_is_invalid_argument(name):
    with pytest.raises(InvalidArgument):
        bhttp.Request("GET", "https", "a", "/", [(name, "v")]).encode()


@pytest.mark.parametrize("value", [b"a\rb", b"a\nb", b"a\x00b"])
def test_value_with_cr_lf_nul_decode_is_format_error(value):
    data = bhttp.Request("GET", "https", "a", "/", [("x", "v" * len(value))]).encode()
    data = data.replace(b"v" * len(value), value)
    with pytest.raises(FormatError):
        bhttp.Request.decode(data)


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\x00b"])
def test_value_with_cr_lf_nul_encode_is_invalid_argument(value):
    with pytest.raises(InvalidArgument):
        bhttp.Request("GET", "https", "a", "/", [("x", value)]).encode()
    with pytest.raises(InvalidArgument):
        bhttp.Response(200, trailers=[("x", value)]).encode()


def test_values_may_hold_any_other_byte():
    value = bytes(b for b in range(256) if b not in (0, 10, 13))
    req = bhttp.Request("GET", "https", "a", "/", [("x", value)])
    assert bhttp.Request.decode(req.encode()).headers == [(b"x", value)]


@pytest.mark.parametrize("ctl", [("", "https", "a", "/"), ("G T", "https", "a", "/"),
                                 ("GET", "1ttp", "a", "/"), ("GET", "ht tp", "a", "/"),
                                 ("GET", "https", "a b", "/"), ("GET", "https", "a", "/x y"),
                                 ("GET", "https", "a", "/\x7f")])
def test_invalid_control_data(ctl):
    with pytest.raises(InvalidArgument):
        bhttp.Request(*ctl).encode()
    with pytest.raises(FormatError):
        bhttp.Request.decode(b"\x00" + b"".join(_vb(c.encode()) for c in ctl))


def test_connect_style_empty_scheme_and_path_are_allowed():
    req = bhttp.Request("CONNECT", "", "example.com:443", "")
    assert bhttp.Request.decode(req.encode()) == req


def test_non_ascii_control_data_is_invalid_argument():
    with pytest.raises(InvalidArgument):
        bhttp.Request("GET", "https", "exämple.com", "/").encode()


@pytest.mark.parametrize("status", [0, 99, 100, 199, 600, 1000])
def test_final_status_out_of_range_encode(status):
    with pytest.raises(InvalidArgument):
        bhttp.Response(status).encode()


@pytest.mark.parametrize("status", [99, 200, 600])
def test_informational_status_out_of_range_encode(status):
    with pytest.raises(InvalidArgument):
        bhttp.Response(200, informational=[(status, [])]).encode()


@pytest.mark.parametrize("status", [b"\x00", b"\x3f", b"\x42\x58", b"\x43\xe8"])  # 0, 63, 600, 1000
def test_status_out_of_range_decode_is_format_error(status):
    with pytest.raises(FormatError):
        bhttp.Response.decode(b"\x01" + status)


def test_wrong_python_types_are_type_errors():
    with pytest.raises(TypeError):
        bhttp.Request("GET", "https", "a", "/", [("x", 1)])
    with pytest.raises(TypeError):
        bhttp.Request("GET", "https", "a", "/", "x: y")
    with pytest.raises(TypeError):
        bhttp.Response("200")
    with pytest.raises(TypeError):
        bhttp.Request.decode("text")


def test_str_and_bytes_fields_compare_equal():
    a = bhttp.Request("GET", "https", "a", "/", [("x", "é")], b"c", [(b"t", b"1")])
    b = bhttp.Request(b"GET", b"https", b"a", b"/", [(b"x", "é".encode())], b"c", [("t", "1")])
    assert a == b and a.encode() == b.encode()


# ---- limits ----

def test_too_many_fields_decode_is_limit_error():
    n = bhttp.MAX_FIELDS + 1
    body = b"\x01a\x00" * n
    data = b"\x02\x03GET\x05https\x00\x01/" + body + b"\x00"
    with pytest.raises(LimitError):
        bhttp.Request.decode(data)
    with pytest.raises(LimitError):
        bhttp.Request("GET", "https", "", "/", [("a", "")] * n).encode()
    # the limit itself is fine
    ok = bhttp.Request("GET", "https", "", "/", [("a", "")] * bhttp.MAX_FIELDS)
    assert bhttp.Request.decode(ok.encode()) == ok


def test_too_many_informational_is_limit_error():
    n = bhttp.MAX_INFORMATIONAL + 1
    data = b"\x01" + b"\x40\x64\x00" * n + b"\x40\xc8"
    with pytest.raises(LimitError):
        bhttp.Response.decode(data)
    with pytest.raises(LimitError):
        bhttp.Response(200, informational=[(100, [])] * n).encode()


def test_control_data_too_long_is_limit_error():
    path = "/" + "a" * bhttp.MAX_CONTROL
    with pytest.raises(LimitError):
        bhttp.Request("GET", "https", "", path).encode()
    with pytest.raises(LimitError):
        bhttp.Request.decode(b"\x00" + _vb(b"GET") + _vb(b"https") + _vb(b"") + _vb(path.encode()))


def test_field_section_too_large_is_limit_error():
    big = b"v" * (bhttp.MAX_FIELD_SECTION // 2)
    with pytest.raises(LimitError):
        bhttp.Request("GET", "https", "", "/", [("a", big), ("b", big)]).encode()
    ctl = b"".join(_vb(c) for c in (b"GET", b"https", b"", b"/"))
    lines = _vb(b"a") + _vb(big) + _vb(b"b") + _vb(big)
    with pytest.raises(LimitError):
        bhttp.Request.decode(b"\x02" + ctl + lines + b"\x00")
    with pytest.raises(LimitError):
        bhttp.Request.decode(b"\x00" + ctl + _vb(lines))
    # just under the limit is fine
    ok = bhttp.Request("GET", "https", "", "/", [("a", big), ("b", big[:-2])])
    assert bhttp.Request.decode(ok.encode()) == ok


def test_message_too_large_is_limit_error():
    with pytest.raises(LimitError):
        bhttp.Request("GET", "https", "", "/").encode(padding=bhttp.MAX_MESSAGE)
    with pytest.raises(LimitError):
        bhttp.Request.decode(bytes(bhttp.MAX_MESSAGE + 1))


# ---- hypothesis: fuzzing the decoder and round trips ----

SEEDS = [bytes.fromhex(e["hex"]) for e in V["examples"] + V["derived"] + V["from_rfc9458"]]


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "cut"]))
        if op == "insert" or not data:
            data[draw(st.integers(0, len(data))):0] = draw(st.binary(min_size=1, max_size=9))
            continue
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[i] = draw(st.sampled_from([0, 0x3F, 0x40, 0x7F, 0x80, 0xBF, 0xC0, 0xFF,
                                            draw(st.integers(0, 255))]))
        elif op == "delete":
            del data[i: i + draw(st.integers(1, 4))]
        else:
            del data[i:]
    return bytes(data)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_fuzz_mutations_only_raise_format_or_limit(data):
    for cls in (bhttp.Request, bhttp.Response):
        try:
            msg = cls.decode(data)
        except (FormatError, LimitError):
            continue
        # anything accepted re-encodes and decodes to the same message
        assert cls.decode(msg.encode()) == msg
        assert cls.decode(msg.encode(False)) == msg


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz_random_bytes_only_raise_format_or_limit(data):
    for cls in (bhttp.Request, bhttp.Response):
        try:
            cls.decode(data)
        except (FormatError, LimitError):
            pass


TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
names = st.text(alphabet=TCHAR, min_size=1, max_size=12).map(str.encode)
values = st.binary(max_size=40).map(lambda b: bytes(c for c in b if c not in (0, 10, 13)))
fields = st.lists(st.tuples(names, values), max_size=6)
tokens = st.text(alphabet=TCHAR + "ABCXYZ", min_size=1, max_size=10)
schemes = st.from_regex(r"\A([a-zA-Z][a-zA-Z0-9+.-]{0,8})?\Z")
vchars = st.text(alphabet=[chr(c) for c in range(0x21, 0x7F)], max_size=20)

requests = st.builds(bhttp.Request, tokens, schemes, vchars, vchars, fields,
                     st.binary(max_size=200), fields)
responses = st.builds(bhttp.Response, st.integers(200, 599), fields, st.binary(max_size=200),
                      fields, st.lists(st.tuples(st.integers(100, 199), fields), max_size=3))


@settings(max_examples=400, deadline=None)
@given(st.one_of(requests, responses), st.booleans(), st.booleans(), st.integers(0, 20))
def test_round_trip_random_messages(msg, known, truncate, padding):
    data = msg.encode(known, padding=padding, truncate=truncate)
    assert data[0] == (0 if isinstance(msg, bhttp.Request) else 1) + (0 if known else 2)
    assert type(msg).decode(data) == msg
