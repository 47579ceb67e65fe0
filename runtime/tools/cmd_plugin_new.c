/* cmd_plugin_new.c - spool plugin new: a ready-to-build plugin project outside the tree.
 *
 * `spool plugin new NAME --kind source|sink|transform [--dir DIR]` writes DIR (default
 * ./NAME) with a CMakeLists.txt that finds the installed SDK (find_package(spool-sdk)),
 * the plugin's source, a test that runs it under the plugin test kit, a pipeline to
 * run it in, and a README. The project builds and its test passes as written: the
 * integration test tests/integration/sdk.sh builds a fresh one against an installed SDK.
 *
 * The templates are C strings below, so that the binary needs no data files. In them,
 * @NAME@ is the plugin's name, @IDENT@ the same as a C identifier ('-' becomes '_'),
 * @KIND@ its kind and @PREFIX@ the prefix spool is installed under. Nothing is
 * overwritten: an existing DIR is refused, and every file is created exclusively.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/tools.h"

#define NEW_NAME_MAX 64

static const char usage_plugin[] =
    "usage: spool plugin new NAME --kind source|sink|transform [--dir DIR]\n"
    "\n"
    "Writes a plugin project into DIR (default ./NAME), ready to build against the\n"
    "installed spool SDK: CMakeLists.txt, src/NAME.c, tests/test_NAME.c (a test with the\n"
    "plugin test kit), pipeline.yaml and README.md. NAME is what pipelines call the\n"
    "connector: 1 to 64 characters from a-z, 0-9, '_' and '-', starting with a letter.\n"
    "DIR must not exist yet.\n"
    "\n"
    "Then: cmake -S DIR -B DIR/build && cmake --build DIR/build &&\n"
    "      (cd DIR/build && ctest --output-on-failure)\n";

static const char tmpl_cmake[] =
    "# CMakeLists.txt - the @NAME@ spool plugin (a @KIND@), built outside spool's tree\n"
    "# against an installed spool SDK: find_package(spool-sdk) finds its headers, the test\n"
    "# kit and the two helpers used below.\n"
    "#\n"
    "#   cmake -S . -B build -DCMAKE_PREFIX_PATH=@PREFIX@\n"
    "#   cmake --build build\n"
    "#   (cd build && ctest --output-on-failure)           the kit test\n"
    "#   cmake --install build --prefix @PREFIX@     installs lib/spool/plugins/@NAME@.so\n"
    "cmake_minimum_required(VERSION 3.18)\n"
    "project(@NAME@ VERSION 0.1.0 LANGUAGES C)\n"
    "set(CMAKE_C_STANDARD 11)\n"
    "find_package(spool-sdk 0.1 REQUIRED)\n"
    "enable_testing()\n"
    "# Callbacks need not use every parameter the ABI passes them.\n"
    "add_compile_options(-Wall -Wextra -Wno-unused-parameter)\n"
    "\n"
    "# @NAME@.so: hidden visibility, linked with --no-undefined, installed where spool looks.\n"
    "spool_add_plugin(@NAME@ SOURCES src/@NAME@.c)\n"
    "\n"
    "# The unit test runs the plugin under the kit (spool/kit.h), no worker needed.\n"
    "spool_add_kit_test(test_@IDENT@ SOURCES tests/test_@NAME@.c PLUGIN @NAME@)\n";

static const char tmpl_source[] =
    "/* @NAME@.c - a spool source plugin.\n"
    " *\n"
    " * Emits `count` records, {\"n\":0} to {\"n\":COUNT-1}, `batch` per poll(), then says\n"
    " * SPOOL_DONE. The position stored with each record is the next n, in decimal: after a\n"
    " * crash, open() reads the last committed one and resumes right after it. Replace the\n"
    " * counting with reading your system, and keep the position exact: it is what makes\n"
    " * the source resume without losing or repeating a record.\n"
    " */\n"
    "#define SPOOL_REQUIRE_ABI 1             /* the build fails on headers of another ABI */\n"
    "#include <spool/plugin.h>\n"
    "\n"
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "#include <string.h>\n"
    "\n"
    "static const spool_host *host;\n"
    "\n"
    "static const spool_option @IDENT@_options[] = {\n"
    "    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = \"count\", .default_value = \"10\",\n"
    "     .min = 0, .max = 1000000000, .doc = \"How many records to emit in all.\"},\n"
    "    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_INT, .name = \"batch\", .default_value = \"100\",\n"
    "     .min = 1, .max = 100000, .doc = \"Records per poll().\"},\n"
    "    {.name = NULL},\n"
    "};\n"
    "\n"
    "typedef struct @IDENT@_state {\n"
    "    long long next, count, batch;\n"
    "} @IDENT@_state;\n"
    "\n"
    "static spool_rc @IDENT@_open(spool_task *t, void **state)\n"
    "{\n"
    "    const void *pos;\n"
    "    size_t len;\n"
    "    @IDENT@_state *s = calloc(1, sizeof(*s));\n"
    "    if (s == NULL)\n"
    "        return SPOOL_ENOMEM;\n"
    "    *state = s;\n"
    "    s->count = host->opt_int(t, \"count\");\n"
    "    s->batch = host->opt_int(t, \"batch\");\n"
    "    host->source_position(t, &pos, &len);   /* the last committed position, if any */\n"
    "    if (len > 0) {\n"
    "        char text[24];\n"
    "        if (len >= sizeof(text)) {\n"
    "            host->set_error(t, \"stored position of %zu bytes is not a number\", len);\n"
    "            return SPOOL_ERR;\n"
    "        }\n"
    "        memcpy(text, pos, len);\n"
    "        text[len] = '\\0';\n"
    "        s->next = strtoll(text, NULL, 10);\n"
    "    }\n"
    "    return SPOOL_OK;\n"
    "}\n"
    "\n"
    "static void @IDENT@_close(spool_task *t, void *state)\n"
    "{\n"
    "    free(state);\n"
    "}\n"
    "\n"
    "static spool_rc @IDENT@_poll(spool_task *t, void *state, int timeout_ms)\n"
    "{\n"
    "    @IDENT@_state *s = state;\n"
    "    for (long long i = 0; i < s->batch && s->next < s->count; i++) {\n"
    "        char value[64], pos[24];\n"
    "        int n = snprintf(value, sizeof(value), \"{\\\"n\\\":%lld}\", s->next);\n"
    "        int pn = snprintf(pos, sizeof(pos), \"%lld\", s->next + 1);\n"
    "        spool_record rec = {.struct_size = sizeof(rec), .value = value,\n"
    "                            .value_len = (size_t)n, .partition = -1};\n"
    "        spool_rc rc = host->emit(t, &rec, pos, (size_t)pn);    /* copies rec and pos */\n"
    "        if (rc == SPOOL_ESTOP)\n"
    "            return SPOOL_OK;                 /* stopping: this record was not taken */\n"
    "        if (rc != SPOOL_OK)\n"
    "            return rc;\n"
    "        s->next++;\n"
    "    }\n"
    "    return s->next >= s->count ? SPOOL_DONE : SPOOL_OK;\n"
    "}\n"
    "\n"
    "static const spool_plugin @IDENT@_plugin = {\n"
    "    .struct_size = sizeof(spool_plugin), .abi_version = SPOOL_ABI_VERSION,\n"
    "    .name = \"@NAME@\", .version = \"0.1.0\",\n"
    "    .description = \"@NAME@: a source (describe it in one line).\",\n"
    "    .kind = SPOOL_KIND_SOURCE, .options = @IDENT@_options,\n"
    "    .open = @IDENT@_open, .close = @IDENT@_close, .poll = @IDENT@_poll,\n"
    "};\n"
    "\n"
    "SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *h)\n"
    "{\n"
    "    host = h;\n"
    "    return &@IDENT@_plugin;\n"
    "}\n";

