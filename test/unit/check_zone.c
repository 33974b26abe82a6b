/* Unit tests for backend/zones/zone.c and backend/zones/snap.c: the immutable zone image
 * (nodes, empty non-terminals, auth flags, prebuilt replies) and snapshot
 * publication with hazard slots. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "backend/dns/dname.h"
#include "backend/zones/records.h"
#include "backend/zones/snap.h"
#include "backend/zones/zone.h"
#include "test/unit/unit.h"

#define T(name) rr_type_find(name, strlen(name))

static zone_t *sample(int64_t id)
{
    zone_input_rec_t recs[] = {
        {"www.z.", T("A"), "192.0.2.1", 60, NULL},
        {"z.", T("SOA"), "ns1.z hostmaster.z 42 1 2 3 4", 300, NULL},
        {"z.", T("NS"), "ns1.z", 300, NULL},
        {"www.z.", T("AAAA"), "2001:db8::1", 60, NULL},
        {"a.b.c.z.", T("TXT"), "\"deep\"", 60, NULL},
        {"sub.z.", T("NS"), "ns.sub.z", 60, NULL},
        {"sub.z.", T("DS"), "1 8 2 AB", 60, NULL},
        {"ns.sub.z.", T("A"), "192.0.2.9", 60, NULL},
        {"dyn.z.", T("LUA"), "A \"pickrandom({'192.0.2.1'})\"", 60, NULL},
        {"www.z.", T("A"), "192.0.2.2", 60, NULL},
    };
    const char *vals[] = {"v1", "v2"};
    zone_input_meta_t meta[] = {{"X-TEST", vals, 2}};
    return zone_build(id, "z.", recs, sizeof(recs) / sizeof(recs[0]), meta, 1);
}

static const zone_node_t *find(const zone_t *z, const char *name)
{
    return zone_find(z, name, strlen(name), dname_hash(name, strlen(name)));
}

/* Parses a prebuilt reply and returns its result array (owned by *root). */
static json_t *reply_result(const zone_reply_t *r, json_t **root)
{
    json_error_t e;
    *root = json_loadb(r->json, r->len, 0, &e);
    ck_assert_ptr_nonnull(*root);
    return json_object_get(*root, "result");
}

START_TEST(test_nodes_and_ent)
{
    zone_t *z = sample(7);
    ck_assert_uint_eq(z->serial, 42);
    ck_assert_uint_eq(z->nrecords, 10);
    ck_assert_ptr_nonnull(find(z, "www.z."));
    ck_assert_ptr_null(find(z, "nope.z."));
    /* b.c.z. and c.z. are empty non-terminals; z. itself is not an ENT. */
    const zone_node_t *ent = find(z, "b.c.z.");
    ck_assert_ptr_nonnull(ent);
    ck_assert_uint_eq(ent->nrecs, 0);
    ck_assert_ptr_nonnull(find(z, "c.z."));
    json_t *root;
    json_t *res = reply_result(zone_node_reply(ent, "ANY", 3), &root);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(res, 0), "qtype")), "ENT");
    json_decref(root);
    ck_assert_ptr_null(zone_node_reply(ent, "A", 1));
    zone_free(z);
}
END_TEST

START_TEST(test_replies)
{
    zone_t *z = sample(7);
    const zone_node_t *www = find(z, "www.z.");
    json_t *root;
    json_t *res = reply_result(zone_node_reply(www, "ANY", 3), &root);
    ck_assert_uint_eq(json_array_size(res), 3);
    json_t *rec = json_array_get(res, 0);
    ck_assert(json_is_integer(json_object_get(rec, "ttl")));
    ck_assert_int_eq(json_integer_value(json_object_get(rec, "scopeMask")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(rec, "domain_id")), 7);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "qname")), "www.z.");
    json_decref(root);
    res = reply_result(zone_node_reply(www, "A", 1), &root);
    ck_assert_uint_eq(json_array_size(res), 2);
    json_decref(root);
    res = reply_result(zone_node_reply(www, "AAAA", 4), &root);
    ck_assert_uint_eq(json_array_size(res), 1);
    json_decref(root);
    ck_assert_ptr_null(zone_node_reply(www, "MX", 2));
    /* LUA records are never part of ANY; only an explicit LUA lookup sees them. */
    const zone_node_t *dyn = find(z, "dyn.z.");
    ck_assert_ptr_null(zone_node_reply(dyn, "ANY", 3));
    ck_assert_ptr_nonnull(zone_node_reply(dyn, "LUA", 3));
    zone_free(z);
}
END_TEST

