#!/usr/bin/python3
"""Generates tests/golden/int_kernels_golden.h, the golden vectors of
tests/test_kernels_int.c, independently of the C code: the formulas of
docs/numerics.md evaluated with exact Python integers / fractions (for
int64 extremes) and numpy int64 / float32 arithmetic (for everything that
fits), each cross-checked against the other where both apply.

Regenerate (deterministic: fixed seed, output committed):
    /usr/bin/python3 tests/golden/gen_int_golden.py
which rewrites tests/golden/int_kernels_golden.h next to this script.
"""
import math
import os
from fractions import Fraction

import numpy as np

rng = np.random.default_rng(20240607)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
EXACT, UNDERFLOW, OVERFLOW, INVALID = 0, 1, 2, 3


# ---- numerics.md, exactly --------------------------------------------

def from_scale(m):
    """m = M * 2^-n, M in [2^30, 2^31) rounded half away from zero,
    n in [1, 62]; out-of-range handling as documented in kernels.h."""
    if math.isnan(m) or m <= 0:
        return 0, 62, INVALID
    if math.isinf(m):
        return 2**31 - 1, 1, OVERFLOW
    q = Fraction(m)                      # exact value of the double
    e = 0                                # find 2^(e-1) <= m < 2^e
    while q >= Fraction(2) ** e:
        e += 1
    while q < Fraction(2) ** (e - 1):
        e -= 1
    n = 31 - e
    M = math.floor(q * Fraction(2) ** n + Fraction(1, 2))
    if M == 2**31:
        M, n = 2**30, n - 1
    if n < 1:
        return 2**31 - 1, 1, OVERFLOW
    if n > 62:
        return math.floor(q * Fraction(2) ** 62 + Fraction(1, 2)), 62, UNDERFLOW
    assert 2**30 <= M < 2**31
    return M, n, EXACT


def apply(acc, M, n, qmin, qmax):
    """y = (acc*M + 2^(n-1)) >> n (floor), or acc*M*2^-n for n <= 0; clamp."""
    if n >= 1:
        y = (acc * M + (1 << (n - 1))) >> n   # Python ints: exact, floor shift
    else:
        y = acc * M * (1 << -n)
    return min(max(y, qmin), qmax)


def apply_np(acc, M, n, qmin, qmax):
    """The same in numpy int64, valid for |acc| <= 2^31 and n >= 1."""
    a = np.asarray(acc, dtype=np.int64)
    y = (a * np.int64(M) + np.int64(1 << (n - 1))) >> np.int64(n)
    return np.minimum(np.maximum(y, qmin), qmax)


# ---- C formatting -----------------------------------------------------

def c_i64(v):
    if v == INT64_MIN:
        return "(-INT64_C(9223372036854775807) - 1)"
    return "INT64_C(%d)" % v


def c_i32(v):
    if v == INT32_MIN:
        return "(-2147483647 - 1)"
    return "%d" % v


def c_double(x):
    if math.isnan(x):
        return "NAN"
    if math.isinf(x):
        return "INFINITY" if x > 0 else "-INFINITY"
    return float(x).hex()


def c_float(x):
    x = float(x)
    if math.isnan(x):
        return "NAN"
    if math.isinf(x):
        return "INFINITY" if x > 0 else "-INFINITY"
    return x.hex() + "f"


def c_array(ctype, name, values, fmt, per_line=8):
    lines = []
    for i in range(0, len(values), per_line):
        lines.append("    " + ", ".join(fmt(v) for v in values[i:i + per_line]) + ",")
    return "static const %s %s[%d] = {\n%s\n};\n" % (ctype, name, len(values), "\n".join(lines))


out = []
emit = out.append

# ---- (1) nq_requant_from_scale ----------------------------------------

scales = [0.5, 0.75, 1.0, 3.0, 0.1, 1.0 / 3.0, 2.0 / 3.0, 1e-3, 1e-6, 123.456, 65535.0,
          0.5 + 2.0**-32,              # mantissa * 2^31 = 2^30 + 0.5: tie, away from zero
          0.75 + 2.0**-32,             # 1.5 * 2^30 + 0.5: tie
          1.0 - 2.0**-40,              # rounds up to 2^31: mult 2^30, one shift less
          2.0**-32, 2.0**-31, 2.0**-32 * (1 - 2.0**-40), 2.0**-32 * (1 - 2.0**-20),
          2.0**-40, 2.0**-70, 5e-324,
          2.0**30 * (1 - 2.0**-20), 2.0**30 * (1 - 2.0**-40), 2.0**30, 2.0**31, 1e300,
          float("inf"), 0.0, -0.0, -1.0, float("nan")]