/* What every scaffolded kit test starts with: the kit handle and a CHECK() that names the
 * kit's last error; main() loading the plugin file ctest passes. */
#define TMPL_KIT_CHECK \
    "static spool_kit *k;\n" \
    "\n" \
    "#define CHECK(cond) \\\n" \
    "    do { if (!(cond)) { fprintf(stderr, \"%s:%d: CHECK(%s) failed: %s\\n\", __FILE__, \\\n" \
    "                                __LINE__, #cond, spool_kit_error(k)); exit(1); } } while (0)\n"

#define TMPL_KIT_MAIN \
    "int main(int argc, char **argv)\n" \
    "{\n" \
    "    char err[1024];\n" \
    "    if (argc != 2 || (k = spool_kit_load(argv[1], err, sizeof(err))) == NULL) {\n" \
    "        fprintf(stderr, \"cannot load the plugin: %s\\n\", argc == 2 ? err : \"no path given\");\n" \
    "        return 1;\n" \
    "    }\n"

static const char tmpl_source_test[] =
    "/* test_@NAME@.c - the @NAME@ source under the spool test kit: every record once, across\n"
    " * a crash. Run by ctest with the plugin file as its argument. */\n"
    "#include <spool/kit.h>\n"
    "\n"
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "#include <string.h>\n"
    "\n"
    TMPL_KIT_CHECK
    "\n"
    TMPL_KIT_MAIN
    "    CHECK(spool_kit_option(k, \"count\")->type == SPOOL_OPT_INT);\n"
    "    CHECK(spool_kit_set(k, \"count\", \"250\") == SPOOL_OK);\n"
    "    CHECK(spool_kit_open(k) == SPOOL_OK);\n"
    "\n"
    "    /* One committed poll, one that a crash loses. */\n"
    "    CHECK(spool_kit_poll(k, 100) == SPOOL_OK);\n"
    "    CHECK(spool_kit_commit(k) == SPOOL_OK);\n"
    "    CHECK(spool_kit_poll(k, 100) == SPOOL_OK);\n"
    "    spool_kit_crash(k);\n"
    "    CHECK(spool_kit_committed_count(k) == 100);\n"
    "\n"
    "    /* Restarted, it resumes after the last committed record. */\n"
    "    CHECK(spool_kit_open(k) == SPOOL_OK);\n"
    "    CHECK(spool_kit_run_source(k, 100, 100) == SPOOL_OK);\n"
    "    CHECK(spool_kit_committed_count(k) == 250);\n"
    "    for (size_t i = 0; i < 250; i++) {\n"
    "        char want[64];\n"
    "        int n = snprintf(want, sizeof(want), \"{\\\"n\\\":%zu}\", i);\n"
    "        const spool_record *r = spool_kit_record(k, i);\n"
    "        CHECK(r->value_len == (size_t)n && memcmp(r->value, want, (size_t)n) == 0);\n"
    "    }\n"
    "    CHECK(spool_kit_violations(k) == 0);\n"
    "    spool_kit_free(k);\n"
    "    printf(\"@NAME@: 250 records, each once across a crash\\n\");\n"
    "    return 0;\n"
    "}\n";

