/* Unit tests for backend/steering/luac.c: the LUA-record subset compiler. Tables of
 * accepted contents (with the compiled shape) and of refused contents (with
 * the reason and column). */
#include <arpa/inet.h>
#include <check.h>
#include <string.h>

#include "backend/steering/luac.h"
#include "common/buf.h"
#include "common/plan.h"
#include "unit.h"

static luac_prog_t *ok(const char *content)
{
    luac_prog_t *p = NULL;
    gs_err_t err = {{0}};
    int rc = luac_compile(content, &p, &err);
    ck_assert_msg(rc == 0, "refused: %s -> %s", content, err.text);
    return p;
}

/* Accepted contents: kind of the first branch, branch count, set count and
 * size of the first set. */
static const struct {
    const char *content;
    luac_sel_kind_t kind;
    size_t nbranches, nsets, nfirst;
} accepted[] = {
    {"A \"pickrandom({'192.0.2.1', '192.0.2.2'})\"", LUAC_PICKRANDOM, 1, 1, 2},
    {"A \"pickrandom({\\\"192.0.2.1\\\"})\"", LUAC_PICKRANDOM, 1, 1, 1},
    {"AAAA \"all({'2001:db8::1', '2001:DB8::2'})\"", LUAC_ALL, 1, 1, 2},
    {"A \"pickrandomsample(2, {'192.0.2.1','192.0.2.2','192.0.2.3'})\"", LUAC_PICKRANDOMSAMPLE, 1,
     1, 3},
    {"A \"pickhashed({'192.0.2.1','192.0.2.2'})\"", LUAC_PICKHASHED, 1, 1, 2},
    {"A \"pickwrandom({{10,'192.0.2.1'},{90,'192.0.2.2'}})\"", LUAC_PICKWRANDOM, 1, 1, 2},
    {"A \"pickwhashed({ {1, '192.0.2.1'}, {3, '192.0.2.2'} })\"", LUAC_PICKWHASHED, 1, 1, 2},
    {"A \"pickchashed({{1,'192.0.2.1'},{1,'192.0.2.2'}})\"", LUAC_PICKCHASHED, 1, 1, 2},
    {"A \"pickclosest({'192.0.2.1','198.51.100.1'})\"", LUAC_PICKCLOSEST, 1, 1, 2},
    {"A \"ifportup(443, {'192.0.2.1', '192.0.2.2'})\"", LUAC_IFPORTUP, 1, 1, 2},
    {"A \"ifportup(443, {{'192.0.2.1'}, {'192.0.2.2','192.0.2.3'}}, {selector='all', "
     "backupSelector='empty', timeout=1, interval=10, minimumFailures=3})\"",
     LUAC_IFPORTUP, 1, 2, 1},
    {"A \"ifurlup('https://www.example.com/health', {'192.0.2.1'}, {stringmatch='OK', "
     "httpcode=204, byteslimit=1000, useragent='x', headers={['X-A']='1'}})\"",
     LUAC_IFURLUP, 1, 1, 1},
    {"A \"view({{{'10.0.0.0/8'}, {'192.0.2.1'}}, {{'0.0.0.0/0', '::/0'}, {'192.0.2.2'}}})\"",
     LUAC_VIEW, 1, 0, 0},
    {"A \"steer('web')\"", LUAC_STEER, 1, 0, 0},
    {"A \"'192.0.2.7'\"", LUAC_STATIC, 1, 1, 1},
    {"A \";return {'192.0.2.7', '192.0.2.8'}\"", LUAC_STATIC, 1, 1, 2},
    {"CNAME \"pickrandom({'a.example.net', 'b.example.net.'})\"", LUAC_PICKRANDOM, 1, 1, 2},
    {"TXT \"pickrandom({'hello world', 'v=spf1 -all'})\"", LUAC_PICKRANDOM, 1, 1, 2},
    {"A \";if country('DE') then return '192.0.2.1' elseif continent({'EU','AF'}) then "
     "return pickrandom({'192.0.2.2'}) else return all({'192.0.2.3'}) end\"",
     LUAC_STATIC, 3, 1, 1},
    {"A \";if (country('de') or region('US-CA')) and not asnum({64500, 64501}) then return "
     "'192.0.2.1' end\"",
     LUAC_STATIC, 1, 1, 1},
    {"A \";if netmask({'10.0.0.0/8', '2001:db8::/32'}) then return '192.0.2.1' else return "
     "'192.0.2.2' end -- a comment\"",
     LUAC_STATIC, 2, 1, 1},
    {"A \"  pickrandom( { '192.0.2.1' , } )  \"", LUAC_PICKRANDOM, 1, 1, 1},
    {"A \"pickrandom({'192.0.2.1'})\" \"\"", LUAC_PICKRANDOM, 1, 1, 1},
    /* Lua long strings, as pdns's Lua reads them */
    {"A \"pickrandom({[[192.0.2.1]], [==[192.0.2.2]==]})\"", LUAC_PICKRANDOM, 1, 1, 2},
    {"A \"[[192.0.2.1]]\"", LUAC_STATIC, 1, 1, 1},
    {"A \"ifurlup('http://h.example/', {'192.0.2.1'}, {stringmatch=[[O]K]]})\"", LUAC_IFURLUP, 1, 1,
     1},
};

