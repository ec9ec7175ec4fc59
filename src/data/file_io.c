/* Whole-file reading (transparent gunzip) and atomic writing. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/data_internal.h"

/* Reads the raw bytes of a file, at most `max` of them unless the file is
 * gzip (then all); *buf always NUL-terminated (not counted). */
static nq_status read_raw(const char *path, size_t max, unsigned char **buf, size_t *size,
                          nq_error *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return nq_error_set(err, NQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char magic[2] = {0, 0};
    size_t nmagic = fread(magic, 1, 2, f);
    if (nmagic == 2 && magic[0] == 0x1f && magic[1] == 0x8b) max = SIZE_MAX;
    rewind(f);
    size_t cap = 1 << 16, len = 0;
    unsigned char *b = malloc(cap);
    if (b == NULL) {
        fclose(f);
        return nq_error_set(err, NQ_ERR_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (cap - len < 2) {
            size_t ncap = cap * 2;
            unsigned char *nb = ncap > cap ? realloc(b, ncap) : NULL;
            if (nb == NULL) {
                free(b);
                fclose(f);
                return nq_error_set(err, NQ_ERR_NOMEM, "%s: out of memory reading the file", path);
            }
            b = nb;
            cap = ncap;
        }
        size_t want = cap - len - 1;
        if (want > max - len) want = max - len;
        size_t got = want ? fread(b + len, 1, want, f) : 0;
        len += got;
        if (got == 0) break;
    }
    int failed = ferror(f);
    int saved = errno;
    fclose(f);
    if (failed) {
        free(b);
        return nq_error_set(err, NQ_ERR_IO, "%s: read error: %s", path, strerror(saved));
    }
    b[len] = '\0';
    *buf = b;
    *size = len;
    return NQ_OK;
}

/* Inflates one or more concatenated gzip members, stopping once `max`
 * bytes are out. */
static nq_status gunzip(const char *path, const unsigned char *in, size_t in_size, size_t max,
                        unsigned char **buf, size_t *size, nq_error *err)
{
    size_t cap = in_size * 4 + 1024, len = 0;
    if (in_size >= 18) { /* ISIZE of the last member: a good first guess */
        const unsigned char *t = in + in_size - 4;
        size_t isize = (size_t)t[0] | (size_t)t[1] << 8 | (size_t)t[2] << 16 | (size_t)t[3] << 24;
        /* a corrupt ISIZE must not allocate much: trusted up to 16x the input
         * (deflate reaches 1032x; beyond 16x the buffer grows as data comes) */
        if (isize + 1 > cap && isize / 16 <= in_size) cap = isize + 1;
    }
    if (max < SIZE_MAX && cap > max + 1) cap = max + 1;
    unsigned char *out = malloc(cap);
    if (out == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "%s: out of memory", path);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 16) != Z_OK) {
        free(out);
        return nq_error_set(err, NQ_ERR_INTERNAL, "%s: inflateInit2 failed", path);
    }
    size_t pos = 0; /* consumed input */
    nq_status st = NQ_OK;
    for (;;) {
        if (cap - len < 2) {
            size_t ncap = cap * 2;
            unsigned char *nb = ncap > cap ? realloc(out, ncap) : NULL;
            if (nb == NULL) {
                st = nq_error_set(err, NQ_ERR_NOMEM, "%s: out of memory while decompressing", path);
                break;
            }
            out = nb;
            cap = ncap;
        }
        if (len >= max) break;
        size_t in_chunk = in_size - pos, out_chunk = cap - len - 1;
        if (in_chunk > UINT32_MAX / 2) in_chunk = UINT32_MAX / 2;
        if (out_chunk > UINT32_MAX / 2) out_chunk = UINT32_MAX / 2;
        if (out_chunk > max - len) out_chunk = max - len;
        zs.next_in = (unsigned char *)(in + pos);
        zs.avail_in = (uInt)in_chunk;
        zs.next_out = out + len;
        zs.avail_out = (uInt)out_chunk;
        int r = inflate(&zs, Z_NO_FLUSH);
        pos += in_chunk - zs.avail_in;
        len += out_chunk - zs.avail_out;
        if (r == Z_STREAM_END) {
            /* another member follows? (skip trailing zero padding) */
            while (pos < in_size && in[pos] == 0) pos++;
            if (pos + 1 < in_size && in[pos] == 0x1f && in[pos + 1] == 0x8b) {
                inflateReset(&zs);
                continue;
            }
            if (pos < in_size)
                st = nq_error_set(err, NQ_ERR_PARSE, "%s: %zu bytes of garbage after the gzip data",
                                  path, in_size - pos);
            break;
        }
        if (r == Z_OK) continue;
        if (r == Z_BUF_ERROR && zs.avail_in == 0) { /* needs input that is not there */
            st = nq_error_set(err, NQ_ERR_PARSE,
                              "%s: truncated gzip stream (%zu compressed bytes, %zu decompressed)",
                              path, in_size, len);
            break;
        }
        st = nq_error_set(err, NQ_ERR_PARSE, "%s: corrupt gzip data: %s", path,
                          zs.msg ? zs.msg : "inflate failed");
        break;
    }
    inflateEnd(&zs);
    if (st != NQ_OK) {
        free(out);
        return st;
    }
    out[len] = '\0';
    *buf = out;
    *size = len;
    return NQ_OK;
}

nq_status nq_read_file(const char *path, unsigned char **buf, size_t *size, nq_error *err)
{
    return nq_read_file_head(path, SIZE_MAX, buf, size, err);
}

nq_status nq_read_file_head(const char *path, size_t max, unsigned char **buf, size_t *size,
                            nq_error *err)
{
    if (path == NULL || buf == NULL || size == NULL)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "nq_read_file: NULL argument");
    *buf = NULL;
    *size = 0;
    unsigned char *raw = NULL;
    size_t raw_size = 0;
    nq_status s = read_raw(path, max, &raw, &raw_size, err);
    if (s != NQ_OK) return s;
    if (raw_size >= 2 && raw[0] == 0x1f && raw[1] == 0x8b) {
        s = gunzip(path, raw, raw_size, max, buf, size, err);
        free(raw);
        return s;
    }
    *buf = raw;
    *size = raw_size;
    return NQ_OK;
}

nq_status nq_write_file_atomic(const char *path, const void *buf, size_t size, nq_error *err)
{
    if (path == NULL || (buf == NULL && size > 0))
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "nq_write_file_atomic: NULL argument");
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (tmp == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "%s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        nq_status s = nq_error_set(err, NQ_ERR_IO, "%s: cannot create a temporary file: %s", path,
                                   strerror(errno));
        free(tmp);
        return s;
    }
    const unsigned char *p = buf;
    size_t left = size;
    int saved = 0;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            saved = errno;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    /* mkstemp creates 0600; published files are world-readable like fopen's */
    if (saved == 0 && fchmod(fd, 0644) != 0) saved = errno;
    if (saved == 0 && fsync(fd) != 0) saved = errno;
    if (close(fd) != 0 && saved == 0) saved = errno;
    if (saved == 0 && rename(tmp, path) != 0) saved = errno;
    if (saved != 0) {
        unlink(tmp);
        free(tmp);
        return nq_error_set(err, NQ_ERR_IO, "%s: write failed: %s", path, strerror(saved));
    }
    free(tmp);
    return NQ_OK;
}

int nq_host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

void nq_byteswap(void *data, size_t count, size_t elem)
{
    unsigned char *p = data;
    if (elem < 2) return;
    for (size_t i = 0; i < count; i++, p += elem)
        for (size_t a = 0, b = elem - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}