static const char tmpl_sink[] =
    "/* @NAME@.c - a spool sink plugin.\n"
    " *\n"
    " * Appends one line per record to the file `path`: \"TOPIC/PARTITION/OFFSET<TAB>VALUE\".\n"
    " * It declares SPOOL_DELIVERY_IDEMPOTENT: flush() makes the lines durable and the runtime\n"
    " * then checkpoints; after a crash, records since the last checkpoint come again, and\n"
    " * TOPIC/PARTITION/OFFSET lets a reader drop the repeats (at least once). For exactly\n"
    " * once, make it resumable or transactional: see the delivery levels in docs/sdk.md.\n"
    " */\n"
    "#define SPOOL_REQUIRE_ABI 1             /* the build fails on headers of another ABI */\n"
    "#include <spool/plugin.h>\n"
    "\n"
    "#include <errno.h>\n"
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "#include <string.h>\n"
    "#include <unistd.h>\n"
    "\n"
    "static const spool_host *host;\n"
    "\n"
    "static const spool_option @IDENT@_options[] = {\n"
    "    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = \"path\",\n"
    "     .flags = SPOOL_OPT_REQUIRED, .doc = \"The file the records are appended to.\"},\n"
    "    {.name = NULL},\n"
    "};\n"
    "\n"
    "typedef struct @IDENT@_state {\n"
    "    FILE *out;\n"
    "    const char *path;                  /* the host's string: valid until close() */\n"
    "} @IDENT@_state;\n"
    "\n"
    "static spool_rc @IDENT@_open(spool_task *t, void **state)\n"
    "{\n"
    "    @IDENT@_state *s = calloc(1, sizeof(*s));\n"
    "    if (s == NULL)\n"
    "        return SPOOL_ENOMEM;\n"
    "    *state = s;\n"
    "    s->path = host->opt_string(t, \"path\");\n"
    "    s->out = fopen(s->path, \"a\");\n"
    "    if (s->out == NULL) {\n"
    "        host->set_error(t, \"cannot open %s: %s\", s->path, strerror(errno));\n"
    "        return SPOOL_RETRY;            /* transient, perhaps: the runtime backs off */\n"
    "    }\n"
    "    return SPOOL_OK;\n"
    "}\n"
    "\n"
    "static void @IDENT@_close(spool_task *t, void *state)\n"
    "{\n"
    "    @IDENT@_state *s = state;\n"
    "    if (s == NULL)\n"
    "        return;\n"
    "    if (s->out != NULL)\n"
    "        fclose(s->out);\n"
    "    free(s);\n"
    "}\n"
    "\n"
    "static spool_rc @IDENT@_put(spool_task *t, void *state, const spool_record *const *recs,\n"
    "                            size_t n)\n"
    "{\n"
    "    @IDENT@_state *s = state;\n"
    "    for (size_t i = 0; i < n; i++) {       /* records are borrowed: copy what you keep */\n"
    "        const spool_record *r = recs[i];\n"
    "        fprintf(s->out, \"%s/%d/%lld\\t\", r->topic, (int)r->partition, (long long)r->offset);\n"
    "        fwrite(r->value != NULL ? r->value : \"\", 1, r->value_len, s->out);\n"
    "        fputc('\\n', s->out);\n"
    "    }\n"
    "    return SPOOL_OK;\n"
    "}\n"
    "\n"
    "static spool_rc @IDENT@_flush(spool_task *t, void *state)\n"
    "{\n"
    "    @IDENT@_state *s = state;\n"
    "    if (fflush(s->out) != 0 || fsync(fileno(s->out)) != 0) {\n"
    "        host->set_error(t, \"cannot write %s: %s\", s->path, strerror(errno));\n"
    "        return SPOOL_ERR;\n"
    "    }\n"
    "    return SPOOL_OK;                   /* durable: the runtime may now checkpoint */\n"
    "}\n"
    "\n"
    "static const spool_plugin @IDENT@_plugin = {\n"
    "    .struct_size = sizeof(spool_plugin), .abi_version = SPOOL_ABI_VERSION,\n"
    "    .name = \"@NAME@\", .version = \"0.1.0\",\n"
    "    .description = \"@NAME@: a sink (describe it in one line).\",\n"
    "    .kind = SPOOL_KIND_SINK, .delivery = SPOOL_DELIVERY_IDEMPOTENT,\n"
    "    .options = @IDENT@_options,\n"
    "    .open = @IDENT@_open, .close = @IDENT@_close, .put = @IDENT@_put,\n"
    "    .flush = @IDENT@_flush,\n"
    "};\n"
    "\n"
    "SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *h)\n"
    "{\n"
    "    host = h;\n"
    "    return &@IDENT@_plugin;\n"
    "}\n";

