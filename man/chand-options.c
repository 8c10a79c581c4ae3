/* SPDX-License-Identifier: MIT */
/*
 * chand-options.c: writes chand(8)'s scdoc source, TEMPLATE with its
 * @OPTIONS@ line replaced by one entry per option of the daemon's option
 * table, so that the manual lists the options --help lists, with the
 * same text, defaults and ranges. A build tool, not installed.
 *
 * usage: chand-options TEMPLATE > chand.8.scd
 */
#include <stdio.h>
#include <string.h>

#include "config.h"

/* Writes s with scdoc's markup characters escaped. */
static void
put_escaped(const char *s)
{
	for (; *s != '\0'; s++) {
		if (strchr("*_\\`", *s) != NULL)
			putchar('\\');
		putchar(*s);
	}
}

static void
put_options(void)
{
	const char	*name;
	char		 text[2048];
	size_t		 i;

	for (i = 0; (name = config_name(i)) != NULL; i++) {
		config_describe(i, text, sizeof(text));
		printf("*--%s* _%s_\n\t", name, config_arg(i));
		/* Sentence case, as the rest of the page. */
		if (text[0] >= 'a' && text[0] <= 'z')
			text[0] = (char)(text[0] - 'a' + 'A');
		put_escaped(text);
		printf(".\n\n");
	}
}

int
main(int argc, char **argv)
{
	char	 line[4096];
	FILE	*f;

	if (argc != 2 || (f = fopen(argv[1], "r")) == NULL) {
		fprintf(stderr, "usage: chand-options TEMPLATE\n");
		return (2);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strcmp(line, "@OPTIONS@\n") == 0)
			put_options();
		else
			fputs(line, stdout);
	}
	fclose(f);
	return (ferror(stdout) || fflush(stdout) != 0 ? 1 : 0);
}
