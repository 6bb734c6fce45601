/* provenance._merkle_native: the hot loops of provenance/merkle.py in C.
 *
 * Everything here computes exactly what provenance/merkle/reference.py specifies, only in bulk:
 * ABI-encode and double-hash many leaves, sort leaf hashes, hash the inner nodes level by level,
 * check a whole tree, and parse the hex and decimal strings of a dump. The GIL is released
 * around the hashing, which runs on several threads and several messages per instruction
 * (keccak.c). Input that a fast parser does not accept strictly is reported back by index so the
 * Python side can hand it to the reference code, which has the last word on every error. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "keccak.h"

#define MAX_BATCH_BLOCKS 8 /* leaf encodings up to 8 blocks (1,087 bytes) go through the wide backend */
#define LEAF_GRAIN 4096    /* leaves per block of work a thread takes */
#define NODE_GRAIN 8192    /* inner nodes per block of work a thread takes (a multiple of 8) */

static const keccak_backend *BACKENDS[3];
static int N_BACKENDS;
static const keccak_backend *backend;        /* in use: the widest unless use_backend() said otherwise */
static const keccak_backend *scalar_backend; /* for single long messages */

/* ---- a parallel for over [begin, end): threads take blocks of `grain` items as they go, so a
 * core that other processes keep busy does less of the work instead of holding up the rest ---- */

typedef void (*range_fn)(void *ctx, size_t begin, size_t end, int thread);

typedef struct {
    range_fn fn;
    void *ctx;
    size_t end, grain;
    atomic_size_t next;
} shared_range;

typedef struct {
    shared_range *shared;
    int thread;
} worker;

static void *run_worker(void *arg) {
    worker *w = arg;
    shared_range *s = w->shared;
    for (;;) {
        size_t b = atomic_fetch_add(&s->next, s->grain);
        if (b >= s->end) break;
        s->fn(s->ctx, b, b + s->grain < s->end ? b + s->grain : s->end, w->thread);
    }
    return NULL;
}

/* Runs fn over [begin, end) in blocks of `grain` on up to `threads` threads (the caller's
 * included; at most MAX_THREADS). Call without the GIL. */
#define MAX_THREADS 64
static void parallel_for(int threads, size_t begin, size_t end, size_t grain, range_fn fn, void *ctx) {
    size_t blocks = end > begin ? (end - begin + grain - 1) / grain : 0;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if ((size_t)threads > blocks) threads = (int)blocks;
    if (threads < 1) threads = 1;
    shared_range shared = {fn, ctx, end, grain, begin};
    worker workers[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int t = 0; t < threads; t++) workers[t] = (worker){&shared, t};
    for (int t = 1; t < threads; t++) started[t] = pthread_create(&ids[t], NULL, run_worker, &workers[t]) == 0;
    run_worker(&workers[0]); /* takes every block no thread could be started for */
    for (int t = 1; t < threads; t++)
        if (started[t]) pthread_join(ids[t], NULL);
}

/* ---- leaves: ABI encoding of (string kind, string name, bytes32 digest, uint256 size) ---- */

typedef struct {
    const char *kind, *name;
    Py_ssize_t klen, nlen;
    const uint8_t *digest;
    const uint8_t *size_be; /* 32 big-endian bytes when the size needs more than 64 bits, else NULL */
    uint64_t size;
} leaf_in;

static inline size_t pad32(size_t len) { return (len + 31) / 32 * 32; }

static inline size_t encoded_len(const leaf_in *l) {
    /* head: offset of kind, offset of name, digest, size; then each string's length and data */
    return 4 * 32 + 32 + pad32((size_t)l->klen) + 32 + pad32((size_t)l->nlen);
}

static inline void put_word(uint8_t *word, uint64_t v) {
    for (int i = 0; i < 8; i++) word[31 - i] = (uint8_t)(v >> (8 * i));
}

/* Writes abi.encode(kind, name, digest, size) into `buf`, which is zeroed beforehand. */
static void encode_leaf(uint8_t *buf, const leaf_in *l) {
    size_t name_at = 4 * 32 + 32 + pad32((size_t)l->klen);
    put_word(buf, 4 * 32);
    put_word(buf + 32, name_at);
    memcpy(buf + 64, l->digest, 32);
    if (l->size_be)
        memcpy(buf + 96, l->size_be, 32);
    else
        put_word(buf + 96, l->size);
    put_word(buf + 128, (uint64_t)l->klen);
    memcpy(buf + 160, l->kind, (size_t)l->klen);
    put_word(buf + name_at, (uint64_t)l->nlen);
    memcpy(buf + name_at + 32, l->name, (size_t)l->nlen);
}

typedef struct {
    const leaf_in *leaves;
    uint8_t *out;
} leaf_job;

typedef struct {
    uint8_t *buf; /* width slots of nblocks * KECCAK_RATE bytes */
    const uint8_t *msgs[KECCAK_MAX_WIDTH];
    uint8_t *outs[KECCAK_MAX_WIDTH];
    int count;
} leaf_batch;

static void flush_batch(const keccak_backend *be, leaf_batch *batch, size_t nblocks) {
    uint8_t dummy[32];
    if (!batch->count) return;
    for (int k = batch->count; k < be->width; k++) {
        batch->msgs[k] = batch->msgs[0];
        batch->outs[k] = dummy;
    }
    be->hash_padded(batch->msgs, nblocks, 1, batch->outs);
    batch->count = 0;
}

