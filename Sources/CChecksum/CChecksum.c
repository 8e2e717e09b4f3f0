#include "CChecksum.h"

#include <zlib.h>

uint32_t mo_crc32(uint32_t crc, const void *bytes, size_t count) {
  // zlib's length is an unsigned int in crc32(); go in pieces that fit it.
  const unsigned char *next = bytes;
  unsigned long value = crc;
  while (count > 0) {
    unsigned int piece = count > (1u << 30) ? (1u << 30) : (unsigned int)count;
    value = crc32(value, next, piece);
    next += piece;
    count -= piece;
  }
  return (uint32_t)value;
}
