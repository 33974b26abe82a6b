/* Unit tests for common/plan.c: check ids (stable, sensitive to every
 * parameter that changes what is checked, blind to the label), plan_add's
 * de-duplication, sorting and lookup, plan_same, the encode/decode round
 * trip, and a table of refused plan files (each with its reason, leaving the
 * plan zeroed; the sanitizer build catches any leak on those paths). */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "common/plan.h"
#include "test/unit/unit.h"

/* A check that sets every field. Strings are literals: plan_add copies. */
static plan_check_t base_check(void)
{
    plan_check_t c;
    memset(&c, 0, sizeof(c));
    c.label = "endpoint web1 (monitor web)";
    c.type = PLAN_HTTP;
    c.family = AF_INET;
    ck_assert_int_eq(inet_pton(AF_INET, "192.0.2.1", c.addr), 1);
    c.port = 80;
    c.path = "/health";
    c.host = "www.example.test";
    c.expect[0][0] = 200;
    c.expect[0][1] = 299;
    c.nexpect = 1;
    c.body = "OK";
    c.body_max = 4096;
    c.headers[0][0] = "X-Probe";
    c.headers[0][1] = "geosteer";
    c.nheaders = 1;
    c.interval_ms = 10000;
    c.timeout_ms = 5000;
    c.rise = 3;
    c.fall = 3;
    c.insecure = false;
    c.ca_file = "/etc/ssl/ca.pem";
    return c;
}

static uint64_t id_of(plan_check_t c)
{
    plan_check_id(&c);
    return c.id;
}

/* ---- ids ---- */

START_TEST(test_id_stable)
{
    plan_check_t a = base_check(), b = base_check();
    plan_check_id(&a);
    plan_check_id(&b);
    ck_assert_uint_eq(a.id, b.id);
    ck_assert_uint_ne(a.id, 0);
    /* Equal contents in different buffers: the id hashes values, not pointers. */
    char path[] = "/health", host[] = "www.example.test";
    b.path = path;
    b.host = host;
    ck_assert_uint_eq(id_of(b), a.id);
    /* Computing it twice changes nothing (the old id is not an input). */
    plan_check_id(&a);
    ck_assert_uint_eq(a.id, b.id);
}
END_TEST

START_TEST(test_id_ignores_label)
{
    plan_check_t a = base_check(), b = base_check();
    b.label = "something else entirely";
    ck_assert_uint_eq(id_of(a), id_of(b));
    b.label = NULL;
    ck_assert_uint_eq(id_of(a), id_of(b));
}
END_TEST

static void m_type_https(plan_check_t *c)
{
    c->type = PLAN_HTTPS;
}
static void m_type_tcp(plan_check_t *c)
{
    c->type = PLAN_TCP;
}
static void m_addr(plan_check_t *c)
{
    c->addr[3] = 2;
}
static void m_addr_v6(plan_check_t *c)
{
    c->family = AF_INET6;
    ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::1", c->addr), 1);
}
static void m_addr_v4mapped(plan_check_t *c)
{
    c->family = AF_INET6;
    ck_assert_int_eq(inet_pton(AF_INET6, "::ffff:192.0.2.1", c->addr), 1);
}
static void m_port(plan_check_t *c)
{
    c->port = 81;
}
static void m_path(plan_check_t *c)
{
    c->path = "/health/";
}
static void m_host(plan_check_t *c)
{
    c->host = "www2.example.test";
}
static void m_host_null(plan_check_t *c)
{
    c->host = NULL;
}
static void m_host_empty(plan_check_t *c)
{
    c->host = "";
}
static void m_path_host_boundary(plan_check_t *c)
{
    /* "/health" + "www.example.test" split differently */
    c->path = "/healthw";
    c->host = "ww.example.test";
}
static void m_expect_range(plan_check_t *c)
{
    c->expect[0][1] = 204;
}
static void m_expect_more(plan_check_t *c)
{
    c->expect[1][0] = 301;
    c->expect[1][1] = 302;
    c->nexpect = 2;
}
static void m_body(plan_check_t *c)
{
    c->body = "OK!";
}
static void m_body_null(plan_check_t *c)
{
    c->body = NULL;
}
static void m_body_empty(plan_check_t *c)
{
    c->body = "";
}
static void m_body_max(plan_check_t *c)
{
    c->body_max = 4097;
}
static void m_header_name(plan_check_t *c)
{
    c->headers[0][0] = "X-Probe2";
}
static void m_header_value(plan_check_t *c)
{
    c->headers[0][1] = "geosteer2";
}
static void m_header_more(plan_check_t *c)
{
    c->headers[1][0] = "Accept";
    c->headers[1][1] = "*/*";
    c->nheaders = 2;
}
static void m_header_none(plan_check_t *c)
{
    c->nheaders = 0;
}
static void m_interval(plan_check_t *c)
{
    c->interval_ms = 10001;
}
static void m_timeout(plan_check_t *c)
{
    c->timeout_ms = 4999;
}
static void m_rise(plan_check_t *c)
{
    c->rise = 2;
}
static void m_fall(plan_check_t *c)
{
    c->fall = 4;
}
static void m_insecure(plan_check_t *c)
{
    c->insecure = true;
}
static void m_ca_file(plan_check_t *c)
{
    c->ca_file = "/etc/ssl/other.pem";
}
static void m_ca_file_null(plan_check_t *c)
{
    c->ca_file = NULL;
}
static void m_ca_file_empty(plan_check_t *c)
{
    c->ca_file = "";
}

