/* The schema of geosteer.json: one row per key of every object of the file
 * (settings and its geoip, probe and health objects, a monitor, an
 * endpoint, a pool, a policy), each carrying what is known about the key
 * without reading code: its type, the object types it is valid for, which
 * types require it, its default, its range and where the parsed value is
 * stored. A default or a bound of geosteer.json is written here and nowhere
 * else: cfg_load (config.c) reads scalar keys, checks them and fills their
 * defaults from these rows, and the code of keys with their own syntax
 * (arrays, references) takes its bounds from them too. doc/config.md is
 * held against these rows by test/config/check_doc.py.
 *
 * Rows of one object are consecutive and in the order the error messages
 * list the object's keys ("unknown key (expected ...)"). A few rows are
 * elements of a key rather than keys (CFG_ITEM_ELEMENT: "hash_prefix[0]",
 * "location[1]", "bias.*"): they carry the bounds and defaults of the
 * parts of an array or object value and are read by that key's code.
 *
 * The table is constant data; any thread may read it. */
#ifndef GS_STEERING_CONFIG_SCHEMA_H
#define GS_STEERING_CONFIG_SCHEMA_H

#include <stddef.h>

/* The objects of the file, the owner of a row. */
typedef enum {
    CFG_OBJ_SETTINGS, /* "settings", stored in cfg_t */
    CFG_OBJ_GEOIP,    /* "settings.geoip", stored in cfg_t */
    CFG_OBJ_PROBE,    /* "settings.probe", stored in cfg_t */
    CFG_OBJ_HEALTH,   /* "settings.health", stored in cfg_t */
    CFG_OBJ_DECLOG,   /* "settings.decision_log", stored in cfg_t */
    CFG_OBJ_MONITOR,  /* "monitors.*", stored in cfg_monitor_t; typed by cfg_monitor_type_t */
    CFG_OBJ_ENDPOINT, /* "endpoints.*", stored in cfg_endpoint_t */
    CFG_OBJ_POOL,     /* "pools.*", stored in cfg_pool_t */
    CFG_OBJ_POLICY,   /* "policies.*", stored in cfg_policy_t; typed by cfg_policy_type_t */
} cfg_obj_t;

typedef enum {
    CFG_INT,   /* JSON integer in min..max, stored as an unsigned integer of `size` bytes */
    CFG_NUM,   /* JSON number in min..max, stored as a double */
    CFG_BOOL,  /* JSON true or false, stored as a bool */
    CFG_STR,   /* string, stored as an owned char * (default def_text, or NULL) */
    CFG_PATH,  /* CFG_STR holding an absolute path */
    CFG_ENUM,  /* one of names[], stored as an int: values[i], or i without values */
    CFG_MODE,  /* octal permission string ("0660") in min..max, stored as a mode_t */
    CFG_OTHER, /* arrays, objects, references: read by the object's own code */
} cfg_kind_t;

/* cfg_item_t.flags */
#define CFG_ITEM_DEFAULT 0x01u  /* `def` (or def_text) is the default */
#define CFG_ITEM_RANGE 0x02u    /* min..max bound the value (CFG_OTHER: the number of items) */
#define CFG_ITEM_MIN_EXCL 0x04u /* the value must be > min, and has no upper bound of its own */
#define CFG_ITEM_ELEMENT 0x08u  /* a part of a key's value, not a key of the object */
#define CFG_ITEM_ONE_OF 0x10u   /* CFG_ENUM: errors say 'one of "a", "b"', not '"a" or "b"' */
#define CFG_ITEM_TYPE 0x20u     /* the object's "type" key: read before the other keys */

#define CFG_TYPES_ALL 0u        /* cfg_item_t.types: valid for every type */
#define CFG_REQUIRED_ALWAYS ~0u /* cfg_item_t.required: required whatever the type */

/* Handler numbers of keys whose value config.c reads with its own code
 * (cfg_item_t.id; 0 for the keys read by the rows alone). */