static const char tmpl_sink_test[] =
    "/* test_@NAME@.c - the @NAME@ sink under the spool test kit: at least once across a\n"
    " * crash. Run by ctest with the plugin file as its argument. */\n"
    "#include <spool/kit.h>\n"
    "\n"
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "#include <string.h>\n"
    "#include <unistd.h>\n"
    "\n"
    TMPL_KIT_CHECK
    "\n"
    "static void put_range(int from, int to)\n"
    "{\n"
    "    for (int i = from; i < to; i++) {\n"
    "        char value[32];\n"
    "        snprintf(value, sizeof(value), \"record %d\", i);\n"
    "        CHECK(spool_kit_put_value(k, \"events\", 0, value) == SPOOL_OK);\n"
    "    }\n"
    "}\n"
    "\n"
    "int main(int argc, char **argv)\n"
    "{\n"
    "    char err[1024], path[] = \"/tmp/@IDENT@-test-XXXXXX\", line[256];\n"
    "    int seen[10] = {0};\n"
    "    if (argc != 2 || (k = spool_kit_load(argv[1], err, sizeof(err))) == NULL) {\n"
    "        fprintf(stderr, \"cannot load the plugin: %s\\n\", argc == 2 ? err : \"no path given\");\n"
    "        return 1;\n"
    "    }\n"
    "    int fd = mkstemp(path);\n"
    "    CHECK(fd >= 0);\n"
    "    close(fd);\n"
    "    CHECK(spool_kit_open(k) == SPOOL_EINVAL);            /* path is required */\n"
    "    CHECK(spool_kit_set(k, \"path\", path) == SPOOL_OK);\n"
    "    CHECK(spool_kit_open(k) == SPOOL_OK);\n"
    "    put_range(0, 6);\n"
    "    CHECK(spool_kit_flush(k) == SPOOL_OK);                /* checkpoint: offset 6 next */\n"
    "    put_range(6, 8);\n"
    "    spool_kit_crash(k);\n"
    "\n"
    "    /* Restarted from the checkpoint: records 6 and 7 come again. */\n"
    "    CHECK(spool_kit_open(k) == SPOOL_OK);\n"
    "    CHECK(spool_kit_next_offset(k, \"events\", 0) == 6);\n"
    "    put_range(6, 10);\n"
    "    CHECK(spool_kit_flush(k) == SPOOL_OK);\n"
    "    spool_kit_close(k);\n"
    "\n"
    "    /* At least once: every offset is in the file (6 and 7 perhaps twice). */\n"
    "    FILE *f = fopen(path, \"r\");\n"
    "    CHECK(f != NULL);\n"
    "    while (fgets(line, sizeof(line), f) != NULL) {\n"
    "        int off = -1;\n"
    "        CHECK(sscanf(line, \"events/0/%d\", &off) == 1 && off >= 0 && off < 10);\n"
    "        seen[off] = 1;\n"
    "    }\n"
    "    fclose(f);\n"
    "    unlink(path);\n"
    "    for (int i = 0; i < 10; i++)\n"
    "        CHECK(seen[i]);\n"
    "    CHECK(spool_kit_violations(k) == 0);\n"
    "    spool_kit_free(k);\n"
    "    printf(\"@NAME@: every record at least once across a crash\\n\");\n"
    "    return 0;\n"
    "}\n";