static const struct {
    const char *name;
    void (*mutate)(plan_check_t *c);
} mutations[] = {
    {"type https", m_type_https},
    {"type tcp", m_type_tcp},
    {"address", m_addr},
    {"IPv6 address", m_addr_v6},
    {"v4-mapped IPv6 address", m_addr_v4mapped},
    {"port", m_port},
    {"path", m_path},
    {"host", m_host},
    {"host NULL", m_host_null},
    {"host \"\"", m_host_empty},
    {"path/host boundary", m_path_host_boundary},
    {"expect range", m_expect_range},
    {"expect second range", m_expect_more},
    {"body", m_body},
    {"body NULL", m_body_null},
    {"body \"\"", m_body_empty},
    {"body_max", m_body_max},
    {"header name", m_header_name},
    {"header value", m_header_value},
    {"second header", m_header_more},
    {"no header", m_header_none},
    {"interval_ms", m_interval},
    {"timeout_ms", m_timeout},
    {"rise", m_rise},
    {"fall", m_fall},
    {"insecure", m_insecure},
    {"ca_file", m_ca_file},
    {"ca_file NULL", m_ca_file_null},
    {"ca_file \"\"", m_ca_file_empty},
};
#define NMUT (sizeof(mutations) / sizeof(mutations[0]))

/* Every parameter change makes a new id, and all the changed checks differ
 * from each other too. */
START_TEST(test_id_changes)
{
    uint64_t ids[NMUT + 1];
    ids[NMUT] = id_of(base_check());
    for (size_t i = 0; i < NMUT; i++) {
        plan_check_t c = base_check();
        mutations[i].mutate(&c);
        ids[i] = id_of(c);
        ck_assert_msg(ids[i] != ids[NMUT], "changing %s keeps the id", mutations[i].name);
    }
    for (size_t i = 0; i < NMUT; i++)
        for (size_t j = i + 1; j < NMUT; j++)
            ck_assert_msg(ids[i] != ids[j], "%s and %s give the same id", mutations[i].name,
                          mutations[j].name);
}
END_TEST

START_TEST(test_id_null_vs_empty)
{
    plan_check_t a = base_check(), b = base_check();
    a.host = NULL;
    b.host = "";
    ck_assert_uint_ne(id_of(a), id_of(b));
    a = base_check(), b = base_check();
    a.body = NULL;
    b.body = "";
    ck_assert_uint_ne(id_of(a), id_of(b));
}
END_TEST

/* A TCP check only connects: the HTTP fields do not change what is
 * checked, so they do not change the id. */
START_TEST(test_id_tcp_ignores_http_fields)
{
    plan_check_t a = base_check();
    a.type = PLAN_TCP;
    uint64_t id = id_of(a);
    void (*http_only[])(plan_check_t *) = {m_path,        m_host,     m_host_null,
                                           m_expect_more, m_body,     m_body_max,
                                           m_header_more, m_insecure, m_ca_file};
    for (size_t i = 0; i < sizeof(http_only) / sizeof(http_only[0]); i++) {
        plan_check_t c = a;
        http_only[i](&c);
        ck_assert_uint_eq(id_of(c), id);
    }
    plan_check_t c = a;
    m_port(&c);
    ck_assert_uint_ne(id_of(c), id);
}
END_TEST

/* ---- plan_add, plan_finish, plan_find, plan_same ---- */

START_TEST(test_add_dedup)
{
    plan_t p;
    memset(&p, 0, sizeof(p));
    plan_check_t c = base_check();
    c.label = "endpoint a";
    plan_check_id(&c);
    ck_assert_uint_eq(plan_add(&p, &c), 0);
    c.label = "record b";
    ck_assert_uint_eq(plan_add(&p, &c), 0); /* same id: merged */
    ck_assert_uint_eq(p.n, 1);
    ck_assert_str_eq(p.checks[0].label, "endpoint a, record b");
    c.label = NULL; /* nothing to merge */
    ck_assert_uint_eq(plan_add(&p, &c), 0);
    ck_assert_str_eq(p.checks[0].label, "endpoint a, record b");

    plan_check_t d = base_check();
    d.label = NULL;
    d.port = 8080;
    plan_check_id(&d);
    ck_assert_uint_eq(plan_add(&p, &d), 1);
    ck_assert_uint_eq(p.n, 2);
    ck_assert_str_eq(p.checks[1].label, ""); /* never NULL after plan_add */
    ck_assert_uint_eq(p.checks[1].port, 8080);
    plan_free(&p);
    plan_t zero;
    memset(&zero, 0, sizeof(zero));
    ck_assert(memcmp(&p, &zero, sizeof(p)) == 0);
}
END_TEST

START_TEST(test_add_copies)
{
    char label[] = "lbl", path[] = "/p", host[] = "h.test", body[] = "b", hn[] = "X-A", hv[] = "1",
         ca[] = "/ca.pem";
    plan_check_t c = base_check();
    c.label = label, c.path = path, c.host = host, c.body = body, c.ca_file = ca;
    c.headers[0][0] = hn, c.headers[0][1] = hv;
    plan_check_id(&c);
    plan_t p;
    memset(&p, 0, sizeof(p));
    plan_add(&p, &c);
    /* The plan owns copies: the caller's buffers may change or go away. */
    label[0] = path[1] = host[0] = body[0] = hn[0] = hv[0] = ca[1] = '#';
    const plan_check_t *d = &p.checks[0];
    ck_assert_ptr_ne(d->label, label);
    ck_assert_str_eq(d->label, "lbl");
    ck_assert_str_eq(d->path, "/p");
    ck_assert_str_eq(d->host, "h.test");
    ck_assert_str_eq(d->body, "b");
    ck_assert_str_eq(d->ca_file, "/ca.pem");
    ck_assert_str_eq(d->headers[0][0], "X-A");
    ck_assert_str_eq(d->headers[0][1], "1");
    ck_assert_uint_eq(d->id, c.id);
    /* NULL strings stay NULL. */
    plan_check_t e = base_check();
    e.host = e.body = e.ca_file = NULL;
    e.nheaders = 0;
    plan_check_id(&e);
    size_t i = plan_add(&p, &e);
    ck_assert_ptr_null(p.checks[i].host);
    ck_assert_ptr_null(p.checks[i].body);
    ck_assert_ptr_null(p.checks[i].ca_file);
    plan_free(&p);
}
END_TEST

