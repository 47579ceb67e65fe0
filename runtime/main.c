/* main.c - the spool command line: argv, subcommands, signals, exit codes.
 *
 * Exit codes (DESIGN.md): 0 success, 1 runtime failure, 2 usage or configuration error,
 * 3 the worker stopped to protect data (storage I/O failure), 4 corruption found,
 * 5 a plugin could not be loaded.
 *
 * `spool run` blocks SIGINT and SIGTERM in every thread and reads them from a
 * signalfd in the main thread, so a signal never interrupts a task mid-write: the
 * first one asks the worker to stop after its current batches (sources commit, sinks
 * flush and checkpoint); a second one exits at once, which is safe too, because the
 * log and the checkpoints recover from any stop.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "util/clock.h"
#include "daemon/daemon.h"
#include "loader/loader.h"
#include "tools/tools.h"
#include "transform/transform.h"
#include "util/units.h"
#include "worker/worker.h"

typedef struct cli {
    const char *format;        /* spool plugins: "text" or "md" */
    const char *plugin_path;
    const char *data_dir;
    int log_level;
    int64_t shutdown_timeout_ms;
} cli;

static const char usage_main[] =
    "usage: spool COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "spool moves records from source connectors through a partitioned log on disk\n"
    "into sink connectors, exactly once.\n"
    "\n"
    "commands:\n"
    "  run FILE          run the pipeline in FILE in the foreground\n"
    "  worker --config F run the worker daemon: a directory of pipelines, the HTTP API\n"
    "  validate FILE     check FILE against the installed plugins, without running it\n"
    "  plugins [NAME]    list the plugins (or one) with their declared options\n"
    "  version           print the version and the plugin ABI\n"
    "  topics SUBCMD     list, describe, create or delete the topics of a data directory\n"
    "  produce TOPIC     append lines from standard input to TOPIC\n"
    "  consume TOPIC     print the committed records of TOPIC\n"
    "  verify            check every segment, index and commit of a data directory\n"
    "  plugin new NAME   write a plugin project to build against the installed SDK\n"
    "\n"
    "Run 'spool COMMAND --help' for a command's options.\n"
    "Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error, 3 stopped to\n"
    "protect data (storage I/O error), 4 corruption found, 5 a plugin could not be loaded;\n"
    "130 when a second SIGINT or SIGTERM ended `spool run` at once (nothing is lost).\n";

static const char usage_run[] =
    "usage: spool run [--data-dir DIR] [--plugin-path DIRS] [--log-level LEVEL] FILE\n"
    "\n"
    "Runs the pipeline in FILE until every source reports the end of its input and every\n"
    "sink has delivered everything, or until SIGINT or SIGTERM. Run again, it resumes\n"
    "exactly where it stopped: no record lost, none doubled.\n"
    "\n"
    "  --data-dir DIR      where the log and checkpoints live (default: the pipeline's\n"
    "                      data_dir, else ./spool-data)\n"
    "  --plugin-path DIRS  ':'-separated plugin directories searched first\n"
    "  --log-level LEVEL   error, warn, info (default) or debug\n"
    "  --shutdown-timeout DURATION\n"
    "                      on SIGINT or SIGTERM, how long sinks may take to deliver what\n"
    "                      is already in the log before they stop anyway (default 30s;\n"
    "                      what is left is delivered by the next run)\n";

static const char usage_validate[] =
    "usage: spool validate [--plugin-path DIRS] FILE\n"
    "\n"
    "Checks FILE: YAML syntax, keys, types, required options, connectors and topics.\n"
    "Prints every problem as FILE:LINE:COLUMN and exits 2, or exits 0 when it is valid.\n"
    "No plugin code runs.\n";

static const char usage_plugins[] =
    "usage: spool plugins [--plugin-path DIRS] [--format text|md] [NAME]\n"
    "\n"
    "Lists every plugin found in the plugin path (DIRS, then $SPOOL_PLUGIN_PATH, then\n"
    "the installation's lib/spool/plugins) and the built-in transforms, with each\n"
    "declared option: type, default, whether it is required or secret, and its doc.\n"
    "--format md prints the reference tables of docs/connectors/ (make docs).\n";

static const char usage_version[] = "usage: spool version\n\nPrints spool's version and "
                                    "the plugin ABI version it speaks.\n";