static const char tmpl_transform[] =
    "/* @NAME@.c - a spool transform plugin.\n"
    " *\n"
    " * Puts `prefix` in front of each record's value. A transform gets each record borrowed,\n"
    " * passes on zero or more records derived from it with host->emit() (nothing: the record\n"
    " * is dropped) and keeps nothing: emit() copies, so the new value may live on the stack.\n"
    " */\n"
    "#define SPOOL_REQUIRE_ABI 1             /* the build fails on headers of another ABI */\n"
    "#include <spool/plugin.h>\n"
    "\n"
    "#include <stdlib.h>\n"
    "#include <string.h>\n"
    "\n"
    "static const spool_host *host;\n"
    "\n"
    "static const spool_option @IDENT@_options[] = {\n"
    "    {SPOOL_OPTION_INIT, .type = SPOOL_OPT_STRING, .name = \"prefix\", .default_value = \"@NAME@: \",\n"
    "     .doc = \"Text put in front of each value.\"},\n"
    "    {.name = NULL},\n"
    "};\n"
    "\n"
    "typedef struct @IDENT@_state {\n"
    "    const char *prefix;                /* the host's string: valid until close() */\n"
    "    size_t prefix_len;\n"
    "} @IDENT@_state;\n"
    "\n"
    "static spool_rc @IDENT@_open(spool_task *t, void **state)\n"
    "{\n"
    "    @IDENT@_state *s = calloc(1, sizeof(*s));\n"
    "    if (s == NULL)\n"
    "        return SPOOL_ENOMEM;\n"
    "    *state = s;\n"
    "    s->prefix = host->opt_string(t, \"prefix\");\n"
    "    s->prefix_len = strlen(s->prefix);\n"
    "    return SPOOL_OK;\n"
    "}\n"
    "\n"
    "static void @IDENT@_close(spool_task *t, void *state)\n"
    "{\n"
    "    free(state);\n"
    "}\n"
    "\n"
    "static spool_rc @IDENT@_transform(spool_task *t, void *state, const spool_record *rec)\n"
    "{\n"
    "    @IDENT@_state *s = state;\n"
    "    size_t n = s->prefix_len + rec->value_len;\n"
    "    char *value = malloc(n > 0 ? n : 1);\n"
    "    if (value == NULL)\n"
    "        return SPOOL_ENOMEM;\n"
    "    memcpy(value, s->prefix, s->prefix_len);\n"
    "    if (rec->value_len > 0)\n"
    "        memcpy(value + s->prefix_len, rec->value, rec->value_len);\n"
    "    spool_record out = *rec;                  /* key, headers, timestamp: unchanged */\n"
    "    out.struct_size = sizeof(out);\n"
    "    out.value = value;\n"
    "    out.value_len = n;\n"
    "    spool_rc rc = host->emit(t, &out, NULL, 0);\n"
    "    free(value);\n"
    "    return rc;\n"
    "}\n"
    "\n"
    "static const spool_plugin @IDENT@_plugin = {\n"
    "    .struct_size = sizeof(spool_plugin), .abi_version = SPOOL_ABI_VERSION,\n"
    "    .name = \"@NAME@\", .version = \"0.1.0\",\n"
    "    .description = \"@NAME@: a transform (describe it in one line).\",\n"
    "    .kind = SPOOL_KIND_TRANSFORM, .options = @IDENT@_options,\n"
    "    .open = @IDENT@_open, .close = @IDENT@_close, .transform = @IDENT@_transform,\n"
    "};\n"
    "\n"
    "SPOOL_EXPORT const spool_plugin *spool_plugin_entry(const spool_host *h)\n"
    "{\n"
    "    host = h;\n"
    "    return &@IDENT@_plugin;\n"
    "}\n";

