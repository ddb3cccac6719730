/*
 * main.c - the tenderidx command: dispatch to subcommands.
 *
 * Each subcommand lives in cmd_<name>.c, parses its own options with
 * getopt_long and answers --help with a page that teaches its use.
 */
#include "cli.h"

#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"index", cmd_index, "index documents against a watch list"},
    {"query", cmd_query, "ask a question of an index"},
    {"hits", cmd_hits, "export every watch-list hit"},
    {"stats", cmd_stats, "counts and sizes of an index"},
    {"normalize", cmd_normalize, "show how text is normalized"},
    {"watchlist", cmd_watchlist, "check a watch list: errors, counts, compile cost"},
    {"dump", cmd_dump, "print the logical content of an index"},
    {"check", cmd_check, "verify the integrity of an index"},
    {"cache", cmd_cache, "list or prune the cache directory"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: tenderidx COMMAND [OPTIONS] [ARGS]\n\n"
               "Bulk-index Chinese procurement notices against a watch list of names and\n"
               "answer exact questions about them.\n\nCommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s  %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'tenderidx COMMAND --help' for the options of one command.\n\n"
               "Exit codes:\n"
               "  0  success\n"
               "  1  partial: the job finished but some inputs were rejected (cache\n"
               "     prune: some files could not be removed)\n"
               "  2  usage error\n"
               "  3  fatal error: the job could not be done\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return TDX_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return TDX_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("tenderidx %s\n", TDX_VERSION);
        return TDX_EXIT_OK;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    cli_error(NULL, "unknown command '%s'", argv[1]);
    fprintf(stderr, "Run 'tenderidx --help' for the list of commands.\n");
    return TDX_EXIT_USAGE;
}