static void hash_leaves_range(void *ctx, size_t begin, size_t end, int thread) {
    (void)thread;
    const leaf_job *job = ctx;
    const keccak_backend *be = backend;
    const int width = be->width;
    leaf_batch batches[MAX_BATCH_BLOCKS + 1];
    uint8_t *slab = PyMem_RawMalloc((size_t)width * KECCAK_RATE * (MAX_BATCH_BLOCKS * (MAX_BATCH_BLOCKS + 1) / 2));
    uint8_t *scratch = NULL;
    size_t scratch_len = 0;
    size_t at = 0;
    for (size_t b = 1; b <= MAX_BATCH_BLOCKS; b++) {
        batches[b].buf = slab ? slab + at : NULL;
        batches[b].count = 0;
        at += (size_t)width * b * KECCAK_RATE;
    }
    for (size_t i = begin; i < end; i++) {
        const leaf_in *l = &job->leaves[i];
        size_t len = encoded_len(l), nblocks = keccak_padded_len(len) / KECCAK_RATE;
        uint8_t *out = job->out + 32 * i;
        if (width > 1 && slab && nblocks <= MAX_BATCH_BLOCKS) {
            leaf_batch *batch = &batches[nblocks];
            uint8_t *msg = batch->buf + (size_t)batch->count * nblocks * KECCAK_RATE;
            memset(msg, 0, nblocks * KECCAK_RATE);
            encode_leaf(msg, l);
            keccak_pad(msg, len);
            batch->msgs[batch->count] = msg;
            batch->outs[batch->count] = out;
            if (++batch->count == width) flush_batch(be, batch, nblocks);
            continue;
        }
        if (scratch_len < nblocks * KECCAK_RATE) {
            PyMem_RawFree(scratch);
            scratch_len = nblocks * KECCAK_RATE;
            scratch = PyMem_RawMalloc(scratch_len);
            if (!scratch) abort(); /* out of memory with no GIL to raise through */
        }
        memset(scratch, 0, nblocks * KECCAK_RATE);
        encode_leaf(scratch, l);
        keccak_pad(scratch, len);
        const uint8_t *msgs[1] = {scratch};
        uint8_t *outs[1] = {out};
        scalar_backend->hash_padded(msgs, nblocks, 1, outs);
    }
    for (size_t b = 1; b <= MAX_BATCH_BLOCKS; b++) flush_batch(be, &batches[b], b);
    PyMem_RawFree(slab);
    PyMem_RawFree(scratch);
}

/* ---- inner nodes: keccak256 of the sorted pair of children ---- */

typedef struct {
    uint8_t *tree;      /* (2n - 1) * 32 bytes; node i has children 2i + 1 and 2i + 2 */
    uint8_t *check;     /* NULL to build; else nodes are compared, not written */
    size_t first_bad[MAX_THREADS]; /* per thread, when checking */
} node_job;

static void hash_nodes_range(void *ctx, size_t begin, size_t end, int thread) {
    node_job *job = ctx;
    const keccak_backend *be = backend;
    const int width = be->width;
    uint8_t computed[KECCAK_MAX_WIDTH][32], dummy[32];
    for (size_t i = begin; i < end; i += (size_t)width) {
        const uint8_t *lo[KECCAK_MAX_WIDTH], *hi[KECCAK_MAX_WIDTH];
        uint8_t *outs[KECCAK_MAX_WIDTH];
        int count = end - i < (size_t)width ? (int)(end - i) : width;
        for (int k = 0; k < width; k++) {
            size_t node = i + (size_t)(k < count ? k : 0);
            const uint8_t *a = job->tree + 32 * (2 * node + 1), *b = a + 32;
            int a_first = memcmp(a, b, 32) <= 0;
            lo[k] = a_first ? a : b;
            hi[k] = a_first ? b : a;
            outs[k] = k >= count ? dummy : job->check ? computed[k] : job->tree + 32 * node;
        }
        be->hash_pairs(lo, hi, outs);
        if (job->check) {
            for (int k = 0; k < count; k++) {
                if (memcmp(computed[k], job->tree + 32 * (i + k), 32) != 0) {
                    if (i + k < job->first_bad[thread]) job->first_bad[thread] = i + k;
                    return;
                }
            }
        }
    }
}

/* Hashes (or checks) the inner nodes [0, n_inner) deepest level first: the nodes of one level
 * depend only on the level below, so each level is split across the threads. */
static void hash_levels(node_job *job, size_t n_inner, int threads) {
    size_t level_start = 1;
    while (level_start * 2 - 1 < n_inner) level_start *= 2;
    for (;;) {
        size_t lo = level_start - 1, hi = level_start * 2 - 1;
        if (hi > n_inner) hi = n_inner;
        if (lo < hi) parallel_for(threads, lo, hi, NODE_GRAIN, hash_nodes_range, job);
        if (level_start == 1) break;
        level_start /= 2;
    }
}

/* ---- sorting leaf hashes: LSD radix sort on the first 8 bytes, ties by the full hash ---- */

typedef struct {
    uint64_t key;
    uint64_t index;
} sort_item;

static inline uint64_t load64be(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}

/* order[k] = the value index of the k-th smallest hash; equal hashes keep value order (a stable
 * sort, like JavaScript's Array.prototype.sort that @openzeppelin/merkle-tree uses). */
