/* SPDX-License-Identifier: MIT */
/*
 * fnv.h: FNV-1a, the hash of channel names (registry.c, remember.c).
 */
#ifndef CHAND_FNV_H
#define CHAND_FNV_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t
fnv1a32(const void *data, size_t len)
{
	const unsigned char	*p = data;
	uint32_t		 h = 2166136261u;

	while (len-- > 0) {
		h ^= *p++;
		h *= 16777619u;
	}
	return (h);
}

#endif /* CHAND_FNV_H */
