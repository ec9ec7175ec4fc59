/* libFuzzer driver for the loader fuzz targets (tests/fuzz_targets.h); not
 * part of the CMake build. Built against a clang + sanitizer build of the
 * library, one binary per target (see tests/fuzz/README.md):
 *   -DFZ_TARGET_ONNX   ONNX model bytes (import, QDQ, shapes, save/reload)
 *   -DFZ_TARGET_DATA   data file bytes (NPY/IDX, gzip, datasets, labels) */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "fuzz_targets.h"

static char fz_path[256];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *base = getenv("TMPDIR");
    snprintf(fz_path, sizeof fz_path, "%s/nq_fuzz_%ld.bin", base && base[0] ? base : "/tmp",
             (long)getpid());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
#if defined(FZ_TARGET_ONNX)
    fz_onnx(data, size, NULL);
#elif defined(FZ_TARGET_DATA)
    fz_data(data, size, fz_path);
    unlink(fz_path);
#else
#error "define FZ_TARGET_ONNX or FZ_TARGET_DATA"
#endif
    return 0;
}