START_TEST(test_accepted)
{
    luac_prog_t *p = ok(accepted[_i].content);
    ck_assert_uint_eq(p->nbranches, accepted[_i].nbranches);
    ck_assert_int_eq(p->branches[0].sel.kind, accepted[_i].kind);
    ck_assert_uint_eq(p->branches[0].sel.nsets, accepted[_i].nsets);
    if (accepted[_i].nsets)
        ck_assert_uint_eq(p->branches[0].sel.sets[0].n, accepted[_i].nfirst);
    luac_free(p);
}
END_TEST

/* Compiled details: normalisation, options with defaults, predicates. */
START_TEST(test_details)
{
    luac_prog_t *p = ok("AAAA \"all({'2001:DB8:0::1'})\"");
    ck_assert_uint_eq(p->qtype, 28);
    ck_assert_str_eq(p->branches[0].sel.sets[0].items[0].value, "2001:db8::1");
    luac_free(p);

    p = ok("CNAME \"pickrandom({'WWW.Example.net'})\"");
    ck_assert_str_eq(p->branches[0].sel.sets[0].items[0].value, "www.example.net.");
    luac_free(p);

    p = ok("A \"ifportup(8080, {'192.0.2.1'})\"");
    const luac_sel_t *s = &p->branches[0].sel;
    ck_assert_uint_eq(s->port, 8080);
    ck_assert_int_eq(s->opts.selector, LUAC_PICK_RANDOM);
    ck_assert_int_eq(s->opts.backup, LUAC_PICK_RANDOM);
    ck_assert_uint_eq(s->opts.timeout_ms, 2000);
    ck_assert_uint_eq(s->opts.interval_ms, 5000);
    ck_assert_uint_eq(s->opts.min_failures, 1);
    luac_free(p);

    p = ok("A \"ifurlup('http://h.example/x', {'192.0.2.1'}, {selector='hashed', "
           "backupSelector='all', stringmatch='up', httpcode=204, headers={['X-K']='v'}})\"");
    s = &p->branches[0].sel;
    ck_assert_str_eq(s->url, "http://h.example/x");
    ck_assert_int_eq(s->opts.selector, LUAC_PICK_HASHED);
    ck_assert_int_eq(s->opts.backup, LUAC_PICK_ALL);
    ck_assert_str_eq(s->opts.stringmatch, "up");
    ck_assert_uint_eq(s->opts.httpcode, 204);
    ck_assert_uint_eq(s->opts.nheaders, 1);
    ck_assert_str_eq(s->opts.headers[0][0], "X-K");
    ck_assert_str_eq(s->opts.headers[0][1], "v");
    luac_free(p);

    p = ok("TXT \"[=[say 'hi' ]] ]=]\"");
    ck_assert_str_eq(p->branches[0].sel.sets[0].items[0].value, "\"say 'hi' ]] \"");
    luac_free(p);

    p = ok("A \"pickwrandom({{3,'192.0.2.1'},{7,'192.0.2.2'}})\"");
    ck_assert_uint_eq(p->branches[0].sel.sets[0].items[1].weight, 7);
    luac_free(p);

    p = ok("A \"view({{{'10.1.2.3/8'}, {'192.0.2.1'}}})\"");
    ck_assert_uint_eq(p->branches[0].sel.nrules, 1);
    ck_assert_uint_eq(p->branches[0].sel.rules[0].nets[0].len, 8);
    ck_assert_uint_eq(p->branches[0].sel.rules[0].nets[0].addr[1], 0); /* host bits cleared */
    luac_free(p);

    p = ok("A \";if (country('de') or continent('oc')) and not asnum(64500) then return "
           "'192.0.2.1' end\"");
    const luac_pred_t *c = p->branches[0].cond;
    ck_assert_int_eq(c->kind, LUAC_P_AND);
    ck_assert_int_eq(c->a->kind, LUAC_P_OR);
    ck_assert_str_eq(c->a->a->codes[0], "DE");
    ck_assert_str_eq(c->a->b->codes[0], "OC");
    ck_assert_int_eq(c->b->kind, LUAC_P_NOT);
    ck_assert_uint_eq(c->b->a->asns[0], 64500);
    luac_free(p);

    p = ok("A \"steer('eu-web.v2')\"");
    ck_assert_str_eq(p->branches[0].sel.policy, "eu-web.v2");
    ck_assert_str_eq(luac_sel_name(LUAC_IFURLUP), "ifurlup");
    luac_free(p);
}
END_TEST