static int sort_hashes(const uint8_t *hashes, size_t n, int64_t *order) {
    sort_item *a = PyMem_RawMalloc(n * sizeof *a), *b = PyMem_RawMalloc(n * sizeof *b);
    size_t *count = PyMem_RawMalloc(65536 * sizeof *count);
    if (!a || !b || !count) {
        PyMem_RawFree(a), PyMem_RawFree(b), PyMem_RawFree(count);
        return -1;
    }
    for (size_t i = 0; i < n; i++) a[i] = (sort_item){load64be(hashes + 32 * i), i};
    for (int shift = 0; shift < 64; shift += 16) {
        memset(count, 0, 65536 * sizeof *count);
        for (size_t i = 0; i < n; i++) count[(a[i].key >> shift) & 0xffff]++;
        if (n && count[(a[0].key >> shift) & 0xffff] == n) continue; /* one digit: already in order */
        size_t sum = 0;
        for (size_t d = 0; d < 65536; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) b[count[(a[i].key >> shift) & 0xffff]++] = a[i];
        sort_item *t = a;
        a = b, b = t;
    }
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && a[j].key == a[i].key) j++;
        for (size_t x = i + 1; x < j; x++) { /* insertion sort of a run with equal first 8 bytes */
            sort_item item = a[x];
            size_t y = x;
            while (y > i && memcmp(hashes + 32 * a[y - 1].index, hashes + 32 * item.index, 32) > 0) {
                a[y] = a[y - 1];
                y--;
            }
            a[y] = item;
        }
        i = j;
    }
    for (size_t k = 0; k < n; k++) order[k] = (int64_t)a[k].index;
    PyMem_RawFree(a), PyMem_RawFree(b), PyMem_RawFree(count);
    return 0;
}

/* ---- Python-facing helpers ---- */

static PyObject *big_name, *zero_int, *max_uint256, *value_key, *tree_index_key;

static int get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t expected, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) < 0) return -1;
    if (expected >= 0 && view->len != expected) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd bytes, found %zd", what, expected, view->len);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* Reads one string of a leaf; a one-line ValueError naming the value index otherwise. */
static int read_str(PyObject *s, Py_ssize_t i, const char *field, int nonempty, const char **data, Py_ssize_t *len) {
    if (!PyUnicode_Check(s) || (nonempty && PyUnicode_GET_LENGTH(s) == 0)) {
        PyErr_Format(PyExc_ValueError, "leaf %zd: expected a %sstring %s, found %.60R", i, nonempty ? "non-empty " : "",
                     field, s);
        return -1;
    }
    *data = PyUnicode_AsUTF8AndSize(s, len);
    if (!*data) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "leaf %zd: %s is not valid UTF-8 text (lone surrogate)", i, field);
        return -1;
    }
    return 0;
}

/* A size as uint64, or as 32 big-endian bytes kept alive in `keep` when it needs more. */
static int read_size(PyObject *v, Py_ssize_t i, leaf_in *l, PyObject *keep) {
    if (!PyLong_Check(v) || PyBool_Check(v)) goto bad;
    l->size = PyLong_AsUnsignedLongLong(v);
    l->size_be = NULL;
    if (!(l->size == (uint64_t)-1 && PyErr_Occurred())) return 0;
    PyErr_Clear();
    if (PyObject_RichCompareBool(v, zero_int, Py_LT) || PyObject_RichCompareBool(v, max_uint256, Py_GT) > 0) goto bad;
    PyObject *be = PyObject_CallMethod(v, "to_bytes", "iO", 32, big_name);
    if (!be) return -1;
    int rc = PyList_Append(keep, be);
    Py_DECREF(be);
    if (rc < 0) return -1;
    l->size_be = (const uint8_t *)PyBytes_AS_STRING(be);
    return 0;
bad:
    PyErr_Format(PyExc_ValueError, "leaf %zd: expected a size in 0..2**256-1, found %.60R", i, v);
    return -1;
}

static PyObject *as_tuple(PyObject *seq, const char *what, Py_ssize_t n) {
    PyObject *t = PySequence_Tuple(seq);
    if (!t) return NULL;
    if (n >= 0 && PyTuple_GET_SIZE(t) != n) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd items, found %zd", what, n, PyTuple_GET_SIZE(t));
        Py_DECREF(t);
        return NULL;
    }
    return t;
}

PyDoc_STRVAR(leaf_hashes_doc,
             "leaf_hashes(kinds, names, digests, sizes, threads) -> bytes\n\n"
             "The OZ standard leaf hash of each (kind, name, digest, size), 32 bytes each, in input order.\n"
             "kinds: a str for all or a sequence of str; names: a sequence of str; digests: a buffer of\n"
             "32 * n bytes or a sequence of 32-byte bytes; sizes: an int for all or a sequence of ints.");

