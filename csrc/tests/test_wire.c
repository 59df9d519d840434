/* test_wire.c: the strict msgpack decoder, the shortest-form and canonical encoder, and length
 * framing (pcc/wire.h), against the static library. Encodings are checked byte for byte against
 * the msgpack specification's forms. */
#include "ctest.h"
#include "pcc/buf.h"
#include "pcc/wire.h"

static const pcc_wire_limits LIM = {
    .max_depth = 4, .max_items = 64, .max_str = 32, .max_bin = 32, .max_array = 8,
    .max_map = 8, .flags = 0,
};

static pcc_status dec(const char *hex, const pcc_wire_limits *lim)
{
    uint8_t buf[512];
    size_t n = unhex(buf, sizeof buf, hex);
    pcc_wire_doc *d = NULL;
    pcc_status st = pcc_wire_decode(&d, buf, n, lim);
    pcc_wire_doc_free(d);
    return st;
}

static void test_decode_accepts(void)
{
    CHECK_ST(dec("c0", &LIM), PCC_OK);
    CHECK_ST(dec("81a16101", &LIM), PCC_OK);                 /* {"a": 1} */
    CHECK_ST(dec("82a161c3a162c403010203", &LIM), PCC_OK);   /* {"a": true, "b": bin} */
    CHECK_ST(dec("93010203", &LIM), PCC_OK);                 /* [1, 2, 3] */
    CHECK_ST(dec("d0df", &LIM), PCC_OK);                     /* -33 */
    CHECK_ST(dec("cb3ff0000000000000", &LIM), PCC_OK);       /* 1.0 */
    CHECK_ST(dec("a3e282ac", &LIM), PCC_OK);                 /* "€" */
    CHECK_ST(dec("80", &LIM), PCC_OK);
}

static void test_decode_refuses(void)
{
    CHECK_ST(dec("", &LIM), PCC_E_FORMAT);
    CHECK_ST(dec("c1", &LIM), PCC_E_FORMAT);                 /* never used */
    CHECK_ST(dec("d40100", &LIM), PCC_E_FORMAT);             /* fixext */
    CHECK_ST(dec("c70101aa", &LIM), PCC_E_FORMAT);           /* ext 8 */
    CHECK_ST(dec("0101", &LIM), PCC_E_FORMAT);               /* trailing byte */
    CHECK_ST(dec("82a16101a16102", &LIM), PCC_E_FORMAT);     /* duplicate key */
    CHECK_ST(dec("810101", &LIM), PCC_E_FORMAT);             /* int key */
    CHECK_ST(dec("81c40161" "01", &LIM), PCC_E_FORMAT);      /* bin key */
    CHECK_ST(dec("a2c328", &LIM), PCC_E_FORMAT);             /* bad UTF-8 */
    CHECK_ST(dec("a3eda080", &LIM), PCC_E_FORMAT);           /* surrogate */
    CHECK_ST(dec("a2c0af", &LIM), PCC_E_FORMAT);             /* overlong */
    CHECK_ST(dec("a3610000" "", &LIM), PCC_OK);              /* NUL is valid UTF-8 */
    CHECK_ST(dec("a461", &LIM), PCC_E_FORMAT);               /* truncated str */
    CHECK_ST(dec("dd7fffffff", &LIM), PCC_E_LIMIT);          /* a lying count: limit first */
    CHECK_ST(dec("c5ffff", &LIM), PCC_E_LIMIT);              /* bin over the limit */
    CHECK_ST(dec("cb3ff0", &LIM), PCC_E_FORMAT);             /* truncated float */
    CHECK_ST(dec("9191919191c0", &LIM), PCC_E_LIMIT);        /* depth 5 > 4 */
    CHECK_ST(dec("919191c0", &LIM), PCC_OK);                 /* depth 3 */
    CHECK_ST(dec("99010101010101010101", &LIM), PCC_E_LIMIT); /* 9 elements > 8 */
    CHECK_ST(dec("dc00030102", &LIM), PCC_E_FORMAT);         /* 3 announced, 2 present */
    /* a huge announced count is refused without allocating */
    pcc_wire_limits big = LIM;
    big.max_array = SIZE_MAX;
    big.max_items = SIZE_MAX;
    CHECK_ST(dec("dd7fffffff00", &big), PCC_E_FORMAT);
    pcc_wire_limits nofloat = LIM;
    nofloat.flags = PCC_WIRE_NO_FLOAT | PCC_WIRE_NO_NEGATIVE;
    CHECK_ST(dec("cb3ff0000000000000", &nofloat), PCC_E_FORMAT);
    CHECK_ST(dec("ff", &nofloat), PCC_E_FORMAT);
    CHECK_ST(dec("d0df", &nofloat), PCC_E_FORMAT);
    CHECK_ST(dec("d000", &nofloat), PCC_OK);                 /* int8 0 is not negative */
    pcc_wire_limits few = LIM;
    few.max_items = 3;
    CHECK_ST(dec("81a16101", &few), PCC_OK);                 /* map, key, value */
    CHECK_ST(dec("92" "0101", &few), PCC_OK);
    CHECK_ST(dec("93010101", &few), PCC_E_LIMIT);
}