/* Refused contents: the reason (a substring of the error). */
static const struct {
    const char *content, *why;
} refused[] = {
    {"MX \"pickrandom({'a'})\"", "TYPE A, AAAA, CNAME or TXT"},
    {"A pickrandom", "TYPE A, AAAA, CNAME or TXT"},
    {"A \"pickrandom({'192.0.2.1'})", "unterminated quoted code"},
    {"A \"\"", "column 1: expected a function call"},
    {"A \"pickrandom({[[192.0.2.1]=]})\"", "column 13: unfinished long string"},
    {"A \"pickrandom({[=[192.0.2.1]]})\"", "column 13: unfinished long string"},
    {"A \"os.execute('rm -rf /')\"", "column 1: variables are not supported (got 'os')"},
    {"A \"io.popen('x')\"", "variables are not supported"},
    {"A \"pickrandom(addrs)\"", "column 12: variables are not supported (got 'addrs')"},
    {"A \"dblookup('x', 1)\"", "function dblookup() is not in geosteer's LUA subset"},
    {"A \"createForward()\"", "not in geosteer's LUA subset"},
    {"A \";local t = {'192.0.2.1'} return pickrandom(t)\"", "expected 'return'"},
    {"A \";for i=1,3 do end\"", "expected 'return'"},
    {"A \"pickrandom({'192.0.2.' .. '1'})\"", "expected ',' or '}'"},
    {"A \"pickrandom({'192.0.2.1'}) .. 'x'\"", "unexpected text after the end"},
    {"A \"pickrandom({})\"", "non-empty table"},
    {"A \"pickrandom({'2001:db8::1'})\"", "column 13: '2001:db8::1' is not an IPv4 address"},
    {"AAAA \"all({'192.0.2.1'})\"", "is not an IPv6 address"},
    {"CNAME \"pickrandom({'not a name!'})\"", "is not a domain name"},
    {"CNAME \"ifportup(80, {'a.example'})\"", "use it in A or AAAA records"},
    {"A \"ifportup(0, {'192.0.2.1'})\"", "port must be a number from 1 to 65535"},
    {"A \"ifportup(443, {'192.0.2.1'}, {selector='first'})\"", "selector must be"},
    {"A \"ifportup(443, {'192.0.2.1'}, {backupSelector='nope'})\"", "backupSelector must be"},
    {"A \"ifportup(443, {'192.0.2.1'}, {stringmatch='x'})\"", "only for ifurlup"},
    {"A \"ifportup(443, {'192.0.2.1'}, {timeout=10})\"", "must be below the check interval"},
    {"A \"ifportup(443, {'192.0.2.1'}, {source='10.0.0.1'})\"", "not supported by geosteer"},
    {"A \"ifportup(443, {'192.0.2.1'}, {colour='red'})\"", "unknown option 'colour'"},
    {"A \"ifurlup('ftp://x/', {'192.0.2.1'})\"", "http:// or https:// URL"},
    {"A \"ifurlup('http://x/', {'192.0.2.1'}, {headers={['Bad Name']='v'}})\"", "option 'headers'"},
    {"A \"pickwrandom({{0,'192.0.2.1'}})\"", "weights are whole numbers from 1"},
    {"A \"pickwrandom({'192.0.2.1'})\"", "{weight, value} pair"},
    {"A \"pickrandomsample(0, {'192.0.2.1'})\"", "sample size"},
    {"A \"pickrandom({'192.0.2.1'}, {'192.0.2.2'})\"", "pickrandom() takes 1 argument, got 2"},
    {"A \"view({{{'10.0.0.0/33'}, {'192.0.2.1'}}})\"", "expected a network"},
    {"A \"steer('no spaces')\"", "policy name"},
    {"A \"country('DE')\"", "country() is a condition"},
    {"A \";if country('XX') then return '192.0.2.1' end\"", "not an ISO 3166-1 country code"},
    {"A \";if continent('EUR') then return '192.0.2.1' end\"", "not a continent code"},
    {"A \";if asnum(-1) then return '192.0.2.1' end\"", "AS numbers are whole numbers"},
    {"A \";if netmask({'x'}) then return '192.0.2.1' end\"", "expected a network"},
    {"A \";if country('DE') return '192.0.2.1' end\"", "expected 'then'"},
    {"A \";if country('DE') then return '192.0.2.1'\"", "expected 'elseif', 'else' or 'end'"},
    {"A \";if qname == 'x' then return '192.0.2.1' end\"", "variables are not supported"},
    {"A \";if geoiplookup('1.2.3.4', 1) then return '192.0.2.1' end\"",
     "not a condition geosteer knows"},
    {"A \"pickrandom({'192.0.2.1\\\\q'})\"", "escape '\\q' is not supported"},
    {"A \"pickrandom({{{{{{{{{{'a'}}}}}}}}}})\"", "nested deeper than 8 levels"},
    {"A \"pickrandom({'192.0.2.1')\"", "expected ',' or '}'"},
    {"A \"192.0.2.7\"", "column 1: expected a function call"},
    /* What the builtin, option and condition tables carry: arity ranges,
     * the record-type check before the arity, argument order, names. */
    {"CNAME \"pickclosest(1, 2)\"",
     "column 1: pickclosest() answers addresses: use it in A or AAAA records"},
    {"A \"ifportup(1)\"", "column 1: ifportup() takes 2 to 3 arguments, got 1"},
    {"A \"steer()\"", "column 1: steer() takes 1 argument, got 0"},
    {"A \"pickrandomsample({'192.0.2.1'}, 1)\"",
     "column 18: the sample size must be a whole number from 1 to 256"},
    {"TXT \"ifurlup('http://h/', {'x'})\"",
     "column 22: health-checked selection answers addresses: use it in A or AAAA records"},
    {"A \"ifurlup('http://h/', {{'192.0.2.1'}, '192.0.2.2'})\"",
     "column 38: expected a non-empty table of values like {'192.0.2.1', '192.0.2.2'}"},
    {"A \"pickwhashed({{1.5, '192.0.2.1'}})\"",
     "column 15: weights are whole numbers from 1 to 1000000, got 1.5"},
    {"A \"view('x')\"", "column 6: view() takes a table of {{networks}, {values}} rules"},
    {"A \"view({{'10.0.0.0/8'}})\"", "column 7: a view rule is {{networks}, {values}}"},
    {"A \"PickRandom({'192.0.2.1'})\"",
     "column 1: function PickRandom() is not in geosteer's LUA subset"},
    {"A \"values({'192.0.2.1'})\"", "column 1: function values() is not in geosteer's LUA subset"},
    {"A \"ifportup(1, {'192.0.2.1'}, 5)\"",
     "column 28: options must be a table like {selector='all'}"},
    {"A \"ifportup(1, {'192.0.2.1'}, {'all'})\"",
     "column 29: options are named: {name=value, ...}"},
    {"A \"ifportup(1, {'192.0.2.1'}, {interval=0.5})\"",
     "column 38: option 'interval' must be a number from 1 to 3600"},
    {"A \"ifportup(1, {'192.0.2.1'}, {httpcode=200})\"",
     "column 38: option 'httpcode' is only for ifurlup"},
    {"A \";if foo(1) then return '192.0.2.1' end\"",
     "column 5: foo() is not a condition geosteer knows (country, continent, region, asnum, "
     "netmask)"},
    {"A \";if region(1) then return '192.0.2.1' end\"",
     "column 12: region() takes a code or a table of codes"},
    {"A \";if region({1}) then return '192.0.2.1' end\"",
     "column 13: region() codes are short strings like 'DE'"},
    {"A \";if asnum('x') then return '192.0.2.1' end\"",
     "column 11: asnum() takes a number or a table of numbers"},
    {"A \";if country('DE', 'FR') then return '192.0.2.1' end\"",
     "column 5: country() takes 1 argument, got 2"},
    /* Control characters where the check plan refuses them (plan.c): one
     * such record made the probe refuse the whole plan and keep the old
     * one for every check. */
    {"A \"ifurlup('http://h/', {'192.0.2.1'}, {useragent='a\001b'})\"",
     "column 48: option 'useragent' must be printable text (it is sent as an HTTP header)"},
    {"A \"ifurlup('http://h/', {'192.0.2.1'}, {headers={['X']='b\177'}})\"",
     "column 53: option 'headers' must be printable text (it is sent as an HTTP header)"},
    {"A \"ifurlup('http://h/', {'192.0.2.1'}, {headers={['X\001']='b'}})\"",
     "column 54: option 'headers' must map names to strings"},
    {"A \"ifurlup('http://h/\001', {'192.0.2.1'})\"",
     "column 9: the URL must be an http:// or https:// URL"},
    {"A \"ifurlup('http://h\033.example/', {'192.0.2.1'})\"",
     "column 9: the URL must be an http:// or https:// URL"},
};