START_TEST(test_add_label_bounded)
{
    plan_t p;
    memset(&p, 0, sizeof(p));
    plan_check_t c = base_check();
    plan_check_id(&c);
    char label[32];
    for (int i = 0; i < 500; i++) {
        snprintf(label, sizeof(label), "endpoint e%03d", i);
        c.label = label;
        ck_assert_uint_eq(plan_add(&p, &c), 0);
    }
    ck_assert_uint_eq(p.n, 1);
    size_t len = strlen(p.checks[0].label);
    ck_assert_uint_ge(len, 200);
    ck_assert_uint_lt(len, 200 + sizeof(label) + 2);
    ck_assert(strncmp(p.checks[0].label, "endpoint e000, endpoint e001, ", 30) == 0);
    plan_free(&p);
}
END_TEST

/* 200 checks on distinct ports, added in a scrambled order. */
static void build_plan(plan_t *p, size_t n, unsigned stride)
{
    memset(p, 0, sizeof(*p));
    p->generation = 7;
    p->max_in_flight = 64;
    p->heartbeat_ms = 1000;
    for (size_t k = 0; k < n; k++) {
        plan_check_t c = base_check();
        c.port = 1000 + (unsigned)((k * stride) % n);
        plan_check_id(&c);
        plan_add(p, &c);
    }
    plan_finish(p);
}

START_TEST(test_finish_find)
{
    plan_t p;
    build_plan(&p, 200, 7);
    ck_assert_uint_eq(p.n, 200);
    for (size_t i = 1; i < p.n; i++)
        ck_assert_uint_lt(p.checks[i - 1].id, p.checks[i].id);
    for (unsigned port = 1000; port < 1200; port++) {
        plan_check_t c = base_check();
        c.port = port;
        uint64_t id = id_of(c);
        long i = plan_find(&p, id);
        ck_assert_int_ge(i, 0);
        ck_assert_uint_eq(p.checks[i].id, id);
        ck_assert_uint_eq(p.checks[i].port, port);
    }
    plan_check_t c = base_check();
    c.port = 999;
    ck_assert_int_eq(plan_find(&p, id_of(c)), -1);
    ck_assert_int_eq(plan_find(&p, 0), -1);
    ck_assert_int_eq(plan_find(&p, UINT64_MAX), -1);
    plan_free(&p);

    plan_t empty;
    memset(&empty, 0, sizeof(empty));
    plan_finish(&empty);
    ck_assert_int_eq(plan_find(&empty, 1), -1);
    build_plan(&p, 1, 1);
    ck_assert_int_eq(plan_find(&p, p.checks[0].id), 0);
    plan_free(&p);
}
END_TEST

START_TEST(test_same)
{
    plan_t a, b;
    build_plan(&a, 50, 1);
    build_plan(&b, 50, 13); /* another order before plan_finish */
    b.generation = 8;
    ck_assert(plan_same(&a, &b)); /* the generation is not compared */
    ck_assert(plan_same(&a, &a));
    b.max_in_flight = 65;
    ck_assert(!plan_same(&a, &b));
    b.max_in_flight = 64;
    b.heartbeat_ms = 2000;
    ck_assert(!plan_same(&a, &b));
    b.heartbeat_ms = 1000;
    free(b.checks[3].label);
    b.checks[3].label = strdup("renamed");
    ck_assert(!plan_same(&a, &b));
    plan_free(&b);
    build_plan(&b, 51, 1); /* one check more */
    ck_assert(!plan_same(&a, &b));
    ck_assert(!plan_same(&b, &a));
    plan_free(&b);
    build_plan(&b, 50, 1);
    b.checks[10].id ^= 1; /* same count, another check */
    ck_assert(!plan_same(&a, &b));
    plan_free(&a);
    plan_free(&b);
    plan_t e1, e2;
    memset(&e1, 0, sizeof(e1));
    memset(&e2, 0, sizeof(e2));
    ck_assert(plan_same(&e1, &e2));
}
END_TEST

/* ---- encode / decode ---- */

static void assert_same_str(const char *a, const char *b)
{
    if (!a || !b)
        ck_assert_ptr_eq(a, b);
    else
        ck_assert_str_eq(a, b);
}