static const char tmpl_transform_test[] =
    "/* test_@NAME@.c - the @NAME@ transform under the spool test kit. Run by ctest with\n"
    " * the plugin file as its argument. */\n"
    "#include <spool/kit.h>\n"
    "\n"
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "#include <string.h>\n"
    "\n"
    TMPL_KIT_CHECK
    "\n"
    TMPL_KIT_MAIN
    "    CHECK(strcmp(spool_kit_option(k, \"prefix\")->default_value, \"@NAME@: \") == 0);\n"
    "    CHECK(spool_kit_set(k, \"prefix\", \"> \") == SPOOL_OK);\n"
    "    CHECK(spool_kit_open(k) == SPOOL_OK);\n"
    "    spool_record in = {.struct_size = sizeof(in), .key = \"k\", .key_len = 1,\n"
    "                       .value = \"hello\", .value_len = 5, .topic = \"events\"};\n"
    "    CHECK(spool_kit_transform(k, &in) == SPOOL_OK);\n"
    "    CHECK(spool_kit_record_count(k) == 1);\n"
    "    const spool_record *out = spool_kit_record(k, 0);\n"
    "    CHECK(out->value_len == 7 && memcmp(out->value, \"> hello\", 7) == 0);\n"
    "    CHECK(out->key_len == 1 && memcmp(out->key, \"k\", 1) == 0);\n"
    "    CHECK(spool_kit_violations(k) == 0);\n"
    "    spool_kit_free(k);\n"
    "    printf(\"@NAME@: prefixed\\n\");\n"
    "    return 0;\n"
    "}\n";

static const char tmpl_readme[] =
    "# @NAME@\n"
    "\n"
    "A spool @KIND@ plugin, made by `spool plugin new`. It builds against an installed spool\n"
    "SDK and nothing else, and its test runs it under the spool plugin test kit, without a\n"
    "worker.\n"
    "\n"
    "## Build and test\n"
    "\n"
    "    cmake -S . -B build -DCMAKE_PREFIX_PATH=@PREFIX@\n"
    "    cmake --build build\n"
    "    (cd build && ctest --output-on-failure)\n"
    "\n"
    "`CMAKE_PREFIX_PATH` is the prefix spool is installed under (it holds\n"
    "`lib/cmake/spool-sdk/`). Without CMake: `pkg-config --cflags spool-sdk` for the plugin,\n"
    "`pkg-config --cflags --libs spool-sdk-kit` for the test.\n"
    "\n"
    "## Run it\n"
    "\n"
    "    spool plugins --plugin-path build @NAME@     # its declaration, as spool reads it\n"
    "    spool run --plugin-path build pipeline.yaml\n"
    "\n"
    "or install it next to spool's own plugins, where `spool` finds it with no path:\n"
    "\n"
    "    cmake --install build --prefix @PREFIX@\n"
    "\n"
    "## Files\n"
    "\n"
    "- `src/@NAME@.c`: the plugin: its options, its callbacks, its one exported symbol.\n"
    "- `tests/test_@NAME@.c`: its kit test (`spool/kit.h`): options, records, a crash and\n"
    "  the restart after it.\n"
    "- `CMakeLists.txt`: `find_package(spool-sdk)`, `spool_add_plugin()`, `spool_add_kit_test()`.\n"
    "\n"
    "The plugin's contract (life cycle, threads, ownership, delivery levels, errors and\n"
    "retries, ABI stability) is in spool's docs/sdk.md and in the comments of\n"
    "`spool/plugin.h`.\n";