/* A repeated `headers` key: the last table counts, as in Lua. It used to
 * append to the count of the first into an array sized for the second:
 * writes past the allocation, and NULL header names that crashed the
 * plan's copy (plan_add). */
START_TEST(test_repeated_headers)
{
    luac_prog_t *p = ok("A \"ifurlup('http://h/', {'192.0.2.1'}, {headers={['A']='1', ['B']='2'}, "
                        "useragent='u', headers={['C']='3'}})\"");
    const luac_opts_t *o = &p->branches[0].sel.opts;
    ck_assert_uint_eq(o->nheaders, 1);
    ck_assert_str_eq(o->headers[0][0], "C");
    ck_assert_str_eq(o->headers[0][1], "3");
    plan_t plan = {0};
    ck_assert_uint_eq(luac_plan_checks(p, &plan, "t"), 1);
    ck_assert_uint_eq(plan.checks[0].nheaders, 2); /* C, then User-Agent */
    plan_free(&plan);
    luac_free(p);
}
END_TEST

/* Every check an accepted record makes is one the probe accepts: the plan
 * holding it survives plan_encode and plan_decode. */
START_TEST(test_plan_accepted)
{
    luac_prog_t *p = ok(accepted[_i].content);
    plan_t plan = {.max_in_flight = 8, .heartbeat_ms = 1000};
    luac_plan_checks(p, &plan, "t");
    plan_finish(&plan);
    buf_t b;
    buf_init(&b);
    plan_encode(&plan, &b);
    plan_t back;
    gs_err_t err = {{0}};
    ck_assert_msg(plan_decode(b.data, b.len, &back, &err) == 0, "%s: %s", accepted[_i].content,
                  err.text);
    ck_assert_uint_eq(back.n, plan.n);
    plan_free(&back);
    plan_free(&plan);
    buf_free(&b);
    luac_free(p);
}
END_TEST