static PyObject *leaf_hashes(PyObject *self, PyObject *args) {
    PyObject *kinds_arg, *names_arg, *digests_arg, *sizes_arg;
    int threads;
    if (!PyArg_ParseTuple(args, "OOOOi", &kinds_arg, &names_arg, &digests_arg, &sizes_arg, &threads)) return NULL;
    PyObject *names = NULL, *kinds = NULL, *digests = NULL, *sizes = NULL, *keep = NULL, *result = NULL;
    Py_buffer digest_view = {0};
    leaf_in *leaves = NULL;
    if (!(names = as_tuple(names_arg, "names", -1))) goto done;
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    if (!PyUnicode_Check(kinds_arg) && !(kinds = as_tuple(kinds_arg, "kinds", n))) goto done;
    if (!PyLong_Check(sizes_arg) && !(sizes = as_tuple(sizes_arg, "sizes", n))) goto done;
    if (PyObject_CheckBuffer(digests_arg)) {
        if (get_buffer(digests_arg, &digest_view, 32 * n, "digests") < 0) goto done;
    } else if (!(digests = as_tuple(digests_arg, "digests", n))) {
        goto done;
    }
    if (!(keep = PyList_New(0))) goto done;
    if (!(leaves = PyMem_RawMalloc((n ? n : 1) * sizeof *leaves))) {
        PyErr_NoMemory();
        goto done;
    }
    leaf_in shared = {0};
    if (!kinds && read_str(kinds_arg, 0, "kind", 1, &shared.kind, &shared.klen) < 0) goto done;
    if (!sizes && read_size(sizes_arg, 0, &shared, keep) < 0) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        leaf_in *l = &leaves[i];
        *l = shared;
        if (kinds && read_str(PyTuple_GET_ITEM(kinds, i), i, "kind", 1, &l->kind, &l->klen) < 0) goto done;
        if (read_str(PyTuple_GET_ITEM(names, i), i, "name", 0, &l->name, &l->nlen) < 0) goto done;
        if (digests) {
            PyObject *d = PyTuple_GET_ITEM(digests, i);
            if (!PyBytes_Check(d) || PyBytes_GET_SIZE(d) != 32) {
                PyErr_Format(PyExc_ValueError, "leaf %zd: expected a 32-byte digest, found %.60R", i, d);
                goto done;
            }
            l->digest = (const uint8_t *)PyBytes_AS_STRING(d);
        } else {
            l->digest = (const uint8_t *)digest_view.buf + 32 * i;
        }
        if (sizes && read_size(PyTuple_GET_ITEM(sizes, i), i, l, keep) < 0) goto done;
    }
    if (!(result = PyBytes_FromStringAndSize(NULL, 32 * n))) goto done;
    leaf_job job = {leaves, (uint8_t *)PyBytes_AS_STRING(result)};
    Py_BEGIN_ALLOW_THREADS parallel_for(threads, 0, (size_t)n, LEAF_GRAIN, hash_leaves_range, &job);
    Py_END_ALLOW_THREADS
done:
    PyMem_RawFree(leaves);
    if (digest_view.obj) PyBuffer_Release(&digest_view);
    Py_XDECREF(names), Py_XDECREF(kinds), Py_XDECREF(digests), Py_XDECREF(sizes), Py_XDECREF(keep);
    return result;
}

PyDoc_STRVAR(build_tree_doc,
             "build_tree(leaf_hashes, threads) -> (tree, order)\n\n"
             "OZ makeMerkleTree over the leaf hashes (32 bytes each, value order) sorted ascending:\n"
             "tree is the flat node array, (2n - 1) * 32 bytes, root first; order is n int64, the value\n"
             "index of each sorted position k (whose node is 2n - 2 - k).");

static PyObject *build_tree(PyObject *self, PyObject *args) {
    Py_buffer hashes;
    int threads;
    if (!PyArg_ParseTuple(args, "y*i", &hashes, &threads)) return NULL;
    PyObject *tree = NULL, *order = NULL;
    size_t n = (size_t)hashes.len / 32;
    if (hashes.len % 32 || n == 0) {
        PyErr_Format(PyExc_ValueError, "leaf hashes: expected a positive multiple of 32 bytes, found %zd", hashes.len);
        goto fail;
    }
    if (!(tree = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(32 * (2 * n - 1))))) goto fail;
    if (!(order = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(8 * n)))) goto fail;
    uint8_t *nodes = (uint8_t *)PyBytes_AS_STRING(tree);
    int64_t *ord = (int64_t *)PyBytes_AS_STRING(order);
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = sort_hashes(hashes.buf, n, ord);
    if (rc == 0) {
        for (size_t k = 0; k < n; k++) memcpy(nodes + 32 * (2 * n - 2 - k), (uint8_t *)hashes.buf + 32 * ord[k], 32);
        node_job job = {nodes, NULL, {0}};
        hash_levels(&job, n - 1, threads);
    }
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        PyErr_NoMemory();
        goto fail;
    }
    PyBuffer_Release(&hashes);
    return Py_BuildValue("(NN)", tree, order);
fail:
    PyBuffer_Release(&hashes);
    Py_XDECREF(tree), Py_XDECREF(order);
    return NULL;
}

PyDoc_STRVAR(first_bad_node_doc,
             "first_bad_node(tree, n_leaves, threads) -> int\n\n"
             "The smallest inner node index i whose node is not the hash of its sorted children, or -1.");

static PyObject *first_bad_node(PyObject *self, PyObject *args) {
    Py_buffer tree;
    Py_ssize_t n;
    int threads;
    if (!PyArg_ParseTuple(args, "y*ni", &tree, &n, &threads)) return NULL;
    if (n < 1 || tree.len != 32 * (2 * n - 1)) {
        PyErr_Format(PyExc_ValueError, "tree: expected %zd bytes for %zd leaves, found %zd", 32 * (2 * n - 1), n, tree.len);
        PyBuffer_Release(&tree);
        return NULL;
    }
    node_job job = {tree.buf, (uint8_t *)tree.buf, {0}};
    for (int t = 0; t < MAX_THREADS; t++) job.first_bad[t] = SIZE_MAX;
    Py_BEGIN_ALLOW_THREADS
    /* no dependencies between nodes when only checking: one pass over all inner nodes */
    parallel_for(threads, 0, (size_t)n - 1, NODE_GRAIN, hash_nodes_range, &job);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&tree);
    size_t first = SIZE_MAX;
    for (int t = 0; t < MAX_THREADS; t++)
        if (job.first_bad[t] < first) first = job.first_bad[t];
    return PyLong_FromSsize_t(first == SIZE_MAX ? -1 : (Py_ssize_t)first);
}