scales += [float(x) for x in np.exp(rng.uniform(math.log(1e-9), math.log(1e4), 40))]
emit("/* nq_requant_from_scale_checked(m) -> {mult, shift}, range */\n")
emit("typedef struct { double m; int32_t mult, shift; int range; } golden_scale;\n")
emit("static const golden_scale golden_from_scale[%d] = {\n" % len(scales))
for m in scales:
    M, n, rg = from_scale(m)
    emit("    {%s, %d, %d, %d},\n" % (c_double(m), M, n, rg))
emit("};\n\n")

# ---- (2) nq_requant_apply ---------------------------------------------

cases = []
r05 = from_scale(0.5)[:2]
r075 = from_scale(0.75)[:2]
r1 = from_scale(1.0)[:2]
r3 = from_scale(3.0)[:2]
assert r05 == (2**30, 31) and r1 == (2**30, 30)
# ties: x.5 goes toward +infinity, for positive and negative values
for acc in (1, -1, 3, -3, 5, -5, 7, -7, 0, 2, -2):
    cases.append((acc, *r05, -128, 127))
for acc in (2, -2, 10, -10, 6, -6, 1, -1):       # *0.75: 1.5, -1.5, 7.5, -7.5, 4.5, ...
    cases.append((acc, *r075, -128, 127))
for acc in (200, -200, 127, 128, -128, -129):     # saturation
    cases.append((acc, *r1, -128, 127))
for acc in (100, -100, 43, -43):
    cases.append((acc, *r3, -32768, 32767))
cases.append((300, *r1, 0, 255))
cases.append((-5, *r1, 0, 255))
cases.append((20, *r1, -8, 7))                   # int4 range
cases.append((-20, *r1, -8, 7))
# int32 and int64 extremes, every kind of factor
extremes = [0, 1, -1, INT32_MAX, INT32_MIN, INT32_MAX + 1, INT32_MIN - 1, 2**40 + 12345,
            -(2**40) - 777, 2**62, -(2**62), INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1]
factors = [(2**30, 31), (2**31 - 1, 1), (2**31 - 1, 30), (2**30, 62), (2**31 - 1, 62),
           (1610612736, 29), (1, 1), (1, 62), (1, 0), (1, -31), (2**31 - 1, -31), (3, 0),
           (2**31 - 1, 31), (1234567891, 45), (0, 5)]
for acc in extremes:
    for M, n in factors:
        cases.append((acc, M, n, INT32_MIN, INT32_MAX))
        cases.append((acc, M, n, -128, 127))
# random int32 accumulators with random factors (numpy int64 cross-check)
for _ in range(200):
    M = int(rng.integers(2**30, 2**31))
    n = int(rng.integers(1, 63))
    acc = int(rng.integers(INT32_MIN, INT32_MAX + 1))
    qmin, qmax = [(-128, 127), (0, 255), (-32768, 32767), (INT32_MIN, INT32_MAX)][int(rng.integers(4))]
    cases.append((acc, M, n, qmin, qmax))
# random int64 accumulators (exact Python ints only)
for _ in range(100):
    M = int(rng.integers(0, 2**31))
    n = int(rng.integers(-31, 63))
    acc = int(rng.integers(INT64_MIN, INT64_MAX, endpoint=True))
    cases.append((acc, M, n, INT32_MIN, INT32_MAX))
# exact ties at large shifts: acc*M = (2k+1) * 2^(n-1)
for n in (31, 40, 62):
    for k in (0, 1, -1, -2, 5):
        M = 2**30
        acc = (2 * k + 1) << (n - 1 - 30)
        cases.append((acc, M, n, INT32_MIN, INT32_MAX))

emit("/* nq_requant_apply(acc, {mult, shift}, qmin, qmax) -> y */\n")
emit("typedef struct { int64_t acc; int32_t mult, shift, qmin, qmax, y; } golden_apply;\n")
emit("static const golden_apply golden_requant_apply[%d] = {\n" % len(cases))
for acc, M, n, qmin, qmax in cases:
    y = apply(acc, M, n, qmin, qmax)
    if n >= 1 and abs(acc) <= 2**31:
        assert int(apply_np([acc], M, n, qmin, qmax)[0]) == y
    emit("    {%s, %d, %d, %s, %s, %s},\n" % (c_i64(acc), M, n, c_i32(qmin), c_i32(qmax), c_i32(y)))
emit("};\n\n")

# ---- (3) per-channel requantization, [batch 2, channels 3, spatial 5] --

B_, C_, S_ = 2, 3, 5
pc_scales = [0.0123, 0.5, 2.5]
pc_r = [from_scale(m)[:2] for m in pc_scales]
acc = rng.integers(-20000, 20000, size=(B_, C_, S_), dtype=np.int64)
acc[0, 0, 0], acc[1, 2, 4] = INT32_MIN, INT32_MAX
y = np.empty_like(acc)
for c in range(C_):
    y[:, c, :] = apply_np(acc[:, c, :], pc_r[c][0], pc_r[c][1], -128, 127)
    for v, w in zip(acc[:, c, :].ravel(), y[:, c, :].ravel()):
        assert apply(int(v), pc_r[c][0], pc_r[c][1], -128, 127) == int(w)