static int parse_level(const char *s)
{
    static const char *const names[] = {"", "error", "warn", "info", "debug"};
    for (int i = 1; i <= 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return 0;
}

/* Parses the options common to the commands; allow_run is 1 for `run`'s options and 2
 * for `plugins`' --format. Returns the index of the first argument, or -1 (usage
 * error, message printed) or -2 (--help printed). */
static int parse_options(int argc, char **argv, cli *c, const char *usage, int allow_run)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"plugin-path", required_argument, NULL, 'p'},
        {"data-dir", required_argument, NULL, 'd'},
        {"log-level", required_argument, NULL, 'l'},
        {"shutdown-timeout", required_argument, NULL, 't'},
        {"format", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h':
            fputs(usage, stdout);
            return -2;
        case 'p':
            c->plugin_path = optarg;
            break;
        case 'f':
            if (allow_run != 2)
                goto bad;
            if (strcmp(optarg, "text") != 0 && strcmp(optarg, "md") != 0) {
                fprintf(stderr, "spool plugins: --format takes text or md, not \"%s\"\n",
                        optarg);
                return -1;
            }
            c->format = optarg;
            break;
        case 'd':
        case 'l':
        case 't':
            if (allow_run != 1)
                goto bad;
            if (ch == 't') {
                if (util_parse_duration(optarg, &c->shutdown_timeout_ms) != 0) {
                    fprintf(stderr, "spool: --shutdown-timeout takes a duration such as "
                                    "30s or 2m, not \"%s\"\n", optarg);
                    return -1;
                }
            } else if (ch == 'd') {
                c->data_dir = optarg;
            } else if ((c->log_level = parse_level(optarg)) == 0) {
                fprintf(stderr, "spool: --log-level takes error, warn, info or debug, "
                                "not \"%s\"\n", optarg);
                return -1;
            }
            break;
        default:
            goto bad;
        }
    }
    return optind;
bad:
    fprintf(stderr, "spool %s: unknown option \"%s\"\n\n%s", argv[0], argv[optind - 1],
            usage);
    return -1;
}

/* Registers the built-in transforms and indexes the plugin search path. With all,
 * loads and checks every plugin file too (validate and plugins: a broken file is
 * reported even when no pipeline names it); without, files are loaded when a
 * pipeline names their plugin (run: only what it uses is mapped). Returns 0 or the
 * plugin exit code with the reason printed. */
static int load_plugins(const cli *c, bool all, loader **out)
{
    char err[2048];
    char **path = NULL;
    loader *l = loader_new(worker_host());
    int code = EXIT_PLUGIN;

    *out = NULL;
    if (l == NULL) {
        fprintf(stderr, "spool: out of memory\n");
        return EXIT_RUNTIME;
    }
    for (size_t i = 0; transform_builtins[i] != NULL; i++)
        if (loader_add_builtin(l, transform_builtins[i], err, sizeof(err)) != SPOOL_OK) {
            fprintf(stderr, "spool: %s\n", err);
            goto out;
        }
    path = loader_search_path(c->plugin_path);
    if (path == NULL) {
        fprintf(stderr, "spool: out of memory\n");
        code = EXIT_RUNTIME;
        goto out;
    }
    for (size_t i = 0; path[i] != NULL; i++)
        if (loader_index_dir(l, path[i], err, sizeof(err)) != SPOOL_OK) {
            fprintf(stderr, "spool: %s\n", err);
            goto out;
        }
    if (all && loader_load_all(l, err, sizeof(err)) != SPOOL_OK) {
        fprintf(stderr, "spool: %s\n", err);
        goto out;
    }
    *out = l;
    l = NULL;
    code = 0;
out:
    loader_path_free(path);
    loader_free(l);
    return code;
}

static int load_pipeline(const char *file, const loader *l, config_pipeline **out)
{
    config_diag d = {0};
    loader_stats st;
    int rc = config_load_file(file, l, out, &d);
    for (size_t i = 0; i < d.count; i++)
        fprintf(stderr, "%s\n", d.messages[i]);
    if (rc != SPOOL_OK && d.count > 1)
        fprintf(stderr, "%s: %zu problems; nothing was run\n", file, d.count);
    config_diag_clear(&d);
    /* A plugin file refused while the pipeline was read (its message is among the
     * above) is the plugin's fault, as when it is refused at start. */
    loader_get_stats(l, &st);
    return rc == SPOOL_OK ? 0 : st.refused > 0 ? EXIT_PLUGIN : EXIT_USAGE;
}

