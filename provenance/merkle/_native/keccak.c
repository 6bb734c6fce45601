/* Keccak-f[1600] and Keccak-256 (FIPS 202's permutation with the original 0x01 padding, as
 * Ethereum's keccak256), written once and instantiated for 1, 4 (AVX2) and 8 (AVX-512) messages
 * at a time. Lanes are named as in the Keccak team's reference code: A<row><column>, rows
 * b g k m s (y = 0..4), columns a e i o u (x = 0..4), lane (x, y) at index x + 5y. */
#include "keccak.h"

#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#define KECCAK_X86 1
#include <immintrin.h>
#endif

static const uint64_t RC[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

#define PAD_FIRST 0x01ULL                /* first padding byte of Keccak (SHA-3 would use 0x06) */
#define PAD_LAST 0x8000000000000000ULL   /* last byte of the block, 0x80, in lane 16 */

static inline uint64_t load64le(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void store64le(uint8_t *p, uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

/* One round from the lanes prefixed A into the lanes prefixed E: theta, rho and pi, chi, iota.
 * The lane type T and the operations XOR, XOR5, ROL, CHI (a ^ (~b & c)) and XORC (xor with a
 * round constant) are macros defined by each instantiation below. */
#define KECCAK_ROUND(T, A, E, rc)                                                                   \
    do {                                                                                            \
        T Ca = XOR5(A##ba, A##ga, A##ka, A##ma, A##sa), Ce = XOR5(A##be, A##ge, A##ke, A##me, A##se); \
        T Ci = XOR5(A##bi, A##gi, A##ki, A##mi, A##si), Co = XOR5(A##bo, A##go, A##ko, A##mo, A##so); \
        T Cu = XOR5(A##bu, A##gu, A##ku, A##mu, A##su);                                             \
        T Da = XOR(Cu, ROL(Ce, 1)), De = XOR(Ca, ROL(Ci, 1)), Di = XOR(Ce, ROL(Co, 1));             \
        T Do = XOR(Ci, ROL(Cu, 1)), Du = XOR(Co, ROL(Ca, 1));                                       \
        T Ba, Be, Bi, Bo, Bu;                                                                       \
        Ba = XOR(A##ba, Da), Be = ROL(XOR(A##ge, De), 44), Bi = ROL(XOR(A##ki, Di), 43);            \
        Bo = ROL(XOR(A##mo, Do), 21), Bu = ROL(XOR(A##su, Du), 14);                                 \
        E##ba = XORC(CHI(Ba, Be, Bi), rc), E##be = CHI(Be, Bi, Bo), E##bi = CHI(Bi, Bo, Bu);        \
        E##bo = CHI(Bo, Bu, Ba), E##bu = CHI(Bu, Ba, Be);                                           \
        Ba = ROL(XOR(A##bo, Do), 28), Be = ROL(XOR(A##gu, Du), 20), Bi = ROL(XOR(A##ka, Da), 3);    \
        Bo = ROL(XOR(A##me, De), 45), Bu = ROL(XOR(A##si, Di), 61);                                 \
        E##ga = CHI(Ba, Be, Bi), E##ge = CHI(Be, Bi, Bo), E##gi = CHI(Bi, Bo, Bu);                  \
        E##go = CHI(Bo, Bu, Ba), E##gu = CHI(Bu, Ba, Be);                                           \
        Ba = ROL(XOR(A##be, De), 1), Be = ROL(XOR(A##gi, Di), 6), Bi = ROL(XOR(A##ko, Do), 25);     \
        Bo = ROL(XOR(A##mu, Du), 8), Bu = ROL(XOR(A##sa, Da), 18);                                  \
        E##ka = CHI(Ba, Be, Bi), E##ke = CHI(Be, Bi, Bo), E##ki = CHI(Bi, Bo, Bu);                  \
        E##ko = CHI(Bo, Bu, Ba), E##ku = CHI(Bu, Ba, Be);                                           \
        Ba = ROL(XOR(A##bu, Du), 27), Be = ROL(XOR(A##ga, Da), 36), Bi = ROL(XOR(A##ke, De), 10);   \
        Bo = ROL(XOR(A##mi, Di), 15), Bu = ROL(XOR(A##so, Do), 56);                                 \
        E##ma = CHI(Ba, Be, Bi), E##me = CHI(Be, Bi, Bo), E##mi = CHI(Bi, Bo, Bu);                  \
        E##mo = CHI(Bo, Bu, Ba), E##mu = CHI(Bu, Ba, Be);                                           \
        Ba = ROL(XOR(A##bi, Di), 62), Be = ROL(XOR(A##go, Do), 55), Bi = ROL(XOR(A##ku, Du), 39);   \
        Bo = ROL(XOR(A##ma, Da), 41), Bu = ROL(XOR(A##se, De), 2);                                  \
        E##sa = CHI(Ba, Be, Bi), E##se = CHI(Be, Bi, Bo), E##si = CHI(Bi, Bo, Bu);                  \
        E##so = CHI(Bo, Bu, Ba), E##su = CHI(Bu, Ba, Be);                                           \
    } while (0)

#define LANES(P) P##ba, P##be, P##bi, P##bo, P##bu, P##ga, P##ge, P##gi, P##go, P##gu, P##ka, P##ke, \
    P##ki, P##ko, P##ku, P##ma, P##me, P##mi, P##mo, P##mu, P##sa, P##se, P##si, P##so, P##su

#define COPY_LANES_(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, \
                    a19, a20, a21, a22, a23, a24, s)                                                 \
    a0 = s[0], a1 = s[1], a2 = s[2], a3 = s[3], a4 = s[4], a5 = s[5], a6 = s[6], a7 = s[7], a8 = s[8],   \
    a9 = s[9], a10 = s[10], a11 = s[11], a12 = s[12], a13 = s[13], a14 = s[14], a15 = s[15],            \
    a16 = s[16], a17 = s[17], a18 = s[18], a19 = s[19], a20 = s[20], a21 = s[21], a22 = s[22],          \
    a23 = s[23], a24 = s[24]
#define COPY_TO_STATE_(s, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, \
                       a18, a19, a20, a21, a22, a23, a24)                                            \
    s[0] = a0, s[1] = a1, s[2] = a2, s[3] = a3, s[4] = a4, s[5] = a5, s[6] = a6, s[7] = a7, s[8] = a8,   \
    s[9] = a9, s[10] = a10, s[11] = a11, s[12] = a12, s[13] = a13, s[14] = a14, s[15] = a15,            \
    s[16] = a16, s[17] = a17, s[18] = a18, s[19] = a19, s[20] = a20, s[21] = a21, s[22] = a22,          \
    s[23] = a23, s[24] = a24
#define COPY_LANES(...) COPY_LANES_(__VA_ARGS__)
#define COPY_TO_STATE(...) COPY_TO_STATE_(__VA_ARGS__)

/* The 24-round permutation of a state s[25] of lane type T (two rounds per iteration, A -> E -> A). */
#define DEFINE_PERMUTE(NAME, T, ATTR)                                                              \
    ATTR static void NAME(T *s) {                                                                  \
        T LANES(A), LANES(E);                                                                      \
        COPY_LANES(LANES(A), s);                                                                   \
        for (int r = 0; r < 24; r += 2) {                                                          \
            KECCAK_ROUND(T, A, E, RC[r]);                                                          \
            KECCAK_ROUND(T, E, A, RC[r + 1]);                                                      \
        }                                                                                          \
        COPY_TO_STATE(s, LANES(A));                                                                \
    }

/* ---- one message: uint64_t lanes ---- */
#define XOR(a, b) ((a) ^ (b))
#define XOR5(a, b, c, d, e) ((a) ^ (b) ^ (c) ^ (d) ^ (e))
#define ROL(x, n) (((x) << (n)) | ((x) >> (64 - (n))))
#define CHI(a, b, c) ((a) ^ (~(b) & (c)))
#define XORC(a, rc) ((a) ^ (rc))
DEFINE_PERMUTE(permute_x1, uint64_t, )
#undef XOR
#undef XOR5
#undef ROL
#undef CHI
#undef XORC

static void absorb_x1(uint64_t s[25], const uint8_t *block) {
    for (int j = 0; j < KECCAK_RATE / 8; j++) s[j] ^= load64le(block + 8 * j);
    permute_x1(s);
}

static void rehash_digest_x1(uint64_t s[25]) {
    /* keccak256 of the 32-byte digest in s[0..3]: one padded block. */
    for (int j = 4; j < 25; j++) s[j] = 0;
    s[4] = PAD_FIRST;
    s[16] = PAD_LAST;
    permute_x1(s);
}

static void store_digest_x1(const uint64_t s[25], uint8_t *out) {
    for (int j = 0; j < 4; j++) store64le(out + 8 * j, s[j]);
}

static void hash_padded_x1(const uint8_t *const *msgs, size_t nblocks, int twice, uint8_t *const *outs) {
    uint64_t s[25] = {0};
    for (size_t b = 0; b < nblocks; b++) absorb_x1(s, msgs[0] + b * KECCAK_RATE);
    if (twice) rehash_digest_x1(s);
    store_digest_x1(s, outs[0]);
}

static void hash_pairs_x1(const uint8_t *const *lo, const uint8_t *const *hi, uint8_t *const *outs) {
    uint64_t s[25] = {0};
    for (int j = 0; j < 4; j++) {
        s[j] = load64le(lo[0] + 8 * j);
        s[4 + j] = load64le(hi[0] + 8 * j);
    }
    s[8] = PAD_FIRST;
    s[16] = PAD_LAST;
    permute_x1(s);
    store_digest_x1(s, outs[0]);
}

size_t keccak_pad(uint8_t *buf, size_t len) {
    size_t padded = keccak_padded_len(len);
    buf[len] ^= (uint8_t)PAD_FIRST;
    buf[padded - 1] ^= 0x80;
    return padded;
}

void keccak256(const uint8_t *data, size_t len, uint8_t out[32]) {
    uint64_t s[25] = {0};
    uint8_t last[KECCAK_RATE];
    size_t whole = len / KECCAK_RATE;
    for (size_t b = 0; b < whole; b++) absorb_x1(s, data + b * KECCAK_RATE);
    size_t rest = len - whole * KECCAK_RATE;
    memset(last, 0, sizeof last);
    memcpy(last, data + whole * KECCAK_RATE, rest);
    keccak_pad(last, rest);
    absorb_x1(s, last);
    store_digest_x1(s, out);
}

static const keccak_backend BACKEND_X1 = {"scalar", 1, hash_padded_x1, hash_pairs_x1};

#ifdef KECCAK_X86
/* hash_padded and hash_pairs for W messages at once in lanes of vector type T, written once for
 * both widths with the vector operations ZERO(), SET1(v), LOAD(p), STORE(p, v) and
 * GATHER(index, address) (W 64-bit loads from address + index[k]). */
#define DEFINE_WIDE_BACKEND(W, T, ATTR)                                                            \
    ATTR static void finish_x##W(T s[25], int twice, uint8_t *const *outs) {                       \
        if (twice) { /* keccak256 of the 32-byte digest in s[0..3]: one padded block */            \
            for (int j = 4; j < 25; j++) s[j] = ZERO();                                            \
            s[4] = SET1(PAD_FIRST);                                                                \
            s[16] = SET1(PAD_LAST);                                                                \
            permute_x##W(s);                                                                       \
        }                                                                                          \
        uint64_t lanes[4][W];                                                                      \
        for (int j = 0; j < 4; j++) STORE(lanes[j], s[j]);                                         \
        for (int k = 0; k < W; k++)                                                                \
            for (int j = 0; j < 4; j++) store64le(outs[k] + 8 * j, lanes[j][k]);                   \
    }                                                                                              \
    ATTR static T offsets_x##W(const uint8_t *const *p) { /* of each message from the first */     \
        int64_t offsets[W];                                                                        \
        for (int k = 0; k < W; k++) offsets[k] = p[k] - p[0];                                      \
        return LOAD(offsets);                                                                      \
    }                                                                                              \
    ATTR static void hash_padded_x##W(const uint8_t *const *msgs, size_t nblocks, int twice,       \
                                      uint8_t *const *outs) {                                      \
        T s[25], index = offsets_x##W(msgs);                                                       \
        for (int j = 0; j < 25; j++) s[j] = ZERO();                                                \
        for (size_t b = 0; b < nblocks; b++) {                                                     \
            const uint8_t *block = msgs[0] + b * KECCAK_RATE;                                      \
            for (int j = 0; j < KECCAK_RATE / 8; j++) s[j] = XOR(s[j], GATHER(index, block + 8 * j)); \
            permute_x##W(s);                                                                       \
        }                                                                                          \
        finish_x##W(s, twice, outs);                                                               \
    }                                                                                              \
    ATTR static void hash_pairs_x##W(const uint8_t *const *lo, const uint8_t *const *hi,           \
                                     uint8_t *const *outs) {                                       \
        T s[25], lo_index = offsets_x##W(lo), hi_index = offsets_x##W(hi);                         \
        for (int j = 0; j < 25; j++) s[j] = ZERO();                                                \
        for (int j = 0; j < 4; j++) {                                                              \
            s[j] = GATHER(lo_index, lo[0] + 8 * j);                                                \
            s[4 + j] = GATHER(hi_index, hi[0] + 8 * j);                                            \
        }                                                                                          \
        s[8] = SET1(PAD_FIRST);                                                                    \
        s[16] = SET1(PAD_LAST);                                                                    \
        permute_x##W(s);                                                                           \
        finish_x##W(s, 0, outs);                                                                   \
    }

/* ---- four messages: AVX2 ---- */
#define AVX2 __attribute__((target("avx2")))
#define XOR(a, b) _mm256_xor_si256((a), (b))
#define XOR5(a, b, c, d, e) XOR(XOR(XOR((a), (b)), XOR((c), (d))), (e))
#define ROL(x, n) _mm256_or_si256(_mm256_slli_epi64((x), (n)), _mm256_srli_epi64((x), 64 - (n)))
#define CHI(a, b, c) _mm256_xor_si256((a), _mm256_andnot_si256((b), (c)))
#define XORC(a, rc) _mm256_xor_si256((a), _mm256_set1_epi64x((long long)(rc)))
#define ZERO() _mm256_setzero_si256()
#define SET1(v) _mm256_set1_epi64x((long long)(v))
#define LOAD(p) _mm256_loadu_si256((const __m256i *)(p))
#define STORE(p, v) _mm256_storeu_si256((__m256i *)(p), (v))
#define GATHER(index, address) _mm256_i64gather_epi64((const long long *)(address), (index), 1)
DEFINE_PERMUTE(permute_x4, __m256i, AVX2)
DEFINE_WIDE_BACKEND(4, __m256i, AVX2)
#undef XOR
#undef XOR5
#undef ROL
#undef CHI
#undef XORC
#undef ZERO
#undef SET1
#undef LOAD
#undef STORE
#undef GATHER

static const keccak_backend BACKEND_X4 = {"avx2", 4, hash_padded_x4, hash_pairs_x4};

/* ---- eight messages: AVX-512 (native rotates; ternary logic for theta's parity and chi) ---- */
#define AVX512 __attribute__((target("avx512f")))
#define XOR(a, b) _mm512_xor_si512((a), (b))
#define XOR5(a, b, c, d, e) _mm512_ternarylogic_epi64(_mm512_ternarylogic_epi64((a), (b), (c), 0x96), (d), (e), 0x96)
#define ROL(x, n) _mm512_rol_epi64((x), (n))
#define CHI(a, b, c) _mm512_ternarylogic_epi64((a), (b), (c), 0xD2)
#define XORC(a, rc) _mm512_xor_si512((a), _mm512_set1_epi64((long long)(rc)))
#define ZERO() _mm512_setzero_si512()
#define SET1(v) _mm512_set1_epi64((long long)(v))
#define LOAD(p) _mm512_loadu_si512((const void *)(p))
#define STORE(p, v) _mm512_storeu_si512((void *)(p), (v))
#define GATHER(index, address) _mm512_i64gather_epi64((index), (const void *)(address), 1)
DEFINE_PERMUTE(permute_x8, __m512i, AVX512)
DEFINE_WIDE_BACKEND(8, __m512i, AVX512)
#undef XOR
#undef XOR5
#undef ROL
#undef CHI
#undef XORC
#undef ZERO
#undef SET1
#undef LOAD
#undef STORE
#undef GATHER

static const keccak_backend BACKEND_X8 = {"avx512", 8, hash_padded_x8, hash_pairs_x8};
#endif

int keccak_backends(const keccak_backend **out) {
    int n = 0;
#ifdef KECCAK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) out[n++] = &BACKEND_X8;
    if (__builtin_cpu_supports("avx2")) out[n++] = &BACKEND_X4;
#endif
    out[n++] = &BACKEND_X1;
    return n;
}