emit("/* nq_requant_s32_to_s8_per_channel: acc [%d, %d, %d], scales %s, range [-128, 127] */\n"
     % (B_, C_, S_, pc_scales))
emit("enum { GOLDEN_PC_BATCH = %d, GOLDEN_PC_CHANNELS = %d, GOLDEN_PC_SPATIAL = %d };\n" % (B_, C_, S_))
emit(c_array("double", "golden_pc_scale", pc_scales, c_double))
emit(c_array("int32_t", "golden_pc_acc", [int(v) for v in acc.ravel()], c_i32))
emit(c_array("int8_t", "golden_pc_out", [int(v) for v in y.ravel()], str, 15))
emit("\n")

# ---- (4) float quantization (round half to even) ------------------------

xs = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 0.50000006, -0.0, 126.5, 127.5, 128.5,
      -127.5, -128.5, -129.5, 1e30, -1e30, float("inf"), float("-inf"), float("nan"), 3.4e38]
xs += [float(v) for v in (rng.integers(-600, 600, 40) / 2.0)]            # many exact halves
xs += [float(v) for v in rng.normal(0, 100, 40).astype(np.float32)]
x32 = np.array(xs, dtype=np.float32)
q_cases = [("s8", 1.0, -128, 127), ("s8", 0.37, -128, 127), ("s8", 1.0, -8, 7),
           ("u8", 1.0, 0, 255), ("u8", 2.0, 0, 15), ("s16", 1.0, -32768, 32767),
           ("s16", 251.3, -32768, 32767), ("s32", 1.0, INT32_MIN, INT32_MAX),
           ("s32", 3.0e7, INT32_MIN, INT32_MAX)]
emit("/* nq_quantize_f32_<type>(x, scale, qmin, qmax): clamp(rint_half_even(x * scale)) */\n")
emit("enum { GOLDEN_Q_N = %d, GOLDEN_Q_CASES = %d };\n" % (len(xs), len(q_cases)))
emit(c_array("float", "golden_q_x", list(x32), c_float, 6))
emit("typedef struct { const char *type; float scale; int32_t qmin, qmax; int32_t y[GOLDEN_Q_N]; } golden_q;\n")
emit("static const golden_q golden_quantize[GOLDEN_Q_CASES] = {\n")
with np.errstate(over="ignore", invalid="ignore"):
    for t, s, qmin, qmax in q_cases:
        v = x32 * np.float32(s)                      # float32 product
        assert v.dtype == np.float32
        r = np.rint(v).astype(np.float64)            # half to even
        r[np.isnan(r)] = 0.0
        r = np.clip(r, qmin, qmax).astype(np.int64)
        emit("    {\"%s\", %s, %s, %s, {%s}},\n" % (t, c_float(np.float32(s)), c_i32(qmin), c_i32(qmax),
                                              ", ".join(c_i32(int(a)) for a in r)))
emit("};\n\n")

# ---- (5) GEMM: C = A * B + bias, numpy int64 ----------------------------

gM, gN, gK = 5, 7, 19
A8 = rng.integers(-128, 128, size=(gM, gK), dtype=np.int64)
B8 = rng.integers(-128, 128, size=(gK, gN), dtype=np.int64)
U8 = rng.integers(0, 256, size=(gK, gN), dtype=np.int64)
A8[0, :] = -128
B8[:, 0] = -128
bias = rng.integers(-100000, 100000, size=gM, dtype=np.int64)
A16 = rng.integers(-32768, 32768, size=(gM, gK), dtype=np.int64)
B16 = rng.integers(-32768, 32768, size=(gK, gN), dtype=np.int64)
A16[1, :] = -32768
B16[:, 2] = -32768                                # int32 overflow: wraps modulo 2^32
bias64 = rng.integers(-(2**40), 2**40, size=gM, dtype=np.int64)


def wrap32(x):
    return ((x + 2**31) % 2**32) - 2**31