static int cmd_validate(int argc, char **argv)
{
    cli c = {0};
    loader *l = NULL;
    config_pipeline *p = NULL;
    int i = parse_options(argc, argv, &c, usage_validate, 0);
    if (i < 0)
        return i == -2 ? 0 : EXIT_USAGE;
    if (argc - i != 1) {
        fprintf(stderr, "spool validate: give exactly one pipeline file\n\n%s",
                usage_validate);
        return EXIT_USAGE;
    }
    int code = load_plugins(&c, true, &l);
    if (code == 0)
        code = load_pipeline(argv[i], l, &p);
    if (code == 0)
        printf("%s: valid: %zu topics, %zu sources, %zu sinks\n", argv[i], p->ntopics,
               p->nsources, p->nsinks);
    config_free(p);
    loader_free(l);
    return code;
}

static const char *kind_name(uint32_t kind)
{
    return kind == SPOOL_KIND_SOURCE ? "source"
           : kind == SPOOL_KIND_SINK ? "sink"
                                     : "transform";
}

static const char *type_name(uint32_t type)
{
    static const char *const names[] = {"?", "string", "int", "bool", "size", "duration",
                                        "enum", "list"};
    return type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}

static const char *delivery_name(uint32_t d)
{
    return d == SPOOL_DELIVERY_TRANSACTIONAL ? "transactional (exactly once)"
           : d == SPOOL_DELIVERY_RESUMABLE   ? "resumable (exactly once)"
                                             : "idempotent (at least once)";
}

static void print_plugin(const loader_plugin *lp)
{
    const spool_plugin *d = lp->desc;
    printf("%s (%s) %s\n  %s\n  file: %s\n", d->name, kind_name(d->kind), d->version,
           d->description, lp->path);
    if (d->kind == SPOOL_KIND_SINK)
        printf("  delivery: %s\n", delivery_name(d->delivery));
    if (lp->option_count == 0) {
        printf("  options: none\n\n");
        return;
    }
    printf("  options:\n");
    for (size_t i = 0; i < lp->option_count; i++) {
        const spool_option *o = lp->options[i];
        char what[160];
        int n = snprintf(what, sizeof(what), "%s", type_name(o->type));
        if (o->flags & SPOOL_OPT_REQUIRED)
            n += snprintf(what + n, sizeof(what) - (size_t)n, ", required");
        else if (o->default_value != NULL)
            n += snprintf(what + n, sizeof(what) - (size_t)n, ", default %s",
                          (o->flags & SPOOL_OPT_SECRET) ? "<secret>" : o->default_value);
        if (o->flags & SPOOL_OPT_SECRET)
            n += snprintf(what + n, sizeof(what) - (size_t)n, ", secret");
        if (o->type == SPOOL_OPT_ENUM && o->choices != NULL) {
            n += snprintf(what + n, sizeof(what) - (size_t)n, ", one of");
            for (const char *const *ch = o->choices; *ch != NULL && n < (int)sizeof(what);
                 ch++)
                n += snprintf(what + n, sizeof(what) - (size_t)n, " %s", *ch);
        }
        printf("    %-16s %s\n    %-16s %s\n", o->name, what, "", o->doc);
    }
    printf("\n");
}

/* The option's allowed values, for the reference: a range or the choices. */
static void option_values(const spool_option *o, char *out, size_t n)
{
    size_t k = 0;
    out[0] = '\0';
    if (o->type == SPOOL_OPT_ENUM && o->choices != NULL) {
        for (const char *const *ch = o->choices; *ch != NULL && k < n; ch++)
            k += (size_t)snprintf(out + k, n - k, "%s`%s`", ch == o->choices ? "" : ", ", *ch);
    } else if ((o->type == SPOOL_OPT_INT || o->type == SPOOL_OPT_SIZE ||
                o->type == SPOOL_OPT_DURATION) && o->min < o->max) {
        snprintf(out, n, "%" PRId64 " to %" PRId64 "%s", o->min, o->max,
                 o->type == SPOOL_OPT_SIZE ? " bytes" : o->type == SPOOL_OPT_DURATION ? " ms" : "");
    }
}