static void assert_same_check(const plan_check_t *a, const plan_check_t *b)
{
    ck_assert_uint_eq(a->id, b->id);
    assert_same_str(a->label, b->label);
    ck_assert_int_eq(a->type, b->type);
    ck_assert_int_eq(a->family, b->family);
    ck_assert(memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0);
    ck_assert_uint_eq(a->port, b->port);
    ck_assert_uint_eq(a->interval_ms, b->interval_ms);
    ck_assert_uint_eq(a->timeout_ms, b->timeout_ms);
    ck_assert_uint_eq(a->rise, b->rise);
    ck_assert_uint_eq(a->fall, b->fall);
    if (a->type == PLAN_TCP)
        return;
    assert_same_str(a->path, b->path);
    assert_same_str(a->host, b->host);
    ck_assert_uint_eq(a->nexpect, b->nexpect);
    for (size_t i = 0; i < a->nexpect; i++) {
        ck_assert_uint_eq(a->expect[i][0], b->expect[i][0]);
        ck_assert_uint_eq(a->expect[i][1], b->expect[i][1]);
    }
    assert_same_str(a->body, b->body);
    ck_assert_uint_eq(a->body_max, b->body_max);
    ck_assert_uint_eq(a->nheaders, b->nheaders);
    for (size_t i = 0; i < a->nheaders; i++) {
        ck_assert_str_eq(a->headers[i][0], b->headers[i][0]);
        ck_assert_str_eq(a->headers[i][1], b->headers[i][1]);
    }
    ck_assert_int_eq(a->insecure, b->insecure);
    assert_same_str(a->ca_file, b->ca_file);
}

START_TEST(test_round_trip)
{
    plan_t p;
    memset(&p, 0, sizeof(p));
    p.generation = 1234567890123ull;
    p.max_in_flight = 100000;
    p.heartbeat_ms = 600000;

    plan_check_t c = base_check(); /* every field set */
    c.label = "endpoint \"caf\xc3\xa9\" \\ r\xc3\xa9seau \xe2\x9c\x93";
    c.path = "/a/b?q=\"x\"&r=\\y&s=\xc3\xa9";
    c.host = "h\xc3\xb4te.example.test";
    c.body = "\"quoted\" \\back\\slash\\ \xe6\x97\xa5\xe6\x9c\xac \t tab";
    c.body_max = 1 << 20;
    c.expect[0][0] = 100, c.expect[0][1] = 599;
    c.expect[1][0] = 200, c.expect[1][1] = 200;
    c.expect[2][0] = 301, c.expect[2][1] = 308;
    c.nexpect = 3;
    c.headers[0][0] = "X-Quote";
    c.headers[0][1] = "say \"hi\"";
    c.headers[1][0] = "X-Back";
    c.headers[1][1] = "C:\\dir\\";
    c.headers[2][0] = "X-Utf8";
    c.headers[2][1] = "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80 tab\there";
    c.headers[3][0] = "X-Empty";
    c.headers[3][1] = "";
    c.nheaders = 4;
    c.interval_ms = 3600000;
    c.timeout_ms = 3600000;
    c.rise = 100;
    c.fall = 1;
    plan_check_id(&c);
    plan_add(&p, &c);

    plan_check_t v6 = base_check();
    v6.label = "v6";
    v6.type = PLAN_HTTPS;
    v6.family = AF_INET6;
    ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8:0:1::ff", v6.addr), 1);
    v6.port = 65535;
    v6.path = "/";
    v6.host = NULL;
    v6.body = NULL;
    v6.nheaders = 0;
    v6.insecure = true;
    v6.ca_file = "/etc/ssl/\xc3\xa9 \"ca\".pem";
    v6.interval_ms = 100;
    v6.timeout_ms = 10;
    plan_check_id(&v6);
    plan_add(&p, &v6);

    plan_check_t tcp = base_check();
    tcp.label = "";
    tcp.type = PLAN_TCP;
    tcp.port = 1;
    tcp.path = tcp.host = tcp.body = tcp.ca_file = NULL;
    tcp.nheaders = 0;
    tcp.nexpect = 0;
    plan_check_id(&tcp);
    plan_add(&p, &tcp);

    plan_check_t v6tcp = tcp;
    v6tcp.family = AF_INET6;
    ck_assert_int_eq(inet_pton(AF_INET6, "::1", v6tcp.addr), 1);
    plan_check_id(&v6tcp);
    plan_add(&p, &v6tcp);
    plan_finish(&p);
    ck_assert_uint_eq(p.n, 4);

    buf_t text;
    buf_init(&text);
    plan_encode(&p, &text);
    ck_assert_uint_gt(text.len, 0);
    ck_assert_int_eq(text.data[text.len - 1], '\n');
    ck_assert(buf_utf8_valid(text.data, text.len));

    plan_t q;
    gs_err_t err = {{0}};
    int rc = plan_decode(text.data, text.len, &q, &err);
    ck_assert_msg(rc == 0, "decode: %s\n%s", err.text, text.data);
    ck_assert_uint_eq(q.generation, p.generation);
    ck_assert_uint_eq(q.max_in_flight, p.max_in_flight);
    ck_assert_uint_eq(q.heartbeat_ms, p.heartbeat_ms);
    ck_assert_uint_eq(q.n, p.n);
    for (size_t i = 0; i < p.n; i++) {
        assert_same_check(&p.checks[i], &q.checks[i]);
        /* The parameters that came back hash to the id that came back. */
        plan_check_t again = q.checks[i];
        plan_check_id(&again);
        ck_assert_uint_eq(again.id, q.checks[i].id);
    }
    ck_assert(plan_same(&p, &q));

    /* Encoding the decoded plan gives the same bytes. */
    buf_t text2;
    buf_init(&text2);
    plan_encode(&q, &text2);
    ck_assert_uint_eq(text2.len, text.len);
    ck_assert(memcmp(text.data, text2.data, text.len) == 0);
    buf_free(&text2);

    buf_free(&text);
    plan_free(&q);
    plan_free(&p);
}
END_TEST