/* An item's check id is 0 unless it is a health-checked address (luac.h):
 * `explain` lists the items with a non-zero id as health-checked
 * candidates. The ids of other items used to be whatever the arena held. */
START_TEST(test_check_ids)
{
    luac_prog_t *p = ok(accepted[_i].content);
    for (size_t b = 0; b < p->nbranches; b++) {
        const luac_sel_t *s = &p->branches[b].sel;
        bool checked = s->kind == LUAC_IFPORTUP || s->kind == LUAC_IFURLUP;
        for (size_t k = 0; k < s->nsets; k++)
            for (size_t i = 0; i < s->sets[k].n; i++)
                ck_assert_msg((s->sets[k].items[i].check != 0) == checked, "%s: set %zu item %zu",
                              accepted[_i].content, k, i);
        for (size_t r = 0; r < s->nrules; r++)
            for (size_t i = 0; i < s->rules[r].values.n; i++)
                ck_assert_uint_eq(s->rules[r].values.items[i].check, 0);
    }
    luac_free(p);
}
END_TEST

START_TEST(test_refused)
{
    luac_prog_t *p = NULL;
    gs_err_t err = {{0}};
    int rc = luac_compile(refused[_i].content, &p, &err);
    ck_assert_msg(rc == GS_EINVAL, "accepted: %s", refused[_i].content);
    ck_assert_ptr_null(p);
    ck_assert_msg(strstr(err.text, refused[_i].why), "%s: got '%s', want '%s'", refused[_i].content,
                  err.text, refused[_i].why);
    ck_assert_msg(strncmp(err.text, "LUA: ", 5) == 0, "%s", err.text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("luac");
    TCase *tc = tcase_create("compile");
    tcase_add_loop_test(tc, test_accepted, 0, sizeof(accepted) / sizeof(accepted[0]));
    tcase_add_test(tc, test_details);
    tcase_add_loop_test(tc, test_refused, 0, sizeof(refused) / sizeof(refused[0]));
    tcase_add_test(tc, test_repeated_headers);
    tcase_add_loop_test(tc, test_plan_accepted, 0, sizeof(accepted) / sizeof(accepted[0]));
    tcase_add_loop_test(tc, test_check_ids, 0, sizeof(accepted) / sizeof(accepted[0]));
    suite_add_tcase(s, tc);
    return unit_run(s);
}