PyDoc_STRVAR(check_leaves_doc,
             "check_leaves(tree, leaf_hashes, tree_indices) -> (int, bool)\n\n"
             "For a dump's values (leaf hashes and tree indices as int64, in value order): the first value\n"
             "whose tree index is not a leaf position or whose node is not its hash (-1 if none), and\n"
             "whether the tree indices cover every leaf position exactly once.");

static PyObject *check_leaves(PyObject *self, PyObject *args) {
    Py_buffer tree, hashes, indices;
    if (!PyArg_ParseTuple(args, "y*y*y*", &tree, &hashes, &indices)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = hashes.len / 32, n_nodes = tree.len / 32, bad = -1;
    uint8_t *seen = NULL;
    if (n < 1 || hashes.len != 32 * n || indices.len != 8 * n || tree.len != 32 * (2 * n - 1)) {
        PyErr_SetString(PyExc_ValueError, "check_leaves: expected a tree, n leaf hashes and n tree indices");
        goto done;
    }
    if (!(seen = PyMem_RawCalloc((size_t)n, 1))) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t covered = 0;
    const int64_t *t = indices.buf;
    const uint8_t *nodes = tree.buf, *h = hashes.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        if (t[i] < n - 1 || t[i] >= n_nodes || memcmp(nodes + 32 * t[i], h + 32 * i, 32) != 0) {
            bad = i;
            break;
        }
        covered += !seen[t[i] - (n - 1)];
        seen[t[i] - (n - 1)] = 1;
    }
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("(nO)", bad, bad < 0 && covered == n ? Py_True : Py_False);
done:
    PyMem_RawFree(seen);
    PyBuffer_Release(&tree), PyBuffer_Release(&hashes), PyBuffer_Release(&indices);
    return result;
}

PyDoc_STRVAR(equal_range_doc,
             "equal_range(tree, n_leaves, hash) -> (lo, hi)\n\n"
             "The sorted positions k in [lo, hi) whose leaf node (2n - 2 - k) equals `hash`, for a tree\n"
             "whose leaves ascend with k.");

static PyObject *equal_range(PyObject *self, PyObject *args) {
    Py_buffer tree, hash;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "y*ny*", &tree, &n, &hash)) return NULL;
    PyObject *result = NULL;
    if (n < 1 || tree.len != 32 * (2 * n - 1) || hash.len != 32) {
        PyErr_SetString(PyExc_ValueError, "equal_range: expected a tree of n leaves and a 32-byte hash");
        goto done;
    }
    const uint8_t *nodes = tree.buf;
    Py_ssize_t bounds[2];
    for (int upper = 0; upper < 2; upper++) {
        Py_ssize_t lo = 0, hi = n;
        while (lo < hi) {
            Py_ssize_t mid = lo + (hi - lo) / 2;
            int c = memcmp(nodes + 32 * (2 * n - 2 - mid), hash.buf, 32);
            if (c < 0 || (upper && c == 0))
                lo = mid + 1;
            else
                hi = mid;
        }
        bounds[upper] = lo;
    }
    result = Py_BuildValue("(nn)", bounds[0], bounds[1]);
done:
    PyBuffer_Release(&tree);
    PyBuffer_Release(&hash);
    return result;
}

/* The nodes of a flat tree at `indices`, as a list of 32-byte bytes objects. */
static PyObject *node_list(const Py_buffer *tree, const int64_t *indices, Py_ssize_t n) {
    Py_ssize_t n_nodes = tree->len / 32;
    PyObject *list = PyList_New(n);
    for (Py_ssize_t k = 0; list && k < n; k++) {
        int64_t i = indices[k];
        PyObject *node = NULL;
        if (i < 0 || i >= n_nodes)
            PyErr_Format(PyExc_IndexError, "node %lld out of range: the tree has %zd nodes", (long long)i, n_nodes);
        else
            node = PyBytes_FromStringAndSize((const char *)tree->buf + 32 * i, 32);
        if (!node) Py_CLEAR(list);
        else PyList_SET_ITEM(list, k, node);
    }
    return list;
}

PyDoc_STRVAR(nodes_at_doc,
             "nodes_at(tree, indices) -> list[bytes]\n\n"
             "The 32-byte nodes of the flat tree at `indices` (a buffer of int64), as bytes objects.");

static PyObject *nodes_at(PyObject *self, PyObject *args) {
    Py_buffer tree, indices;
    if (!PyArg_ParseTuple(args, "y*y*", &tree, &indices)) return NULL;
    PyObject *list = NULL;
    if (indices.len % 8)
        PyErr_SetString(PyExc_ValueError, "nodes_at: expected int64 indices");
    else
        list = node_list(&tree, indices.buf, indices.len / 8);
    PyBuffer_Release(&tree);
    PyBuffer_Release(&indices);
    return list;
}

PyDoc_STRVAR(proof_doc,
             "proof(tree, tree_index) -> list[bytes]\n\n"
             "OZ getProof: the siblings of the node at tree_index and of its ancestors, bottom up.");

static PyObject *proof(PyObject *self, PyObject *args) {
    Py_buffer tree;
    Py_ssize_t t;
    if (!PyArg_ParseTuple(args, "y*n", &tree, &t)) return NULL;
    int64_t siblings[64]; /* a tree of 2**63 nodes at most is 63 levels deep */
    Py_ssize_t depth = 0;
    for (Py_ssize_t i = t < tree.len / 32 ? t : 0; i > 0; i = (i - 1) / 2) siblings[depth++] = i % 2 ? i + 1 : i - 1;
    PyObject *list = NULL;
    if (t < 0 || t >= tree.len / 32)
        PyErr_Format(PyExc_IndexError, "node %zd out of range: the tree has %zd nodes", t, tree.len / 32);
    else
        list = node_list(&tree, siblings, depth);
    PyBuffer_Release(&tree);
    return list;
}