START_TEST(test_auth)
{
    zone_t *z = sample(7);
    const zone_node_t *cut = find(z, "sub.z.");
    for (uint32_t i = 0; i < cut->nrecs; i++)
        ck_assert_int_eq(cut->recs[i].auth, cut->recs[i].type->code == 43); /* DS only */
    ck_assert(!find(z, "ns.sub.z.")->recs[0].auth);
    const zone_node_t *apex = find(z, "z.");
    for (uint32_t i = 0; i < apex->nrecs; i++)
        ck_assert(apex->recs[i].auth);
    ck_assert(find(z, "www.z.")->recs[0].auth);
    ck_assert_uint_eq(zone_meta_find(z, "X-TEST")->nvalues, 2);
    ck_assert_ptr_null(zone_meta_find(z, "X-NONE"));
    zone_free(z);
}
END_TEST

START_TEST(test_snapshot)
{
    snap_init();
    snap_slot_t *slot = snap_slot_get();
    ck_assert_ptr_nonnull(slot);
    const snap_t *s0 = snap_pin(slot);
    ck_assert_uint_eq(s0->nzones, 0);
    /* Publishing while pinned must leave the pinned snapshot intact. */
    snap_replace_zone(7, sample(7));
    ck_assert_uint_eq(s0->nzones, 0);
    snap_unpin(slot);
    const snap_t *s1 = snap_pin(slot);
    ck_assert_uint_eq(s1->nzones, 1);
    ck_assert_ptr_nonnull(snap_zone_by_id(s1, 7));
    ck_assert_ptr_null(snap_zone_by_id(s1, 8));
    ck_assert_ptr_nonnull(snap_zone_by_name(s1, "z.", 2));
    ck_assert_ptr_nonnull(snap_zone_for(s1, "a.b.z.", 6));
    ck_assert_ptr_null(snap_zone_for(s1, "other.", 6));
    snap_unpin(slot);
    snap_replace_zone(3, sample(3));
    snap_replace_zone(7, NULL);
    const snap_t *s2 = snap_pin(slot);
    ck_assert_uint_eq(s2->nzones, 1);
    ck_assert_int_eq(s2->zones[0]->id, 3);
    snap_unpin(slot);
    snap_slot_put(slot);
    snap_shutdown();
}
END_TEST

START_TEST(test_slots_exhaust)
{
    snap_init();
    static snap_slot_t *slots[SNAP_MAX_READERS];
    for (int i = 0; i < SNAP_MAX_READERS; i++)
        ck_assert_ptr_nonnull(slots[i] = snap_slot_get());
    ck_assert_ptr_null(snap_slot_get());
    for (int i = 0; i < SNAP_MAX_READERS; i++)
        snap_slot_put(slots[i]);
    snap_shutdown();
}
END_TEST

/* The one record check of writes and loads: LUA code is compiled there and
 * the program handed back; static records get none. */
START_TEST(test_rec_prepare)
{
    buf_t norm;
    buf_init(&norm);
    luac_prog_t *prog = (luac_prog_t *)1;
    gs_err_t err;
    ck_assert_int_eq(zone_rec_prepare(T("A"), " 192.0.2.1 ", &norm, &prog, &err), 0);
    ck_assert_ptr_null(prog);
    ck_assert_str_eq(norm.data, "192.0.2.1");
    buf_reset(&norm);
    ck_assert_int_eq(
        zone_rec_prepare(T("LUA"), "A \"ifportup(443, {'192.0.2.1'})\"", &norm, &prog, &err), 0);
    ck_assert_ptr_nonnull(prog);
    ck_assert_uint_eq(prog->qtype, 1);
    ck_assert_str_eq(norm.data, "A \"ifportup(443, {'192.0.2.1'})\"");
    luac_free(prog);
    const char *bad[] = {"BOGUS \"x\"", "A", "A \"nosuch()\"", "MX \"'x'\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        buf_reset(&norm);
        ck_assert_int_eq(zone_rec_prepare(T("LUA"), bad[i], &norm, &prog, &err), GS_EINVAL);
        ck_assert_ptr_null(prog);
        ck_assert_ptr_nonnull(strstr(err.text, "LUA"));
    }
    buf_free(&norm);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("zone");
    TCase *tc = tcase_create("zone_build");
    tcase_add_test(tc, test_nodes_and_ent);
    tcase_add_test(tc, test_replies);
    tcase_add_test(tc, test_auth);
    tcase_add_test(tc, test_rec_prepare);
    suite_add_tcase(s, tc);
    tc = tcase_create("snap");
    tcase_add_test(tc, test_snapshot);
    tcase_add_test(tc, test_slots_exhaust);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
