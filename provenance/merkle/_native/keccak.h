/* Keccak-256 (Ethereum's, pad 0x01 ... 0x80) over several independent messages at once.
 *
 * One permutation is written once (keccak.c) and instantiated for three lane types: one message
 * in uint64_t lanes, four in AVX2 registers, eight in AVX-512 registers. The widest backend that
 * the CPU supports is picked at run time, so the module built on one x86-64 runs on any other. */
#ifndef PROVENANCE_KECCAK_H
#define PROVENANCE_KECCAK_H

#include <stddef.h>
#include <stdint.h>

#define KECCAK_RATE 136 /* bytes absorbed per permutation for a 256-bit capacity of 512 */
#define KECCAK_MAX_WIDTH 8

typedef struct {
    const char *name;
    int width; /* messages hashed per call */
    /* keccak256 of `width` messages of `nblocks` blocks each, already padded: msgs[k] points at
     * nblocks * KECCAK_RATE bytes. With `twice`, the 32-byte digest is hashed once more (the OZ
     * leaf hash). Writes 32 bytes to outs[k]. */
    void (*hash_padded)(const uint8_t *const *msgs, size_t nblocks, int twice, uint8_t *const *outs);
    /* keccak256(lo[k] || hi[k]) of two 32-byte nodes, for k < width. */
    void (*hash_pairs)(const uint8_t *const *lo, const uint8_t *const *hi, uint8_t *const *outs);
} keccak_backend;

/* Backends this CPU can run, widest first; returns how many were written to `out` (at most 3). */
int keccak_backends(const keccak_backend **out);

/* keccak256 of one message of any length (scalar). */
void keccak256(const uint8_t *data, size_t len, uint8_t out[32]);

/* Writes Keccak padding into buf[len .. padded_len(len)), which must be zero already beyond
 * `len`, and returns the padded length (a multiple of KECCAK_RATE). */
size_t keccak_pad(uint8_t *buf, size_t len);

static inline size_t keccak_padded_len(size_t len) { return (len / KECCAK_RATE + 1) * KECCAK_RATE; }

#endif
