#include "CChecksum.h"

#include <string.h>
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

int mo_inflate_raw(const void *input, size_t input_count, void *output, size_t output_count, size_t *produced) {
  z_stream stream;
  memset(&stream, 0, sizeof stream);
  if (inflateInit2(&stream, -MAX_WBITS) != Z_OK) return MO_INFLATE_CORRUPT;
  const unsigned char *next_in = input;
  unsigned char *next_out = output;
  size_t left_in = input_count;
  size_t left_out = output_count;
  int status = MO_INFLATE_CORRUPT;
  for (;;) {
    // zlib counts in unsigned ints: hand it at most 1 GiB at a time.
    unsigned int in_piece = left_in > (1u << 30) ? (1u << 30) : (unsigned int)left_in;
    unsigned int out_piece = left_out > (1u << 30) ? (1u << 30) : (unsigned int)left_out;
    stream.next_in = (unsigned char *)next_in;
    stream.avail_in = in_piece;
    stream.next_out = next_out;
    stream.avail_out = out_piece;
    int result = inflate(&stream, Z_NO_FLUSH);
    size_t used_in = in_piece - stream.avail_in;
    size_t used_out = out_piece - stream.avail_out;
    next_in += used_in;
    left_in -= used_in;
    next_out += used_out;
    left_out -= used_out;
    if (result == Z_STREAM_END) {
      status = MO_INFLATE_OK;
      break;
    }
    if (result == Z_BUF_ERROR || (result == Z_OK && used_in == 0 && used_out == 0)) {
      // No progress: out of input (truncated) or out of room (more data than declared).
      status = left_out == 0 ? MO_INFLATE_OVERFLOW : MO_INFLATE_TRUNCATED;
      break;
    }
    if (result != Z_OK) {
      status = MO_INFLATE_CORRUPT;
      break;
    }
  }
  *produced = output_count - left_out;
  inflateEnd(&stream);
  return status;
}