/* One plugin as the markdown reference of docs/connectors/, from its declaration. */
static void print_plugin_md(const loader_plugin *lp)
{
    const spool_plugin *d = lp->desc;
    printf("### %s (%s)\n\n%s\n\n", d->name, kind_name(d->kind), d->description);
    if (d->kind == SPOOL_KIND_SINK)
        printf("Delivery: %s.\n\n", delivery_name(d->delivery));
    if (lp->option_count == 0) {
        printf("No options.\n\n");
        return;
    }
    printf("| Option | Type | Default | Values | Description |\n");
    printf("|---|---|---|---|---|\n");
    for (size_t i = 0; i < lp->option_count; i++) {
        const spool_option *o = lp->options[i];
        char values[256];
        const char *def = (o->flags & SPOOL_OPT_REQUIRED) ? "required"
                          : (o->flags & SPOOL_OPT_SECRET) && o->default_value ? "(secret)"
                          : o->default_value ? o->default_value : "";
        option_values(o, values, sizeof(values));
        printf("| `%s` | %s%s | %s%s%s | %s | %s |\n", o->name, type_name(o->type),
               (o->flags & SPOOL_OPT_SECRET) ? ", secret" : "",
               *def && !(o->flags & SPOOL_OPT_REQUIRED) ? "`" : "", def,
               *def && !(o->flags & SPOOL_OPT_REQUIRED) ? "`" : "", values, o->doc);
    }
    printf("\n");
}

static int cmd_plugins(int argc, char **argv)
{
    cli c = {0};
    loader *l = NULL;
    size_t shown = 0;
    int i = parse_options(argc, argv, &c, usage_plugins, 2);
    if (i < 0)
        return i == -2 ? 0 : EXIT_USAGE;
    if (argc - i > 1) {
        fprintf(stderr, "spool plugins: give at most one plugin name\n\n%s", usage_plugins);
        return EXIT_USAGE;
    }
    int code = load_plugins(&c, true, &l);
    if (code != 0)
        return code;
    /* Sources, then sinks, then transforms, so a name shared by kinds reads in order. */
    for (size_t k = 0; k < 3 * loader_count(l); k++) {
        const loader_plugin *lp = loader_at(l, k % loader_count(l));
        if (lp->desc->kind != k / loader_count(l) + 1)
            continue;
        if (argc - i == 1 && strcmp(lp->desc->name, argv[i]) != 0)
            continue;
        if (c.format != NULL && strcmp(c.format, "md") == 0)
            print_plugin_md(lp);
        else
            print_plugin(lp);
        shown++;
    }
    if (argc - i == 1 && shown == 0) {
        fprintf(stderr, "spool plugins: no plugin named \"%s\"; 'spool plugins' lists "
                        "them all\n", argv[i]);
        code = EXIT_USAGE;
    }
    loader_free(l);
    return code;
}


/* Waits for the worker to finish by itself or for a signal; the first signal starts an
 * orderly stop (sources end, sinks drain), which becomes a halt after the shutdown
 * timeout; a second signal exits at once. Shows progress on a terminal. Returns the
 * exit code. */
static int run_until_done(worker *w, int64_t shutdown_timeout_ms)
{
    sigset_t set;
    int sfd, stops = 0, tty = isatty(STDERR_FILENO);
    int64_t halt_at = -1;
    worker_stats st;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0) {
        worker_log(SPOOL_LOG_ERROR, "spool", "cannot receive signals: %s", strerror(errno));
        worker_halt(w);
        int code = worker_join(w);
        return code != 0 ? code : EXIT_RUNTIME;
    }
    for (;;) {
        struct pollfd fds[2] = {{.fd = worker_done_fd(w), .events = POLLIN},
                                {.fd = sfd, .events = POLLIN}};
        int timeout = tty ? 1000 : -1;
        if (halt_at >= 0) {
            int64_t left = halt_at - util_mono_ms();
            if (left <= 0) {
                worker_log(SPOOL_LOG_WARN, "spool", "shutdown timeout: sinks stop now; "
                           "what they did not deliver yet is delivered by the next run");
                worker_halt(w);
                halt_at = -1;
            } else if (timeout < 0 || left < timeout) {
                timeout = (int)left;
            }
        }
        int n = poll(fds, 2, timeout);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            worker_log(SPOOL_LOG_ERROR, "spool", "cannot wait for signals: %s; stopping",
                       strerror(errno));
            worker_halt(w);
            close(sfd);
            int code = worker_join(w);
            return code != 0 ? code : EXIT_RUNTIME;
        }
        if (fds[0].revents & POLLIN)
            break;
        if (fds[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (++stops > 1) {
                    fprintf(stderr, "\nspool: second signal: exiting now; the next run "
                                    "resumes from the last checkpoints\n");
                    _exit(130);
                }
                worker_log(SPOOL_LOG_INFO, "spool", "%s: stopping the sources; sinks "
                           "deliver what is in the log (send it again to exit at once)",
                           si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
                worker_stop(w);
                halt_at = util_mono_ms() + shutdown_timeout_ms;
            }
        }
        if (tty) {
            worker_get_stats(w, &st);
            fprintf(stderr, "\rspool: %llu records in, %llu delivered, %llu set aside   ",
                    st.produced, st.delivered, st.dead_lettered);
        }
    }
    if (tty)
        fputc('\n', stderr);
    close(sfd);
    return worker_join(w);
}