static void test_decode_minimal(void)
{
    pcc_wire_limits m = LIM;
    m.flags = PCC_WIRE_MINIMAL;
    CHECK_ST(dec("7f", &m), PCC_OK);
    CHECK_ST(dec("cc7f", &m), PCC_E_FORMAT);
    CHECK_ST(dec("cc80", &m), PCC_OK);
    CHECK_ST(dec("cd00ff", &m), PCC_E_FORMAT);
    CHECK_ST(dec("ce0000ffff", &m), PCC_E_FORMAT);
    CHECK_ST(dec("cf00000000ffffffff", &m), PCC_E_FORMAT);
    CHECK_ST(dec("d001", &m), PCC_E_FORMAT);                 /* positive in a signed form */
    CHECK_ST(dec("d0e0", &m), PCC_E_FORMAT);                 /* -32 fits a fixint */
    CHECK_ST(dec("d0df", &m), PCC_OK);                       /* -33 */
    CHECK_ST(dec("d1ff80", &m), PCC_E_FORMAT);               /* -128 fits int8 */
    CHECK_ST(dec("d9016161", &m), PCC_E_FORMAT);             /* str8 for 1 byte... */
    CHECK_ST(dec("d90161", &m), PCC_E_FORMAT);
    CHECK_ST(dec("dc000101", &m), PCC_E_FORMAT);             /* array16 for 1 element */
    CHECK_ST(dec("de0001a16101", &m), PCC_E_FORMAT);         /* map16 for 1 pair */
    CHECK_ST(dec("c40101", &m), PCC_OK);                     /* bin8 is the shortest bin */
    CHECK_ST(dec("c5000101", &m), PCC_E_FORMAT);
}

static void test_read_helpers(void)
{
    uint8_t buf[64];
    size_t n = unhex(buf, sizeof buf, "83a17601a162c403616263a1739201c2");
    pcc_wire_doc *d = NULL;
    const msgpack_object *root, *items;
    const uint8_t *b;
    const char *s;
    size_t len, cnt;
    uint64_t u;
    bool bo;
    static const char *const req[] = {"v", "b"};
    static const char *const opt[] = {"s"};
    CHECK_ST(pcc_wire_decode(&d, buf, n, &LIM), PCC_OK);
    root = pcc_wire_doc_root(d);
    CHECK_ST(pcc_wire_map_keys(root, req, 2, opt, 1), PCC_OK);
    CHECK_ST(pcc_wire_map_keys(root, req, 2, NULL, 0), PCC_E_FORMAT);
    CHECK_ST(pcc_wire_map_keys(root, opt, 1, req, 2), PCC_OK);
    CHECK_ST(pcc_wire_get_uint(pcc_wire_map_get(root, "v"), 1, &u), PCC_OK);
    CHECK(u == 1);
    CHECK_ST(pcc_wire_get_uint(pcc_wire_map_get(root, "v"), 0, &u), PCC_E_FORMAT);
    CHECK_ST(pcc_wire_get_bin(pcc_wire_map_get(root, "b"), 3, 3, &b, &len), PCC_OK);
    CHECK(len == 3 && memcmp(b, "abc", 3) == 0);
    CHECK_ST(pcc_wire_get_bin(pcc_wire_map_get(root, "b"), 4, 9, &b, &len), PCC_E_FORMAT);
    CHECK_ST(pcc_wire_get_str(pcc_wire_map_get(root, "b"), 0, 9, &s, &len), PCC_E_FORMAT);
    CHECK_ST(pcc_wire_get_array(pcc_wire_map_get(root, "s"), 2, 2, &items, &cnt), PCC_OK);
    CHECK_ST(pcc_wire_get_bool(&items[1], &bo), PCC_OK);
    CHECK(!bo);
    CHECK(pcc_wire_map_get(root, "missing") == NULL);
    CHECK_ST(pcc_wire_get_uint(NULL, 1, &u), PCC_E_FORMAT);
    pcc_wire_doc_free(d);
}