PyDoc_STRVAR(leaves_ascending_doc,
             "leaves_ascending(tree, n_leaves) -> bool\n\n"
             "Whether the leaf nodes ascend with the sorted position k (node 2n - 2 - k).");

static PyObject *leaves_ascending(PyObject *self, PyObject *args) {
    Py_buffer tree;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "y*n", &tree, &n)) return NULL;
    if (n < 1 || tree.len != 32 * (2 * n - 1)) {
        PyBuffer_Release(&tree);
        PyErr_SetString(PyExc_ValueError, "leaves_ascending: expected a tree of n leaves");
        return NULL;
    }
    const uint8_t *leaf = (const uint8_t *)tree.buf + 32 * (n - 1); /* node of position n - 1 */
    int ascending = 1;
    for (Py_ssize_t j = 0; j + 1 < n && ascending; j++) ascending = memcmp(leaf + 32 * j, leaf + 32 * (j + 1), 32) >= 0;
    PyBuffer_Release(&tree);
    return PyBool_FromLong(ascending);
}

/* ---- strict parsers for dumps: anything unusual is left to the reference code ---- */

static int8_t HEX_VALUE[256]; /* -1 for a character that is not a hex digit */

static void init_hex_table(void) {
    memset(HEX_VALUE, -1, sizeof HEX_VALUE);
    for (int c = '0'; c <= '9'; c++) HEX_VALUE[c] = (int8_t)(c - '0');
    for (int c = 'a'; c <= 'f'; c++) HEX_VALUE[c] = (int8_t)(c - 'a' + 10);
    for (int c = 'A'; c <= 'F'; c++) HEX_VALUE[c] = (int8_t)(c - 'A' + 10);
}

/* "0x" and 64 hex digits into 32 bytes; 0 if `s` is anything else. */
static int parse_hex32_strict(PyObject *s, uint8_t *out) {
    if (!PyUnicode_Check(s) || !PyUnicode_IS_COMPACT_ASCII(s) || PyUnicode_GET_LENGTH(s) != 66) return 0;
    const unsigned char *c = PyUnicode_DATA(s);
    if (c[0] != '0' || c[1] != 'x') return 0;
    int bad = 0;
    for (int i = 0; i < 32; i++) {
        int hi = HEX_VALUE[c[2 + 2 * i]], lo = HEX_VALUE[c[3 + 2 * i]];
        bad |= hi | lo; /* negative if either is -1 */
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return bad >= 0;
}

/* "0x" and the 64 lowercase hex digits of 32 bytes, as a new str. */
static PyObject *hex32(const uint8_t *p) {
    static const char digits[] = "0123456789abcdef";
    PyObject *s = PyUnicode_New(66, 127);
    if (!s) return NULL;
    char *c = (char *)PyUnicode_DATA(s);
    c[0] = '0', c[1] = 'x';
    for (int i = 0; i < 32; i++) {
        c[2 + 2 * i] = digits[p[i] >> 4];
        c[3 + 2 * i] = digits[p[i] & 15];
    }
    return s;
}

PyDoc_STRVAR(format_nodes_doc,
             "format_nodes(buffer) -> list[str]\n\n"
             "Each 32 bytes of the buffer as '0x' and 64 lowercase hex digits (a dump's nodes).");

static PyObject *format_nodes(PyObject *self, PyObject *arg) {
    Py_buffer view;
    if (get_buffer(arg, &view, -1, "nodes") < 0) return NULL;
    Py_ssize_t n = view.len / 32;
    PyObject *list = view.len % 32 ? NULL : PyList_New(n);
    if (view.len % 32) PyErr_SetString(PyExc_ValueError, "nodes: expected a multiple of 32 bytes");
    for (Py_ssize_t i = 0; list && i < n; i++) {
        PyObject *s = hex32((const uint8_t *)view.buf + 32 * i);
        if (!s) Py_CLEAR(list);
        else PyList_SET_ITEM(list, i, s);
    }
    PyBuffer_Release(&view);
    return list;
}

PyDoc_STRVAR(format_values_doc,
             "format_values(kinds, names, digests, sizes, tree_indices) -> list\n\n"
             "The values as a dump stores them, [kind, name, '0x' digest, decimal size] each, wrapped in\n"
             "{'value': [...], 'treeIndex': t} when tree_indices (n int64) is not None.");

static PyObject *format_values(PyObject *self, PyObject *args) {
    PyObject *kinds, *names, *sizes, *indices_arg;
    Py_buffer digests, indices = {0};
    if (!PyArg_ParseTuple(args, "O!O!y*O!O", &PyList_Type, &kinds, &PyList_Type, &names, &digests, &PyList_Type, &sizes,
                          &indices_arg))
        return NULL;
    PyObject *list = NULL;
    Py_ssize_t n = PyList_GET_SIZE(names);
    if (PyList_GET_SIZE(kinds) != n || PyList_GET_SIZE(sizes) != n || digests.len != 32 * n) {
        PyErr_SetString(PyExc_ValueError, "format_values: expected columns of the same length");
        goto done;
    }
    if (indices_arg != Py_None && get_buffer(indices_arg, &indices, 8 * n, "tree indices") < 0) goto done;
    if (!(list = PyList_New(n))) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *value = PyList_New(4), *item = value;
        if (!value) goto fail;
        PyObject *kind = PyList_GET_ITEM(kinds, i), *name = PyList_GET_ITEM(names, i);
        Py_INCREF(kind), Py_INCREF(name);
        PyList_SET_ITEM(value, 0, kind);
        PyList_SET_ITEM(value, 1, name);
        PyObject *digest = hex32((const uint8_t *)digests.buf + 32 * i), *size = PyObject_Str(PyList_GET_ITEM(sizes, i));
        if (digest) PyList_SET_ITEM(value, 2, digest);
        if (size) PyList_SET_ITEM(value, 3, size);
        if (!digest || !size) {
            Py_DECREF(value);
            goto fail;
        }
        if (indices.obj) {
            PyObject *t = PyLong_FromLongLong(((const int64_t *)indices.buf)[i]);
            item = t ? PyDict_New() : NULL;
            if (!item || PyDict_SetItem(item, value_key, value) < 0 || PyDict_SetItem(item, tree_index_key, t) < 0) {
                Py_XDECREF(item), Py_XDECREF(t), Py_DECREF(value);
                goto fail;
            }
            Py_DECREF(t), Py_DECREF(value);
        }
        PyList_SET_ITEM(list, i, item);
    }
    goto done;
fail:
    Py_CLEAR(list);
done:
    PyBuffer_Release(&digests);
    if (indices.obj) PyBuffer_Release(&indices);
    return list;
}