START_TEST(test_round_trip_empty)
{
    plan_t p;
    memset(&p, 0, sizeof(p));
    p.max_in_flight = 1;
    p.heartbeat_ms = 10;
    buf_t text;
    buf_init(&text);
    plan_encode(&p, &text);
    plan_t q;
    gs_err_t err;
    ck_assert_int_eq(plan_decode(text.data, text.len, &q, &err), 0);
    ck_assert_uint_eq(q.n, 0);
    ck_assert_uint_eq(q.generation, 0);
    ck_assert(plan_same(&p, &q));
    plan_free(&q);
    buf_free(&text);
}
END_TEST

START_TEST(test_decode_optional_fields)
{
    /* label, host, body, ca_file and insecure may be left out; a TCP check
     * needs none of the HTTP fields. */
    static const char text[] =
        "{\"format\":1,\"generation\":3,\"max_in_flight\":8,\"heartbeat_ms\":1000,\"checks\":["
        "{\"id\":\"00000000000000a1\",\"type\":\"tcp\",\"address\":\"127.0.0.1\",\"port\":22,"
        "\"interval_ms\":1000,\"timeout_ms\":500,\"rise\":2,\"fall\":2},"
        "{\"id\":\"00000000000000b2\",\"type\":\"http\",\"address\":\"::1\",\"port\":80,"
        "\"path\":\"/\",\"expect\":[[200,299]],\"body_max\":1,\"headers\":[],"
        "\"interval_ms\":1000,\"timeout_ms\":1000,\"rise\":1,\"fall\":1}]}";
    plan_t p;
    gs_err_t err;
    ck_assert_msg(plan_decode(text, strlen(text), &p, &err) == 0, "%s", err.text);
    ck_assert_uint_eq(p.n, 2);
    ck_assert_uint_eq(p.checks[0].id, 0xa1);
    ck_assert_int_eq(p.checks[0].type, PLAN_TCP);
    ck_assert_ptr_null(p.checks[0].path);
    ck_assert_uint_eq(p.checks[1].id, 0xb2);
    ck_assert_int_eq(p.checks[1].family, AF_INET6);
    ck_assert_ptr_null(p.checks[1].host);
    ck_assert_ptr_null(p.checks[1].body);
    ck_assert_ptr_null(p.checks[1].ca_file);
    ck_assert(!p.checks[1].insecure);
    plan_free(&p);
}
END_TEST

/* ---- refused plan files ---- */

/* Builders for the refused texts: ONE() wraps one check's members in a valid
 * plan; P(), PATH(), EXPECT()... give a valid HTTP check with that member
 * replaced, so each case differs from a valid plan in one place (which
 * test_decode_fixtures_valid below checks for the valid values). */
#define PLAN_HEAD "{\"format\":1,\"generation\":1,\"max_in_flight\":8,\"heartbeat_ms\":1000,"
#define ID1 "\"id\":\"0000000000000001\""
#define ID2 "\"id\":\"0000000000000002\""
#define HTTP_REST                                                                                  \
    "\"type\":\"http\",\"address\":\"127.0.0.1\",\"port\":80,\"path\":\"/\","                      \
    "\"expect\":[[200,299]],\"body_max\":4096,\"headers\":[],"                                     \
    "\"interval_ms\":1000,\"timeout_ms\":500,\"rise\":3,\"fall\":3"
#define CHECK_OK "{" ID1 "," HTTP_REST "}"
#define ONE(members) PLAN_HEAD "\"checks\":[{" members "}]}"
/* HTTP_REST with one member overridden: jansson refuses duplicate keys, so
 * the override is spelled out in full. */
#define HTTP_WITH(port, path, expect, body_max, headers, interval, timeout, rise, fall)            \
    ONE(ID1 ",\"type\":\"http\",\"address\":\"127.0.0.1\",\"port\":" port ",\"path\":" path        \
            ",\"expect\":" expect ",\"body_max\":" body_max ",\"headers\":" headers                \
            ",\"interval_ms\":" interval ",\"timeout_ms\":" timeout ",\"rise\":" rise              \
            ",\"fall\":" fall)
#define P(port) HTTP_WITH(port, "\"/\"", "[[200,299]]", "4096", "[]", "1000", "500", "3", "3")
#define PATH(path) HTTP_WITH("80", path, "[[200,299]]", "4096", "[]", "1000", "500", "3", "3")
#define EXPECT(e) HTTP_WITH("80", "\"/\"", e, "4096", "[]", "1000", "500", "3", "3")
#define BODYMAX(b) HTTP_WITH("80", "\"/\"", "[[200,299]]", b, "[]", "1000", "500", "3", "3")
#define HEADERS(h) HTTP_WITH("80", "\"/\"", "[[200,299]]", "4096", h, "1000", "500", "3", "3")
#define TIMES(i, t) HTTP_WITH("80", "\"/\"", "[[200,299]]", "4096", "[]", i, t, "3", "3")
#define RISEFALL(r, f) HTTP_WITH("80", "\"/\"", "[[200,299]]", "4096", "[]", "1000", "500", r, f)
#define TCP_REST "\"interval_ms\":1000,\"timeout_ms\":500,\"rise\":3,\"fall\":3"
#define ADDR(a) ONE(ID1 ",\"type\":\"tcp\",\"address\":" a ",\"port\":80," TCP_REST)
#define H17                                                                                        \
    "[[200,200],[201,201],[202,202],[203,203],[204,204],[205,205],[206,206],[207,207],"            \
    "[208,208],[209,209],[210,210],[211,211],[212,212],[213,213],[214,214],[215,215],"             \
    "[216,216]]"