static const char tmpl_pipe_source[] =
    "# pipeline.yaml - @NAME@ into topic \"events\", the topic into a file:\n"
    "#   OUT=out.txt spool run --plugin-path build --data-dir data pipeline.yaml\n"
    "topics:\n"
    "  events: {partitions: 1}\n"
    "sources:\n"
    "  @NAME@:\n"
    "    connector: @NAME@\n"
    "    topic: events\n"
    "    config: {count: 100}\n"
    "sinks:\n"
    "  out:\n"
    "    connector: file\n"
    "    topics: [events]\n"
    "    config: {path: \"${OUT:-out.txt}\"}\n";

static const char tmpl_pipe_sink[] =
    "# pipeline.yaml - lines of a file into topic \"events\", the topic into @NAME@:\n"
    "#   IN=in.txt OUT=out.txt spool run --plugin-path build --data-dir data pipeline.yaml\n"
    "topics:\n"
    "  events: {partitions: 1}\n"
    "sources:\n"
    "  in:\n"
    "    connector: file\n"
    "    topic: events\n"
    "    config: {path: \"${IN:-in.txt}\", follow: false}\n"
    "sinks:\n"
    "  @NAME@:\n"
    "    connector: @NAME@\n"
    "    topics: [events]\n"
    "    config: {path: \"${OUT:-out.txt}\"}\n";

static const char tmpl_pipe_transform[] =
    "# pipeline.yaml - lines of a file through @NAME@ into another file:\n"
    "#   IN=in.txt OUT=out.txt spool run --plugin-path build --data-dir data pipeline.yaml\n"
    "topics:\n"
    "  events: {partitions: 1}\n"
    "sources:\n"
    "  in:\n"
    "    connector: file\n"
    "    topic: events\n"
    "    config: {path: \"${IN:-in.txt}\", follow: false}\n"
    "sinks:\n"
    "  out:\n"
    "    connector: file\n"
    "    topics: [events]\n"
    "    transforms:\n"
    "      - @NAME@: {}\n"
    "    config: {path: \"${OUT:-out.txt}\"}\n";
typedef struct scaffold_file {
    const char *path;          /* under DIR; may hold @NAME@ */
    const char *tmpl;
} scaffold_file;

typedef struct scaffold {
    const char *kind;
    scaffold_file files[5];
} scaffold;

static const scaffold scaffolds[] = {
    {"source", {{"CMakeLists.txt", tmpl_cmake}, {"src/@NAME@.c", tmpl_source},
                {"tests/test_@NAME@.c", tmpl_source_test}, {"pipeline.yaml", tmpl_pipe_source},
                {"README.md", tmpl_readme}}},
    {"sink", {{"CMakeLists.txt", tmpl_cmake}, {"src/@NAME@.c", tmpl_sink},
              {"tests/test_@NAME@.c", tmpl_sink_test}, {"pipeline.yaml", tmpl_pipe_sink},
              {"README.md", tmpl_readme}}},
    {"transform", {{"CMakeLists.txt", tmpl_cmake}, {"src/@NAME@.c", tmpl_transform},
                   {"tests/test_@NAME@.c", tmpl_transform_test},
                   {"pipeline.yaml", tmpl_pipe_transform}, {"README.md", tmpl_readme}}},
};

typedef struct new_vars {
    const char *name, *ident, *kind, *prefix;
} new_vars;

/* Why name cannot be a plugin's name, or NULL when it can. */
static const char *name_problem(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > NEW_NAME_MAX)
        return "it must be 1 to 64 characters long";
    if (name[0] < 'a' || name[0] > 'z')
        return "it must start with a lower-case letter";
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
              name[i] == '_' || name[i] == '-'))
            return "it may hold only a-z, 0-9, '_' and '-'";
    return NULL;
}

/* Writes tmpl to f with the variables replaced. */
static void render(FILE *f, const char *tmpl, const new_vars *v)
{
    static const char *const keys[] = {"@NAME@", "@IDENT@", "@KIND@", "@PREFIX@"};
    const char *vals[] = {v->name, v->ident, v->kind, v->prefix};
    for (const char *p = tmpl; *p != '\0';) {
        size_t i = 0;
        while (i < 4 && strncmp(p, keys[i], strlen(keys[i])) != 0)
            i++;
        if (i < 4) {
            fputs(vals[i], f);
            p += strlen(keys[i]);
        } else {
            fputc(*p++, f);
        }
    }
}

/* Creates DIR/path (exclusively) from the template. Returns 0, or -1 with the reason
 * printed. */