enum {
    CFG_ID_NONE,
    CFG_ID_GEOIP,
    CFG_ID_PROBE,
    CFG_ID_HEALTH,
    CFG_ID_STALE_RULE,
    CFG_ID_M_TYPE,
    CFG_ID_M_PATH,
    CFG_ID_M_HOST,
    CFG_ID_M_EXPECT,
    CFG_ID_M_BODY,
    CFG_ID_M_HEADERS,
    CFG_ID_M_CA_FILE,
    CFG_ID_E_A,
    CFG_ID_E_AAAA,
    CFG_ID_E_CNAME,
    CFG_ID_E_LOCATION,
    CFG_ID_E_MONITOR,
    CFG_ID_E_PROBE,
    CFG_ID_P_ENDPOINTS,
    CFG_ID_P_FALLBACK,
    CFG_ID_Y_TYPE,
    CFG_ID_Y_ALL_DOWN,
    CFG_ID_Y_POOL,
    CFG_ID_Y_POOLS,
    CFG_ID_Y_HASH_PREFIX,
    CFG_ID_Y_RULES,
    CFG_ID_Y_DEFAULT,
    CFG_ID_Y_BIAS,
    CFG_ID_DECLOG,
    CFG_ID_DL_TARGET,
};

typedef struct {
    const char *path; /* JSON path as doc/config.md names it, '*' for an object's name:
                         "settings.probe.max_in_flight", "monitors.*.rise",
                         "policies.*.hash_prefix[0]" */
    cfg_obj_t obj;
    cfg_kind_t kind;
    unsigned flags;     /* CFG_ITEM_* */
    unsigned types;     /* bit (1u << type) per object type the key is valid for; 0: every type */
    unsigned required;  /* bit per type that must set the key; CFG_REQUIRED_ALWAYS; 0: optional */
    double min, max;    /* with CFG_ITEM_RANGE (max unused with CFG_ITEM_MIN_EXCL) */
    double def;         /* with CFG_ITEM_DEFAULT: the value (CFG_ENUM: the index into names) */
    unsigned alt_types; /* types whose default is def_alt instead of def */
    double def_alt;
    const char *def_text;       /* CFG_STR/CFG_PATH default (with CFG_ITEM_DEFAULT), or NULL */
    const char *const *names;   /* CFG_ENUM: the values as written, NULL-terminated */
    const int *values;          /* CFG_ENUM: stored value per name, or NULL (the index) */
    int (*parse)(const char *); /* CFG_ENUM: reads a name (may accept aliases), -1 if unknown;
                                   NULL: names[] and values[] */
    const char *unit;           /* "seconds", "km", or NULL */
    size_t off;                 /* where the value is stored in the object's struct ... */
    size_t size;                /* ... and its size; 0: not stored by the rows */
    int id;                     /* CFG_ID_*: read by config.c's own code */
} cfg_item_t;

/* Every row, objects in the order of cfg_obj_t, keys in message order. */
extern const cfg_item_t cfg_items[];
extern const size_t cfg_nitems;

/* Names of the types of typed objects, as written in the file,
 * NULL-terminated and indexed by cfg_monitor_type_t / cfg_policy_type_t. */
extern const char *const cfg_monitor_type_names[];
extern const char *const cfg_policy_type_names[];

/* The type names of `obj` (as above), or NULL for untyped objects. */
const char *const *cfg_obj_type_names(cfg_obj_t obj);

/* The row with `path` ("monitors.*.interval"), or NULL. */
const cfg_item_t *cfg_item_find(const char *path);

/* The key of `item`: the last component of its path ("interval"). */
const char *cfg_item_key(const cfg_item_t *item);

/* True when `item` applies to objects of `type` (-1: type unknown, any key
 * of the object is accepted). */
static inline int cfg_item_valid_for(const cfg_item_t *item, int type)
{
    return item->types == 0 || type < 0 || (item->types & (1u << type));
}

#endif