PyDoc_STRVAR(parse_nodes_doc,
             "parse_nodes(nodes) -> bytes | int\n\n"
             "The nodes ('0x' and 64 hex digits each) as 32 * n bytes, or the index of the first node\n"
             "that is not exactly in that form.");

static PyObject *parse_nodes(PyObject *self, PyObject *arg) {
    PyObject *nodes = as_tuple(arg, "nodes", -1);
    if (!nodes) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(nodes);
    PyObject *out = PyBytes_FromStringAndSize(NULL, 32 * n);
    if (out) {
        uint8_t *buf = (uint8_t *)PyBytes_AS_STRING(out);
        for (Py_ssize_t i = 0; i < n; i++) {
            if (!parse_hex32_strict(PyTuple_GET_ITEM(nodes, i), buf + 32 * i)) {
                Py_DECREF(out);
                out = PyLong_FromSsize_t(i);
                break;
            }
        }
    }
    Py_DECREF(nodes);
    return out;
}

/* A dump's size: a str of ASCII digits or an int (not bool) within uint256; NULL, no error set,
 * for anything else. */
static PyObject *parse_size_strict(PyObject *v) {
    PyObject *value;
    if (PyUnicode_Check(v)) {
        Py_ssize_t len = PyUnicode_GET_LENGTH(v);
        if (!PyUnicode_IS_COMPACT_ASCII(v) || len < 1 || len > 78) return NULL;
        const char *c = (const char *)PyUnicode_DATA(v);
        uint64_t small = 0;
        for (Py_ssize_t i = 0; i < len; i++) {
            if (c[i] < '0' || c[i] > '9') return NULL;
            small = small * 10 + (uint64_t)(c[i] - '0');
        }
        if (len <= 19) return PyLong_FromUnsignedLongLong(small);
        value = PyLong_FromString(c, NULL, 10);
        if (!value) {
            PyErr_Clear();
            return NULL;
        }
    } else if (PyLong_Check(v) && !PyBool_Check(v)) {
        Py_INCREF(v);
        value = v;
    } else {
        return NULL;
    }
    if (PyObject_RichCompareBool(value, zero_int, Py_LT) || PyObject_RichCompareBool(value, max_uint256, Py_GT)) {
        PyErr_Clear();
        Py_DECREF(value);
        return NULL;
    }
    return value;
}

PyDoc_STRVAR(parse_values_doc,
             "parse_values(entries, with_tree_index) -> (kinds, names, digests, sizes, tree_indices) | int\n\n"
             "The columns of a list of values [kind, name, digest, size], or with `with_tree_index` of a\n"
             "tree dump's {'value': [...], 'treeIndex': t}: kinds and names as lists of str, digests as\n"
             "32 * n bytes, sizes as a list of int, tree indices as n int64 (zeros without them); or the\n"
             "index of the first entry not strictly in that form (non-empty kind, digest '0x' and 64 hex\n"
             "digits, size decimal digits or int, t an int).");