#define HDR8                                                                                       \
    "[\"A\",\"1\"],[\"A\",\"1\"],[\"A\",\"1\"],[\"A\",\"1\"],"                                     \
    "[\"A\",\"1\"],[\"A\",\"1\"],[\"A\",\"1\"],[\"A\",\"1\"]"

static const struct {
    const char *name;
    const char *text;
    const char *reason; /* substring of the error text */
} bad[] = {
    {"not JSON", "this is not json", "1:"},
    {"empty file", "", "1:"},
    {"truncated", PLAN_HEAD "\"checks\":[", "1:"},
    {"top-level array", "[]", "not a JSON object"},
    {"top-level string", "\"plan\"", "'[' or '{' expected"},
    {"duplicate key", "{\"format\":1,\"format\":1}", "duplicate"},
    {"format missing", "{\"generation\":1,\"max_in_flight\":8,\"heartbeat_ms\":1000,\"checks\":[]}",
     "\"format\" must be an integer in 1..1"},
    {"format 2",
     "{\"format\":2,\"generation\":1,\"max_in_flight\":8,\"heartbeat_ms\":1000,"
     "\"checks\":[]}",
     "\"format\" must be an integer in 1..1"},
    {"format 0",
     "{\"format\":0,\"generation\":1,\"max_in_flight\":8,\"heartbeat_ms\":1000,"
     "\"checks\":[]}",
     "\"format\""},
    {"format string",
     "{\"format\":\"1\",\"generation\":1,\"max_in_flight\":8,\"heartbeat_ms\":"
     "1000,\"checks\":[]}",
     "\"format\""},
    {"generation negative",
     "{\"format\":1,\"generation\":-1,\"max_in_flight\":8,"
     "\"heartbeat_ms\":1000,\"checks\":[]}",
     "\"generation\""},
    {"generation missing", "{\"format\":1,\"max_in_flight\":8,\"heartbeat_ms\":1000,\"checks\":[]}",
     "\"generation\""},
    {"max_in_flight 0",
     "{\"format\":1,\"generation\":1,\"max_in_flight\":0,\"heartbeat_ms\":1000,"
     "\"checks\":[]}",
     "\"max_in_flight\" must be an integer in 1..100000"},
    {"max_in_flight too big",
     "{\"format\":1,\"generation\":1,\"max_in_flight\":100001,"
     "\"heartbeat_ms\":1000,\"checks\":[]}",
     "\"max_in_flight\""},
    {"heartbeat_ms 9",
     "{\"format\":1,\"generation\":1,\"max_in_flight\":8,\"heartbeat_ms\":9,"
     "\"checks\":[]}",
     "\"heartbeat_ms\" must be an integer in 10..600000"},
    {"heartbeat_ms float",
     "{\"format\":1,\"generation\":1,\"max_in_flight\":8,"
     "\"heartbeat_ms\":1000.5,\"checks\":[]}",
     "\"heartbeat_ms\""},
    {"checks missing", "{\"format\":1,\"generation\":1,\"max_in_flight\":8,\"heartbeat_ms\":1000}",
     "\"checks\" must be an array"},
    {"checks object", PLAN_HEAD "\"checks\":{}}", "\"checks\" must be an array"},
    {"check not an object", PLAN_HEAD "\"checks\":[42]}", "checks[0]: must be an object"},
    {"second check not an object", PLAN_HEAD "\"checks\":[" CHECK_OK ",null]}",
     "checks[1]: must be an object"},
    {"id missing", ONE(HTTP_REST), "checks[0]: \"id\" must be 16 lower-case hex digits"},
    {"id short", ONE("\"id\":\"000000000000001\"," HTTP_REST),
     "\"id\" must be 16 lower-case hex digits"},
    {"id long", ONE("\"id\":\"00000000000000001\"," HTTP_REST),
     "\"id\" must be 16 lower-case hex digits"},
    {"id not hex", ONE("\"id\":\"000000000000000g\"," HTTP_REST),
     "\"id\" must be 16 lower-case hex digits"},
    {"id signed", ONE("\"id\":\"-000000000000001\"," HTTP_REST),
     "\"id\" must be 16 lower-case hex digits"},
    {"id spaced", ONE("\"id\":\" 00000000000001a\"," HTTP_REST),
     "\"id\" must be 16 lower-case hex digits"},
    {"id number", ONE("\"id\":1," HTTP_REST), "\"id\" must be 16 lower-case hex digits"},
    {"type missing", ONE(ID1 ",\"address\":\"127.0.0.1\",\"port\":80," TCP_REST),
     "checks[0]: \"type\" must be tcp, http or https"},
    {"type udp", ONE(ID1 ",\"type\":\"udp\",\"address\":\"127.0.0.1\",\"port\":80," TCP_REST),
     "\"type\" must be tcp, http or https"},
    {"type upper case",
     ONE(ID1 ",\"type\":\"HTTP\",\"address\":\"127.0.0.1\",\"port\":80," TCP_REST), "\"type\""},
    {"address missing", ONE(ID1 ",\"type\":\"tcp\",\"port\":80," TCP_REST),
     "checks[0]: \"address\" must be an IP address"},
    {"address name", ADDR("\"localhost\""), "\"address\" must be an IP address"},
    {"address bad v4", ADDR("\"256.1.1.1\""), "\"address\" must be an IP address"},
    {"address bad v6", ADDR("\"2001:db8:::1\""), "\"address\" must be an IP address"},
    {"address with port", ADDR("\"127.0.0.1:80\""), "\"address\" must be an IP address"},
    {"address with prefix", ADDR("\"192.0.2.0/24\""), "\"address\" must be an IP address"},
    {"address number", ADDR("2130706433"), "\"address\" must be an IP address"},
    {"port 0", P("0"), "checks[0]: \"port\" must be an integer in 1..65535"},
    {"port 65536", P("65536"), "\"port\" must be an integer in 1..65535"},
    {"port negative", P("-80"), "\"port\""},
    {"port string", P("\"80\""), "\"port\""},
    {"interval_ms 99", TIMES("99", "50"), "\"interval_ms\" must be an integer in 100..3600000"},
    {"interval_ms too big", TIMES("3600001", "500"), "\"interval_ms\""},
    {"timeout_ms > interval_ms", TIMES("1000", "1001"),
     "\"timeout_ms\" must be an integer in 10..1000"},
    {"timeout_ms 9", TIMES("1000", "9"), "\"timeout_ms\""},
    {"rise 0", RISEFALL("0", "3"), "\"rise\" must be an integer in 1..100"},
    {"fall 101", RISEFALL("3", "101"), "\"fall\" must be an integer in 1..100"},
    {"rise boolean", RISEFALL("true", "3"), "\"rise\""},
    {"label number", ONE(ID1 ",\"label\":5," HTTP_REST), "\"label\" must be a string"},
    {"path missing",
     ONE(ID1 ",\"type\":\"http\",\"address\":\"127.0.0.1\",\"port\":80,\"expect\":[[200,299]],"
             "\"body_max\":4096,\"headers\":[]," TCP_REST),
     "\"path\" must be a string"},
    {"path without slash", PATH("\"health\""), "bad \"path\" or \"host\""},
    {"path empty", PATH("\"\""), "bad \"path\" or \"host\""},
    {"path with space", PATH("\"/a b\""), "bad \"path\" or \"host\""},
    {"path with CR LF", PATH("\"/a\\r\\nX-Injected: 1\""), "bad \"path\" or \"host\""},
    {"path with LF", PATH("\"/a\\nb\""), "bad \"path\" or \"host\""},
    {"path with NUL", PATH("\"/a\\u0000b\""), "\\u0000 is not allowed"},
    {"path number", PATH("1"), "\"path\" must be a string"},
    {"host with CR LF", ONE(ID1 ",\"host\":\"a.test\\r\\nX: 1\"," HTTP_REST),
     "bad \"path\" or \"host\""},
    {"host with slash", ONE(ID1 ",\"host\":\"a.test/x\"," HTTP_REST), "bad \"path\" or \"host\""},
    {"host with space", ONE(ID1 ",\"host\":\"a test\"," HTTP_REST), "bad \"path\" or \"host\""},
    {"body number", ONE(ID1 ",\"body\":7," HTTP_REST), "\"body\" must be a string"},
    {"ca_file null", ONE(ID1 ",\"ca_file\":null," HTTP_REST), "\"ca_file\" must be a string"},
    {"body_max 0", BODYMAX("0"), "\"body_max\" must be an integer in 1..1048576"},
    {"body_max too big", BODYMAX("1048577"), "\"body_max\""},
    {"expect missing",
     ONE(ID1 ",\"type\":\"http\",\"address\":\"127.0.0.1\",\"port\":80,\"path\":\"/\","
             "\"body_max\":4096,\"headers\":[]," TCP_REST),
     "\"expect\" must be 1..16 ranges"},
    {"expect empty", EXPECT("[]"), "\"expect\" must be 1..16 ranges"},
    {"expect 17 ranges", EXPECT(H17), "\"expect\" must be 1..16 ranges"},
    {"expect not array", EXPECT("200"), "\"expect\" must be 1..16 ranges"},
    {"expect below 100", EXPECT("[[99,200]]"), "\"expect\"[0] must be [lo,hi] in 100..599"},
    {"expect above 599", EXPECT("[[200,600]]"), "\"expect\"[0] must be [lo,hi] in 100..599"},
    {"expect reversed", EXPECT("[[300,200]]"), "\"expect\"[0]"},
    {"expect one number", EXPECT("[[200]]"), "\"expect\"[0]"},
    {"expect three numbers", EXPECT("[[200,299,300]]"), "\"expect\"[0]"},
    {"expect second bad", EXPECT("[[200,299],[0,0]]"), "\"expect\"[1]"},
    {"expect strings", EXPECT("[[\"200\",\"299\"]]"), "\"expect\"[0]"},
    {"headers missing",
     ONE(ID1 ",\"type\":\"http\",\"address\":\"127.0.0.1\",\"port\":80,\"path\":\"/\","
             "\"expect\":[[200,299]],\"body_max\":4096," TCP_REST),
     "\"headers\" must be an array of at most 32 pairs"},
    {"headers object", HEADERS("{}"), "\"headers\" must be an array"},
    {"headers 33", HEADERS("[" HDR8 "," HDR8 "," HDR8 "," HDR8 ",[\"A\",\"1\"]]"),
     "\"headers\" must be an array of at most 32 pairs"},
    {"header value CR LF", HEADERS("[[\"X-A\",\"1\\r\\nX-B: 2\"]]"),
     "\"headers\"[0] must be [name, value]"},
    {"header value LF", HEADERS("[[\"X-A\",\"1\"],[\"X-B\",\"a\\nb\"]]"), "\"headers\"[1]"},
    {"header name CR", HEADERS("[[\"X-A\\r\",\"1\"]]"), "\"headers\"[0]"},
    {"header name with colon", HEADERS("[[\"X-A:\",\"1\"]]"), "\"headers\"[0]"},
    {"header name with space", HEADERS("[[\"X A\",\"1\"]]"), "\"headers\"[0]"},
    {"header name empty", HEADERS("[[\"\",\"1\"]]"), "\"headers\"[0]"},
    {"header not a pair", HEADERS("[[\"X-A\"]]"), "\"headers\"[0]"},
    {"header triple", HEADERS("[[\"X-A\",\"1\",\"2\"]]"), "\"headers\"[0]"},
    {"header numbers", HEADERS("[[1,2]]"), "\"headers\"[0]"},
    {"header value NUL", HEADERS("[[\"X-A\",\"a\\u0000b\"]]"), "\\u0000 is not allowed"},
    {"insecure string", ONE(ID1 ",\"insecure\":\"yes\"," HTTP_REST),
     "\"insecure\" must be a boolean"},
    {"ids unsorted", PLAN_HEAD "\"checks\":[{" ID2 "," HTTP_REST "},{" ID1 "," HTTP_REST "}]}",
     "checks[1]: ids not sorted and unique"},
    {"ids duplicate", PLAN_HEAD "\"checks\":[{" ID1 "," HTTP_REST "},{" ID1 "," HTTP_REST "}]}",
     "checks[1]: ids not sorted and unique"},
    {"third check bad",
     PLAN_HEAD "\"checks\":[" CHECK_OK ",{" ID2 "," HTTP_REST "},{"
               "\"id\":\"0000000000000003\",\"label\":\"x\",\"host\":\"h\","
               "\"body\":\"b\",\"ca_file\":\"/c\",\"type\":\"http\","
               "\"address\":\"127.0.0.1\",\"port\":80,\"path\":\"/\","
               "\"expect\":[[200,299]],\"body_max\":4096,"
               "\"headers\":[[\"X-A\",\"1\"],[\"X-B\",\"\\n\"]],"
               "\"interval_ms\":1000,\"timeout_ms\":500,\"rise\":3,"
               "\"fall\":3}]}",
     "checks[2]: \"headers\"[1]"},
};