/* Prints each connector task's final state, for the operator reading the end of the
 * output. */
static void report_tasks(worker *w)
{
    for (size_t i = 0; i < worker_task_count(w); i++) {
        worker_task_info ti;
        worker_task_get(w, i, &ti);
        if (ti.state == WORKER_FAILED)
            worker_log(SPOOL_LOG_ERROR, ti.task, "FAILED after %llu records: %s",
                       ti.records, ti.reason);
        else
            worker_log(SPOOL_LOG_INFO, ti.task, "%s: %llu records%s", worker_state_name(ti.state),
                       ti.records, ti.failed_records ? ", some set aside" : "");
    }
}

static int cmd_run(int argc, char **argv)
{
    cli c = {.log_level = SPOOL_LOG_INFO, .shutdown_timeout_ms = 30000};
    loader *l = NULL;
    config_pipeline *p = NULL;
    worker *w = NULL;
    char err[2048];
    sigset_t set;
    struct timespec t0, t1;
    worker_stats st;
    int i = parse_options(argc, argv, &c, usage_run, 1);
    if (i < 0)
        return i == -2 ? 0 : EXIT_USAGE;
    if (argc - i != 1) {
        fprintf(stderr, "spool run: give exactly one pipeline file\n\n%s", usage_run);
        return EXIT_USAGE;
    }
    worker_log_set_level(c.log_level);
    /* Blocked before any thread starts, so that every thread inherits the mask and
     * only the signalfd in run_until_done() sees these signals. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int code = load_plugins(&c, false, &l);
    if (code == 0)
        code = load_pipeline(argv[i], l, &p);
    if (code != 0)
        goto out;
    const char *data_dir = c.data_dir ? c.data_dir : p->data_dir ? p->data_dir : "spool-data";
    clock_gettime(CLOCK_MONOTONIC, &t0);
    code = worker_new(p, data_dir, &w, err, sizeof(err));
    if (code != 0) {
        worker_log(SPOOL_LOG_ERROR, "spool", "%s", err);
        goto out;
    }
    worker_log(SPOOL_LOG_INFO, "spool", "running %s: %zu sources, %zu sinks, data in %s",
               argv[i], p->nsources, p->nsinks, data_dir);
    worker_start(w);
    code = run_until_done(w, c.shutdown_timeout_ms);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    worker_get_stats(w, &st);
    report_tasks(w);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    worker_log(code == 0 ? SPOOL_LOG_INFO : SPOOL_LOG_ERROR, "spool",
               "%s after %.2f s: %llu records committed to the log, %llu delivered to "
               "sinks, %llu set aside; peak RSS %.1f MiB (exit %d)",
               code == 0 ? "stopped" : "failed",
               (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
               st.produced, st.delivered, st.dead_lettered, (double)ru.ru_maxrss / 1024.0,
               code);
    /* A thread stuck in a plugin past its deadline may still use the pipeline and the
     * plugins: free nothing it can reach, and exit now. */
    if (worker_abandoned(w) > 0) {
        fflush(NULL);
        _exit(code);
    }
out:
    worker_free(w);
    config_free(p);
    loader_free(l);
    return code;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_main, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "worker") == 0)
        return daemon_main(argc - 1, argv + 1);
    if (strcmp(cmd, "validate") == 0)
        return cmd_validate(argc - 1, argv + 1);
    if (strcmp(cmd, "plugins") == 0)
        return cmd_plugins(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
            fputs(usage_version, stdout);
            return 0;
        }
        printf("spool %s (plugin ABI %d)\n", SPOOL_VERSION_STRING, SPOOL_ABI_VERSION);
        return 0;
    }
    if (strcmp(cmd, "topics") == 0)
        return tools_topics(argc - 1, argv + 1);
    if (strcmp(cmd, "produce") == 0)
        return tools_produce(argc - 1, argv + 1);
    if (strcmp(cmd, "consume") == 0)
        return tools_consume(argc - 1, argv + 1);
    if (strcmp(cmd, "verify") == 0)
        return tools_verify(argc - 1, argv + 1);
    if (strcmp(cmd, "plugin") == 0)
        return tools_plugin(argc - 1, argv + 1);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    fprintf(stderr, "spool: unknown command \"%s\"\n\n%s", cmd, usage_main);
    return EXIT_USAGE;
}