static PyObject *parse_values(PyObject *self, PyObject *args) {
    PyObject *arg;
    int with_tree_index;
    if (!PyArg_ParseTuple(args, "Op", &arg, &with_tree_index)) return NULL;
    PyObject *entries = as_tuple(arg, "values", -1);
    if (!entries) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(entries), bad = -1;
    PyObject *kinds = PyList_New(n), *names = PyList_New(n), *sizes = PyList_New(n);
    PyObject *digests = PyBytes_FromStringAndSize(NULL, 32 * n), *indices = PyBytes_FromStringAndSize(NULL, 8 * n);
    PyObject *result = NULL;
    if (!kinds || !names || !sizes || !digests || !indices) goto done;
    uint8_t *digest = (uint8_t *)PyBytes_AS_STRING(digests);
    int64_t *tree_index = (int64_t *)PyBytes_AS_STRING(indices);
    for (Py_ssize_t i = 0; i < n && bad < 0; i++) {
        PyObject *entry = PyTuple_GET_ITEM(entries, i), *value = entry, *t = zero_int, *size;
        bad = i;
        if (with_tree_index) {
            if (!PyDict_Check(entry) || PyDict_GET_SIZE(entry) != 2) break;
            if (!(value = PyDict_GetItemWithError(entry, value_key)) || !(t = PyDict_GetItemWithError(entry, tree_index_key)))
                break;
        }
        if (!PyList_Check(value) || PyList_GET_SIZE(value) != 4 || !PyLong_CheckExact(t)) break;
        PyObject *kind = PyList_GET_ITEM(value, 0), *name = PyList_GET_ITEM(value, 1);
        if (!PyUnicode_Check(kind) || PyUnicode_GET_LENGTH(kind) == 0 || !PyUnicode_Check(name)) break;
        if (!parse_hex32_strict(PyList_GET_ITEM(value, 2), digest + 32 * i)) break;
        int overflow;
        long long ti = PyLong_AsLongLongAndOverflow(t, &overflow);
        if (overflow || (ti == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            break;
        }
        if (!(size = parse_size_strict(PyList_GET_ITEM(value, 3)))) break;
        tree_index[i] = ti;
        Py_INCREF(kind), Py_INCREF(name);
        PyList_SET_ITEM(kinds, i, kind);
        PyList_SET_ITEM(names, i, name);
        PyList_SET_ITEM(sizes, i, size);
        bad = -1;
    }
    if (PyErr_Occurred()) goto done;
    if (bad >= 0)
        result = PyLong_FromSsize_t(bad);
    else
        result = PyTuple_Pack(5, kinds, names, digests, sizes, indices);
done:
    Py_DECREF(entries);
    Py_XDECREF(kinds), Py_XDECREF(names), Py_XDECREF(sizes), Py_XDECREF(digests), Py_XDECREF(indices);
    return result;
}

/* ---- keccak itself, for tests and for hashing one message ---- */

PyDoc_STRVAR(keccak256_doc, "keccak256(data) -> bytes\n\nEthereum's keccak256 of one message.");

static PyObject *py_keccak256(PyObject *self, PyObject *arg) {
    Py_buffer data;
    uint8_t out[32];
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0) return NULL;
    if (data.len > 4096) {
        Py_BEGIN_ALLOW_THREADS keccak256(data.buf, (size_t)data.len, out);
        Py_END_ALLOW_THREADS
    } else {
        keccak256(data.buf, (size_t)data.len, out);
    }
    PyBuffer_Release(&data);
    return PyBytes_FromStringAndSize((const char *)out, 32);
}

PyDoc_STRVAR(backends_doc, "backends() -> list[str]\n\nThe keccak backends this CPU runs, widest first.");

static PyObject *py_backends(PyObject *self, PyObject *unused) {
    PyObject *names = PyList_New(N_BACKENDS);
    if (!names) return NULL;
    for (int i = 0; i < N_BACKENDS; i++) PyList_SET_ITEM(names, i, PyUnicode_FromString(BACKENDS[i]->name));
    return names;
}

PyDoc_STRVAR(use_backend_doc,
             "use_backend(name) -> str\n\nUse the named keccak backend from now on (tests, benchmarks); returns "
             "the previous one's name. Not thread-safe: call it while no hashing runs.");

static PyObject *use_backend(PyObject *self, PyObject *arg) {
    const char *name = PyUnicode_AsUTF8(arg);
    if (!name) return NULL;
    for (int i = 0; i < N_BACKENDS; i++) {
        if (strcmp(BACKENDS[i]->name, name) == 0) {
            const char *previous = backend->name;
            backend = BACKENDS[i];
            return PyUnicode_FromString(previous);
        }
    }
    PyErr_Format(PyExc_ValueError, "keccak backend: expected one of this CPU's backends, found %R", arg);
    return NULL;
}

static PyMethodDef methods[] = {
    {"leaf_hashes", leaf_hashes, METH_VARARGS, leaf_hashes_doc},
    {"build_tree", build_tree, METH_VARARGS, build_tree_doc},
    {"first_bad_node", first_bad_node, METH_VARARGS, first_bad_node_doc},
    {"check_leaves", check_leaves, METH_VARARGS, check_leaves_doc},
    {"equal_range", equal_range, METH_VARARGS, equal_range_doc},
    {"nodes_at", nodes_at, METH_VARARGS, nodes_at_doc},
    {"proof", proof, METH_VARARGS, proof_doc},
    {"leaves_ascending", leaves_ascending, METH_VARARGS, leaves_ascending_doc},
    {"parse_nodes", parse_nodes, METH_O, parse_nodes_doc},
    {"parse_values", parse_values, METH_VARARGS, parse_values_doc},
    {"format_nodes", format_nodes, METH_O, format_nodes_doc},
    {"format_values", format_values, METH_VARARGS, format_values_doc},
    {"keccak256", py_keccak256, METH_O, keccak256_doc},
    {"backends", py_backends, METH_NOARGS, backends_doc},
    {"use_backend", use_backend, METH_O, use_backend_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_merkle_native",
    "Bulk keccak256, leaf encoding, tree building and dump parsing for provenance.merkle.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__merkle_native(void) {
    N_BACKENDS = keccak_backends(BACKENDS);
    backend = BACKENDS[0];
    scalar_backend = BACKENDS[N_BACKENDS - 1];
    big_name = PyUnicode_InternFromString("big");
    zero_int = PyLong_FromLong(0);
    max_uint256 = PyLong_FromString("115792089237316195423570985008687907853269984665640564039457584007913129639935", NULL, 10);
    value_key = PyUnicode_InternFromString("value");
    tree_index_key = PyUnicode_InternFromString("treeIndex");
    init_hex_table();
    if (!value_key || !tree_index_key || !big_name || !zero_int || !max_uint256) return NULL;
    return PyModule_Create(&module);
}