static int write_file(const char *dir, const scaffold_file *sf, const new_vars *v)
{
    char rel[256], path[PATH_MAX];
    FILE *f = fmemopen(rel, sizeof(rel), "w");
    if (f == NULL)
        return -1;
    render(f, sf->path, v);
    fclose(f);
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    char *slash = strrchr(path, '/');
    if (slash != NULL && slash > path + strlen(dir)) {
        *slash = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "spool plugin new: cannot create %s: %s\n", path, strerror(errno));
            return -1;
        }
        *slash = '/';
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
        fprintf(stderr, "spool plugin new: cannot create %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    render(f, sf->tmpl, v);
    if (fclose(f) != 0) {
        fprintf(stderr, "spool plugin new: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* The prefix this spool is installed under, when it holds the SDK's CMake package;
 * otherwise a placeholder for the reader to replace. */
static void install_prefix(char *out, size_t n)
{
    char exe[PATH_MAX], probe[PATH_MAX + 64];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    snprintf(out, n, "/usr/local");
    if (len <= 0)
        return;
    exe[len] = '\0';
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(exe, '/');
        if (slash == NULL)
            return;
        *slash = '\0';
    }
    snprintf(probe, sizeof(probe), "%s/lib/cmake/spool-sdk/spool-sdkConfig.cmake", exe);
    if (access(probe, R_OK) == 0)
        snprintf(out, n, "%s", exe);
}

static int plugin_new(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"kind", required_argument, NULL, 'k'},
        {"dir", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    const char *kind = NULL, *dir = NULL, *why;
    const scaffold *sc = NULL;
    char ident[NEW_NAME_MAX + 1], prefix[PATH_MAX];
    struct stat st;
    int ch;

    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h':
            fputs(usage_plugin, stdout);
            return 0;
        case 'k':
            kind = optarg;
            break;
        case 'd':
            dir = optarg;
            break;
        default:
            fprintf(stderr, "spool plugin new: unknown option \"%s\"\n\n%s", argv[optind - 1],
                    usage_plugin);
            return 2;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "spool plugin new: give exactly one plugin NAME\n\n%s", usage_plugin);
        return 2;
    }
    const char *name = argv[optind];
    if ((why = name_problem(name)) != NULL) {
        fprintf(stderr, "spool plugin new: \"%s\" cannot be a plugin name: %s (e.g. "
                        "my-source)\n", name, why);
        return 2;
    }
    for (size_t i = 0; kind != NULL && i < sizeof(scaffolds) / sizeof(scaffolds[0]); i++)
        if (strcmp(kind, scaffolds[i].kind) == 0)
            sc = &scaffolds[i];
    if (sc == NULL) {
        fprintf(stderr, "spool plugin new: %s%s%s; give --kind source, --kind sink or "
                        "--kind transform\n", kind ? "unknown kind \"" : "no --kind given",
                kind ? kind : "", kind ? "\"" : "");
        return 2;
    }
    if (dir == NULL)
        dir = name;
    if (stat(dir, &st) == 0 || errno != ENOENT) {
        fprintf(stderr, "spool plugin new: %s already exists; nothing was written: give "
                        "another --dir, or remove it first\n", dir);
        return 2;
    }
    if (mkdir(dir, 0755) != 0) {
        fprintf(stderr, "spool plugin new: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    for (size_t i = 0, n = strlen(name); i <= n; i++)
        ident[i] = name[i] == '-' ? '_' : name[i];
    install_prefix(prefix, sizeof(prefix));
    new_vars v = {name, ident, sc->kind, prefix};
    for (size_t i = 0; i < sizeof(sc->files) / sizeof(sc->files[0]); i++)
        if (write_file(dir, &sc->files[i], &v) != 0)
            return 1;
    printf("created %s/: a %s plugin named \"%s\"\n"
           "  CMakeLists.txt  src/%s.c  tests/test_%s.c  pipeline.yaml  README.md\n"
           "next:\n"
           "  cmake -S %s -B %s/build -DCMAKE_PREFIX_PATH=%s\n"
           "  cmake --build %s/build && (cd %s/build && ctest --output-on-failure)\n",
           dir, sc->kind, name, name, name, dir, dir, prefix, dir, dir);
    return 0;
}

int tools_plugin(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "new") == 0)
        return plugin_new(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage_plugin, stdout);
        return 0;
    }
    if (argc >= 2)
        fprintf(stderr, "spool plugin: unknown subcommand \"%s\"; the only one is \"new\"\n\n%s",
                argv[1], usage_plugin);
    else
        fprintf(stderr, "spool plugin: give a subcommand\n\n%s", usage_plugin);
    return 2;
}