START_TEST(test_decode_errors)
{
    /* A sentinel that must be overwritten: decode zeroes the plan first. */
    plan_t p;
    memset(&p, 0xa5, sizeof(p));
    gs_err_t err;
    memset(&err, 0, sizeof(err));
    int rc = plan_decode(bad[_i].text, strlen(bad[_i].text), &p, &err);
    ck_assert_msg(rc == GS_EINVAL, "%s: rc %d, expected GS_EINVAL (%s)", bad[_i].name, rc,
                  err.text);
    ck_assert_msg(err.text[0] != '\0', "%s: no reason", bad[_i].name);
    ck_assert_msg(strstr(err.text, bad[_i].reason) != NULL, "%s: reason \"%s\" lacks \"%s\"",
                  bad[_i].name, err.text, bad[_i].reason);
    plan_t zero;
    memset(&zero, 0, sizeof(zero));
    ck_assert_msg(memcmp(&p, &zero, sizeof(p)) == 0, "%s: plan not zeroed", bad[_i].name);
    plan_free(&p); /* harmless on a zeroed plan */
}
END_TEST

/* Each refused text is one fix away from a valid plan: the table tests what
 * it says it tests, not some earlier mistake in the fixture. */
START_TEST(test_decode_fixtures_valid)
{
    static const char *const ok[] = {
        ONE(ID1 "," HTTP_REST),
        P("65535"),
        PATH("\"/a?b=c\""),
        EXPECT("[[100,599]]"),
        BODYMAX("1048576"),
        HEADERS("[[\"X-A\",\"1\\t2\"]]"),
        HEADERS("[" HDR8 "," HDR8 "," HDR8 "," HDR8 "]"),
        TIMES("1000", "1000"),
        RISEFALL("100", "1"),
        ADDR("\"::ffff:192.0.2.1\""),
        ONE(ID1 ",\"host\":\"a.test:8080\",\"insecure\":false," HTTP_REST),
        PLAN_HEAD "\"checks\":[{" ID1 "," HTTP_REST "},{" ID2 "," HTTP_REST "}]}",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        plan_t p;
        gs_err_t err;
        int rc = plan_decode(ok[i], strlen(ok[i]), &p, &err);
        ck_assert_msg(rc == 0, "fixture %zu refused: %s\n%s", i, err.text, ok[i]);
        plan_free(&p);
    }
}
END_TEST

static Suite *plan_suite(void)
{
    Suite *s = suite_create("plan");
    TCase *tc = tcase_create("id");
    tcase_add_test(tc, test_id_stable);
    tcase_add_test(tc, test_id_ignores_label);
    tcase_add_test(tc, test_id_changes);
    tcase_add_test(tc, test_id_null_vs_empty);
    tcase_add_test(tc, test_id_tcp_ignores_http_fields);
    suite_add_tcase(s, tc);
    tc = tcase_create("build");
    tcase_add_test(tc, test_add_dedup);
    tcase_add_test(tc, test_add_copies);
    tcase_add_test(tc, test_add_label_bounded);
    tcase_add_test(tc, test_finish_find);
    tcase_add_test(tc, test_same);
    suite_add_tcase(s, tc);
    tc = tcase_create("codec");
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_round_trip_empty);
    tcase_add_test(tc, test_decode_optional_fields);
    tcase_add_loop_test(tc, test_decode_errors, 0, (int)(sizeof(bad) / sizeof(bad[0])));
    tcase_add_test(tc, test_decode_fixtures_valid);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(plan_suite());
}
