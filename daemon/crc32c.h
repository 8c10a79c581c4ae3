/* SPDX-License-Identifier: MIT */
/*
 * crc32c.h: CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), the
 * checksum of the write-ahead log's records (the one iSCSI, ext4 and
 * LevelDB use). Table-driven, slice-by-8; no hardware instructions.
 *
 * Thread-safe: the tables are built once, under pthread_once.
 */
#ifndef CHAND_CRC32C_H
#define CHAND_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * Extends crc (0 to start) over len bytes at p and returns the new value:
 * crc32c(crc32c(0, a, n), b, m) equals the CRC of a and b concatenated.
 * crc32c(0, "123456789", 9) is 0xe3069283.
 */
uint32_t	crc32c(uint32_t crc, const void *p, size_t len);

#endif /* CHAND_CRC32C_H */