C_s8s8 = A8 @ B8 + bias[:, None]
C_s8u8 = A8 @ U8 + bias[:, None]
C_s16_32 = wrap32(A16 @ B16 + bias[:, None])
C_s16_64 = A16 @ B16 + bias64[:, None]
assert np.all(np.abs(C_s8s8) < 2**31) and np.all(np.abs(C_s8u8) < 2**31)
emit("/* GEMM C[M,N] = A[M,K] * B[K,N] + bias[M] (int32 results modulo 2^32) */\n")
emit("enum { GOLDEN_GEMM_M = %d, GOLDEN_GEMM_N = %d, GOLDEN_GEMM_K = %d };\n" % (gM, gN, gK))
emit(c_array("int8_t", "golden_gemm_a8", [int(v) for v in A8.ravel()], str, 19))
emit(c_array("int8_t", "golden_gemm_b8", [int(v) for v in B8.ravel()], str, 14))
emit(c_array("uint8_t", "golden_gemm_u8", [int(v) for v in U8.ravel()], str, 14))
emit(c_array("int32_t", "golden_gemm_bias", [int(v) for v in bias], c_i32))
emit(c_array("int32_t", "golden_gemm_s8s8", [int(v) for v in C_s8s8.ravel()], c_i32, 7))
emit(c_array("int32_t", "golden_gemm_s8u8", [int(v) for v in C_s8u8.ravel()], c_i32, 7))
emit(c_array("int16_t", "golden_gemm_a16", [int(v) for v in A16.ravel()], str, 10))
emit(c_array("int16_t", "golden_gemm_b16", [int(v) for v in B16.ravel()], str, 10))
emit(c_array("int64_t", "golden_gemm_bias64", [int(v) for v in bias64], c_i64, 4))
emit(c_array("int32_t", "golden_gemm_s16s16s32", [int(v) for v in C_s16_32.ravel()], c_i32, 7))
emit(c_array("int64_t", "golden_gemm_s16s16s64", [int(v) for v in C_s16_64.ravel()], c_i64, 4))
emit("\n")

# ---- (6) im2col, int8, 2-D ------------------------------------------------

C_i, H, W = 2, 5, 6
kh, kw, sh, sw, dh, dw = 3, 2, 2, 1, 1, 2
ph0, pw0, ph1, pw1 = 1, 0, 1, 1
oh = (H + ph0 + ph1 - dh * (kh - 1) - 1) // sh + 1
ow = (W + pw0 + pw1 - dw * (kw - 1) - 1) // sw + 1
img = rng.integers(-128, 128, size=(C_i, H, W), dtype=np.int64)
padded = np.zeros((C_i, H + ph0 + ph1, W + pw0 + pw1), dtype=np.int64)
padded[:, ph0:ph0 + H, pw0:pw0 + W] = img
cols = np.zeros((C_i * kh * kw, oh * ow), dtype=np.int64)
for c in range(C_i):
    for i in range(kh):
        for j in range(kw):
            patch = padded[c, i * dh: i * dh + sh * (oh - 1) + 1: sh, j * dw: j * dw + sw * (ow - 1) + 1: sw]
            cols[(c * kh + i) * kw + j] = patch.ravel()
emit("/* im2col int8: src [%d, %d, %d], kernel %dx%d, stride %d,%d, dilation %d,%d, pads %d,%d,%d,%d "
     "(begin h,w, end h,w) -> [%d, %d] */\n" % (C_i, H, W, kh, kw, sh, sw, dh, dw, ph0, pw0, ph1, pw1,
                                                  C_i * kh * kw, oh * ow))
emit("enum { GOLDEN_I2C_C = %d, GOLDEN_I2C_H = %d, GOLDEN_I2C_W = %d, GOLDEN_I2C_KH = %d, "
     "GOLDEN_I2C_KW = %d, GOLDEN_I2C_SH = %d, GOLDEN_I2C_SW = %d, GOLDEN_I2C_DH = %d, GOLDEN_I2C_DW = %d,\n"
     "       GOLDEN_I2C_PH0 = %d, GOLDEN_I2C_PW0 = %d, GOLDEN_I2C_PH1 = %d, GOLDEN_I2C_PW1 = %d, "
     "GOLDEN_I2C_OH = %d, GOLDEN_I2C_OW = %d };\n"
     % (C_i, H, W, kh, kw, sh, sw, dh, dw, ph0, pw0, ph1, pw1, oh, ow))
emit(c_array("int8_t", "golden_i2c_src", [int(v) for v in img.ravel()], str, 12))
emit(c_array("int8_t", "golden_i2c_dst", [int(v) for v in cols.ravel()], str, oh * ow))

header = """/* Golden vectors for tests/test_kernels_int.c.
 * GENERATED by tests/golden/gen_int_golden.py (numpy %s, seed 20240607):
 * the formulas of docs/numerics.md evaluated in exact Python integers and
 * numpy int64 / float32, independently of the C kernels. Do not edit;
 * regenerate with:  /usr/bin/python3 tests/golden/gen_int_golden.py */
#ifndef NQ_TEST_INT_KERNELS_GOLDEN_H
#define NQ_TEST_INT_KERNELS_GOLDEN_H

#include <math.h>
#include <stdint.h>

""" % np.__version__
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "int_kernels_golden.h")
with open(path, "w") as f:
    f.write(header + "".join(out) + "\n#endif\n")
print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))
