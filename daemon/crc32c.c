/* SPDX-License-Identifier: MIT */
/*
 * crc32c.c: CRC-32C, slice-by-8. See crc32c.h.
 *
 * Slice-by-8 reads eight bytes per step through eight 256-entry tables
 * (table[k][b] is the CRC of byte b followed by k zero bytes), several
 * times faster than a byte at a time, for 8 KiB of tables.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "crc32c.h"

#define CRC32C_POLY	0x82f63b78u

static uint32_t		crc_table[8][256];
static pthread_once_t	crc_once = PTHREAD_ONCE_INIT;

static void
crc32c_init(void)
{
	uint32_t	c;
	int		i, k, t;

	for (i = 0; i < 256; i++) {
		c = (uint32_t)i;
		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc_table[0][i] = c;
	}
	for (i = 0; i < 256; i++) {
		c = crc_table[0][i];
		for (t = 1; t < 8; t++) {
			c = crc_table[0][c & 0xff] ^ (c >> 8);
			crc_table[t][i] = c;
		}
	}
}

uint32_t
crc32c(uint32_t crc, const void *p, size_t len)
{
	const unsigned char	*s = p;
	uint32_t		 lo, hi;

	pthread_once(&crc_once, crc32c_init);
	crc = ~crc;
	while (len >= 8) {
		/* Bytes assembled by hand: any alignment, any endianness. */
		lo = crc ^ ((uint32_t)s[0] | (uint32_t)s[1] << 8 |
		    (uint32_t)s[2] << 16 | (uint32_t)s[3] << 24);
		hi = (uint32_t)s[4] | (uint32_t)s[5] << 8 |
		    (uint32_t)s[6] << 16 | (uint32_t)s[7] << 24;
		crc = crc_table[7][lo & 0xff] ^
		    crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^
		    crc_table[4][lo >> 24] ^
		    crc_table[3][hi & 0xff] ^
		    crc_table[2][(hi >> 8) & 0xff] ^
		    crc_table[1][(hi >> 16) & 0xff] ^
		    crc_table[0][hi >> 24];
		s += 8;
		len -= 8;
	}
	while (len-- > 0)
		crc = crc_table[0][(crc ^ *s++) & 0xff] ^ (crc >> 8);
	return (~crc);
}