static void test_encode_shortest(void)
{
    uint8_t buf[512];
    pcc_writer w;
    pcc_writer_init_fixed(&w, buf, sizeof buf);
    CHECK_ST(pcc_wire_put_uint(&w, 0), PCC_OK);
    CHECK_ST(pcc_wire_put_uint(&w, 127), PCC_OK);
    CHECK_ST(pcc_wire_put_uint(&w, 128), PCC_OK);
    CHECK_ST(pcc_wire_put_uint(&w, 256), PCC_OK);
    CHECK_ST(pcc_wire_put_uint(&w, 65536), PCC_OK);
    CHECK_ST(pcc_wire_put_uint(&w, UINT64_C(1) << 32), PCC_OK);
    CHECK_ST(pcc_wire_put_int(&w, -1), PCC_OK);
    CHECK_ST(pcc_wire_put_int(&w, -33), PCC_OK);
    CHECK_ST(pcc_wire_put_int(&w, -129), PCC_OK);
    CHECK_ST(pcc_wire_put_int(&w, INT64_MIN), PCC_OK);
    CHECK(hex_eq(buf, w.len, "007fcc80cd0100ce00010000cf0000000100000000ffd0dfd1ff7f"
                             "d38000000000000000"));
    pcc_writer_init_fixed(&w, buf, sizeof buf);
    CHECK_ST(pcc_wire_put_cstr(&w, "abc"), PCC_OK);
    CHECK_ST(pcc_wire_put_bin(&w, (const uint8_t *)"x", 1), PCC_OK);
    CHECK_ST(pcc_wire_put_array(&w, 15), PCC_OK);
    CHECK_ST(pcc_wire_put_array(&w, 16), PCC_OK);
    CHECK_ST(pcc_wire_put_map(&w, 1), PCC_OK);
    CHECK_ST(pcc_wire_put_map(&w, 70000), PCC_OK);
    CHECK_ST(pcc_wire_put_bool(&w, true), PCC_OK);
    CHECK_ST(pcc_wire_put_nil(&w), PCC_OK);
    CHECK_ST(pcc_wire_put_double(&w, 1.0), PCC_OK);
    CHECK(hex_eq(buf, w.len, "a3616263c401789fdc001081df00011170c3c0cb3ff0000000000000"));
    /* str8 from 32 bytes */
    pcc_writer_init_fixed(&w, buf, sizeof buf);
    CHECK_ST(pcc_wire_put_str(&w, "0123456789abcdef0123456789abcdef", 32), PCC_OK);
    CHECK(buf[0] == 0xd9 && buf[1] == 32 && w.len == 34);
    /* a fixed writer that is too small fails */
    uint8_t tiny[2];
    pcc_writer_init_fixed(&w, tiny, sizeof tiny);
    CHECK(pcc_wire_put_cstr(&w, "abc") != PCC_OK);
}

static void test_canonicalize(void)
{
    uint8_t in[64], out[64];
    size_t n = unhex(in, sizeof in, "83a162cd0001a16181a17a01a0c0"); /* {"b":1(u16),"a":{"z":1},"":nil} */
    pcc_writer w;
    pcc_writer_init_fixed(&w, out, sizeof out);
    CHECK_ST(pcc_wire_canonicalize(&w, in, n, &LIM), PCC_OK);
    CHECK(hex_eq(out, w.len, "83a0c0a16181a17a01a16201"));
    n = unhex(in, sizeof in, "82a16101a16102");
    pcc_writer_init_fixed(&w, out, sizeof out);
    CHECK_ST(pcc_wire_canonicalize(&w, in, n, &LIM), PCC_E_FORMAT);
}

static void test_frames(void)
{
    uint8_t buf[16];
    size_t len = 0;
    pcc_writer w;
    pcc_writer_init_fixed(&w, buf, sizeof buf);
    CHECK_ST(pcc_wire_frame_put(&w, (const uint8_t *)"\x80", 1), PCC_OK);
    CHECK(hex_eq(buf, w.len, "0000000180"));
    CHECK_ST(pcc_wire_frame_length(buf, 16, &len), PCC_OK);
    CHECK(len == 1);
    CHECK_ST(pcc_wire_frame_length((const uint8_t *)"\x00\x00\x00\x00", 16, &len), PCC_E_FORMAT);
    CHECK_ST(pcc_wire_frame_length((const uint8_t *)"\x00\x01\x00\x00", 16, &len), PCC_E_LIMIT);
    CHECK_ST(pcc_wire_frame_length((const uint8_t *)"\xff\xff\xff\xff", SIZE_MAX, &len),
             PCC_E_LIMIT);
    pcc_writer_init_fixed(&w, buf, 4);
    CHECK(pcc_wire_frame_put(&w, (const uint8_t *)"ab", 2) != PCC_OK);
}

int main(void)
{
    test_decode_accepts();
    test_decode_refuses();
    test_decode_minimal();
    test_read_helpers();
    test_encode_shortest();
    test_canonicalize();
    test_frames();
    return ctest_done("test_wire");
}
