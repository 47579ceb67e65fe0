/* config_expand.c - ${VAR} and ${VAR:-default} expansion of scalar values.
 *
 * The rules are the shell's, kept small: ${NAME} is the variable's value and an error
 * when it is unset; ${NAME:-default} uses default when NAME is unset or empty; "$${"
 * is a literal "${"; a '$' followed by anything else is itself. The default runs to the
 * first '}' and is not expanded again, so no input can recurse. NAME is
 * [A-Za-z_][A-Za-z0-9_]*.
 *
 * A secret's scalar may hold the secret itself (in a default or a literal), so its
 * messages name the variable at most, never the text around it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"

static int config_var_name_ok(const char *s, size_t n)
{
    if (n == 0 || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') ||
                    s[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

int config_expand(config_ctx *c, const yaml_node_t *n, const char *path, int secret,
                  const char *s, char **out)
{
    config_buf b = {0};
    int rc = -1;
    char shown[160];

    *out = NULL;
    for (size_t i = 0; s[i];) {
        if (s[i] == '$' && s[i + 1] == '$' && s[i + 2] == '{') {
            config_buf_add(&b, "${", 2);
            i += 3;
            continue;
        }
        if (s[i] != '$' || s[i + 1] != '{') {
            config_buf_add(&b, s + i, 1);
            i++;
            continue;
        }
        const char *body = s + i + 2;
        const char *end = strchr(body, '}');
        if (!end) {
            if (secret) {
                config_error(c, n, path,
                             "unterminated \"${\" in a secret value; expected ${NAME} or "
                             "${NAME:-default}, or \"$${\" for a literal \"${\"");
            } else {
                config_show(shown, sizeof shown, s + i);
                config_error(c, n, path,
                             "unterminated \"${\" at %s; expected ${NAME} or "
                             "${NAME:-default}, or \"$${\" for a literal \"${\"",
                             shown);
            }
            goto out;
        }
        const char *dash = strstr(body, ":-");
        int has_default = dash && dash < end;
        size_t name_len = (size_t)((has_default ? dash : end) - body);
        if (!config_var_name_ok(body, name_len)) {
            if (secret) {
                config_error(c, n, path,
                             "bad variable name in \"${...}\" of a secret value; expected "
                             "${NAME} with NAME made of letters, digits and '_'");
            } else {
                char name[128];
                snprintf(name, sizeof name, "%.*s", (int)(name_len < 100 ? name_len : 100),
                         body);
                config_show(shown, sizeof shown, name);
                config_error(c, n, path,
                             "bad variable name %s in \"${...}\"; expected letters, digits "
                             "and '_', not starting with a digit",
                             shown);
            }
            goto out;
        }
        char name[256];
        if (name_len >= sizeof name) {
            config_error(c, n, path, "variable name longer than %zu characters; expected "
                                     "a shorter name", sizeof name - 1);
            goto out;
        }
        memcpy(name, body, name_len);
        name[name_len] = '\0';
        const char *val = getenv(name);
        if (has_default && (!val || !*val)) {
            config_buf_add(&b, dash + 2, (size_t)(end - (dash + 2)));
        } else if (val) {
            config_buf_str(&b, val);
        } else {
            config_error(c, n, path,
                         "environment variable %s is not set; expected it exported to "
                         "spool, or a default: ${%s:-default}",
                         name, name);
            goto out;
        }
        i = (size_t)(end + 1 - s);
    }
    *out = config_buf_take(&b);
    if (!*out) {
        config_nomem(c);
        goto out;
    }
    rc = 0;
out:
    config_buf_free(&b);
    return rc;
}
