/* gs_config_schema: prints the schema rows of geosteer.json
 * (backend/steering/config_schema.h), one per line, for
 * test/config/check_doc.py to hold doc/config.md against. Columns,
 * tab-separated, "-" for none:
 *
 *   path kind types required default min max unit names
 *
 * types and required: "*" (every type), "always", or type names separated by ",";
 * default: the value as the file writes it ("80", "0.1", "0660", "info",
 * "/run/geosteer/backend.sock"), with ",TYPE=VALUE" for types whose
 * default differs; min with CFG_ITEM_MIN_EXCL is ">MIN" (max then "-"). */
#include <stdio.h>
#include <string.h>

#include "backend/steering/config_schema.h"

static const char *const kind_names[] = {"int",  "number", "bool", "string",
                                         "path", "enum",   "mode", "other"};

static void number(const cfg_item_t *it, double v)
{
    if (it->kind == CFG_MODE)
        printf("%04o", (unsigned)v);
    else
        printf("%.15g", v);
}

/* Type names of the bits in `mask`, comma-separated; `all` when every type. */
static void type_list(const cfg_item_t *it, unsigned mask, const char *all)
{
    const char *const *names = cfg_obj_type_names(it->obj);
    if (!names || mask == 0 || mask == CFG_REQUIRED_ALWAYS) {
        fputs(all, stdout);
        return;
    }
    int n = 0;
    for (int t = 0; names[t]; t++)
        if (mask & (1u << t))
            printf("%s%s", n++ ? "," : "", names[t]);
}

int main(void)
{
    for (size_t i = 0; i < cfg_nitems; i++) {
        const cfg_item_t *it = &cfg_items[i];
        printf("%s\t%s\t", it->path, kind_names[it->kind]);
        type_list(it, it->types, "*");
        putchar('\t');
        if (it->required)
            type_list(it, it->required, "always");
        else
            putchar('-');
        putchar('\t');
        if (!(it->flags & CFG_ITEM_DEFAULT)) {
            putchar('-');
        } else if (it->kind == CFG_BOOL) {
            fputs(it->def ? "true" : "false", stdout);
        } else if (it->kind == CFG_ENUM) {
            fputs(it->names[(int)it->def], stdout);
        } else if (it->kind == CFG_INT || it->kind == CFG_NUM || it->kind == CFG_MODE) {
            number(it, it->def);
            const char *const *names = cfg_obj_type_names(it->obj);
            for (int t = 0; names && names[t]; t++)
                if (it->alt_types & (1u << t)) {
                    printf(",%s=", names[t]);
                    number(it, it->def_alt);
                }
        } else {
            fputs(it->def_text ? it->def_text : "-", stdout);
        }
        putchar('\t');
        if (!(it->flags & CFG_ITEM_RANGE)) {
            fputs("-\t-", stdout);
        } else if (it->flags & CFG_ITEM_MIN_EXCL) {
            putchar('>');
            number(it, it->min);
            fputs("\t-", stdout);
        } else {
            number(it, it->min);
            putchar('\t');
            number(it, it->max);
        }
        printf("\t%s\t", it->unit ? it->unit : "-");
        for (int n = 0; it->names && it->names[n]; n++)
            printf("%s%s", n ? "," : "", it->names[n]);
        puts(it->names ? "" : "-");
    }
    return 0;
}
