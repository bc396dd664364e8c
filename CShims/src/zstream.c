// zlib streams with a preset dictionary, one per direction of a connection (SPDY/3 header
// blocks: stateful across frames, each block ended with Z_SYNC_FLUSH).
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "cshims.h"

struct sl_zstream {
    z_stream s;
    int deflating;
    unsigned char *dict;
    unsigned dictlen;
};

void *sl_zstream_new(int deflating, const unsigned char *dict, unsigned dictlen) {
    struct sl_zstream *z = calloc(1, sizeof(*z));
    if (!z) return NULL;
    z->deflating = deflating;
    z->dict = malloc(dictlen ? dictlen : 1);
    if (!z->dict) { free(z); return NULL; }
    memcpy(z->dict, dict, dictlen);
    z->dictlen = dictlen;
    int rc = deflating ? deflateInit(&z->s, Z_DEFAULT_COMPRESSION) : inflateInit(&z->s);
    if (rc != Z_OK) { free(z->dict); free(z); return NULL; }
    if (deflating && deflateSetDictionary(&z->s, z->dict, z->dictlen) != Z_OK) {
        deflateEnd(&z->s); free(z->dict); free(z); return NULL;
    }
    return z;
}

void sl_zstream_free(void *p) {
    struct sl_zstream *z = p;
    if (!z) return;
    if (z->deflating) deflateEnd(&z->s); else inflateEnd(&z->s);
    free(z->dict);
    free(z);
}

// Runs `in` through the stream (deflate: compressed and sync-flushed; inflate: all of it
// decompressed). *out is malloc'd (free it); returns 0 or a negative zlib error.
int sl_zstream_run(void *p, const unsigned char *in, size_t inlen, unsigned char **out, size_t *outlen) {
    struct sl_zstream *z = p;
    size_t cap = inlen * 2 + 256, len = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) return Z_MEM_ERROR;
    z->s.next_in = (unsigned char *)in;
    z->s.avail_in = (uInt)inlen;
    for (;;) {
        if (cap - len < 256) {
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); return Z_MEM_ERROR; }
            buf = nb; cap *= 2;
        }
        z->s.next_out = buf + len;
        z->s.avail_out = (uInt)(cap - len);
        int rc = z->deflating ? deflate(&z->s, Z_SYNC_FLUSH) : inflate(&z->s, Z_SYNC_FLUSH);
        len = cap - z->s.avail_out;
        if (!z->deflating && rc == Z_NEED_DICT) {
            if (inflateSetDictionary(&z->s, z->dict, z->dictlen) != Z_OK) { free(buf); return Z_DATA_ERROR; }
            continue;
        }
        if (rc == Z_BUF_ERROR && z->s.avail_in == 0) break;   // nothing more to do
        if (rc != Z_OK && rc != Z_STREAM_END) { free(buf); return rc < 0 ? rc : Z_DATA_ERROR; }
        if (z->s.avail_in == 0 && z->s.avail_out > 0) break;
    }
    *out = buf;
    *outlen = len;
    return 0;
}
