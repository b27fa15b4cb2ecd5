/*
 * gentext: writes the benchmark's test text to a file.
 *
 * usage: gentext mixed|lines|ascii|hostile SIZE FILE
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

int
main(int argc, char *argv[])
{
	unsigned long long len;
	int kind;
	char *buf;
	FILE *f;

	if (argc != 4 || (kind = bench_text_kind(argv[1])) == -1 ||
	    (len = bench_size(argv[2])) == 0) {
		fprintf(stderr, "usage: gentext mixed|lines|ascii|hostile "
		    "SIZE FILE\n");
		return 2;
	}
	if ((buf = malloc(len)) == NULL) {
		perror("gentext: malloc");
		return 1;
	}
	bench_gen(buf, len, (enum bench_text)kind, 1);
	if ((f = fopen(argv[3], "wb")) == NULL ||
	    fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		perror(argv[3]);
		return 1;
	}
	return 0;
}
