/* provenance.digests._blake3_native: many BLAKE3 digests per call, with the official C implementation.
 *
 * The BLAKE3 code is the official C implementation (blake3/, fetched by tools/fetch_blake3_c.py
 * from the pinned `blake3` sdist; its LICENSE beside it). This file only schedules it:
 *
 * - hash_rows: one digest per row of a table whose row is the concatenation of columns (per-row
 *   slices or the same bytes for every row: a sample's data and its dtype/shape trailers). Rows of
 *   at most one chunk (1,024 bytes) go through BLAKE3's own multi-input SIMD path,
 *   blake3_hash_many, 16 rows per AVX-512 instruction stream: for a one-chunk message the hash is
 *   that chunk's chaining value compressed with CHUNK_START on its first block and
 *   CHUNK_END | ROOT on its last, so hash_many takes every full block before the last one of each
 *   row (flags_end = 0) and blake3_compress_in_place finishes each row with its last block, zero
 *   padded and with its true length, exactly as blake3_hasher_finalize does. Longer rows go
 *   through blake3_hasher, one row at a time per thread.
 * - hash_items: one digest per item, an item being a few buffers hashed one after the other
 *   (a tensor's data, then its trailer). Small items are hashed whole, one per thread at a time;
 *   the first buffer of a big one is cut into subtrees that the threads hash side by side (see
 *   "big items" below), so one tensor or many, every thread has work.
 * - make_leaves: the Leaf objects of many samples at C speed (a dataclass's __init__ costs more
 *   than hashing the sample).
 *
 * The GIL is released while hashing; the threads take blocks of work as they go. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* The official blake3.c is compiled here, in this file's unit, rather than on its own: hashing
 * one input on several threads needs its internal steps (compress_subtree_to_parent_node,
 * hasher_push_cv, hasher_merge_cv_stack: static there, since upstream's only multi-threaded
 * build is its TBB one). Nothing of it is changed; setup.py leaves it out of the sources. */
#include "blake3/blake3.c"

#define OUT_LEN 32
#define ROW_GROUP 64   /* rows assembled and hashed together: a multiple of the widest SIMD degree (16) */
#define ROW_GRAIN 2048 /* rows per block of work a thread takes */
#define MAX_THREADS 64
#define MAX_COLUMNS 16
/* Bytes of input per thread below which another thread costs more than it saves: starting and
 * joining one takes tens of microseconds, and milliseconds when the cores are busy elsewhere. */
#define THREAD_MIN_BYTES (1 << 20)

/* ---- a parallel for over [0, end): threads take blocks of `grain` items as they go ----
 *
 * The helpers are a pool of threads started once and kept asleep between calls: a thread created
 * per call waits behind every runnable thread of the machine before its first run (measured on
 * 2 busy cores: the caller had hashed nearly everything before its helper ran), while a woken
 * sleeper runs soon, as rayon's do for blake3-py. The caller takes blocks too and returns once
 * every block is done: it waits for blocks other threads are hashing, never for a helper to
 * wake. A job is reference-counted, so a helper that wakes late finds no block left and lets it
 * go. One job at a time uses the pool; a concurrent caller hashes alone. */

typedef void (*range_fn)(void *ctx, size_t begin, size_t end);

typedef struct {
    range_fn fn;
    void *ctx;
    size_t end, grain;
    atomic_size_t next;  /* first item no thread has taken */
    int helpers;         /* helpers wanted; under pool.lock */
    int joined;          /* helpers that took part; under pool.lock */
    size_t done;         /* items finished; under pool.lock */
    int refs;            /* the caller and each helper that joined; under pool.lock */
} job_t;

static struct {
    pthread_mutex_t lock;     /* everything below and the jobs' counters */
    pthread_cond_t work;      /* a new job for the helpers */
    pthread_cond_t finished;  /* a job's last block is done */
    pthread_mutex_t dispatch; /* held by the one caller using the pool */
    job_t *job;               /* the job on offer, or NULL */
    unsigned long generation; /* bumped for each job */
    int size;                 /* helpers started */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0};

static void drop_job(job_t *j) { /* under pool.lock */
    if (--j->refs == 0) free(j);
}

static void take_blocks(job_t *j) {
    for (;;) {
        size_t b = atomic_fetch_add(&j->next, j->grain);
        if (b >= j->end) break;
        size_t e = b + j->grain < j->end ? b + j->grain : j->end;
        j->fn(j->ctx, b, e);
        pthread_mutex_lock(&pool.lock);
        j->done += e - b;
        if (j->done == j->end) pthread_cond_broadcast(&pool.finished);
        pthread_mutex_unlock(&pool.lock);
    }
}

static void *helper(void *arg) {
    unsigned long seen = 0;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        while (pool.job == NULL || pool.generation == seen) pthread_cond_wait(&pool.work, &pool.lock);
        seen = pool.generation;
        job_t *j = pool.job;
        if (j->joined >= j->helpers) continue; /* enough helpers for this one */
        j->joined++;
        j->refs++;
        pthread_mutex_unlock(&pool.lock);
        take_blocks(j);
        pthread_mutex_lock(&pool.lock);
        drop_job(j);
    }
    return NULL;
}

/* The child of a fork has none of the pool's threads: it starts its own when it needs them. */
static void pool_after_fork(void) {
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.work, NULL);
    pthread_cond_init(&pool.finished, NULL);
    pthread_mutex_init(&pool.dispatch, NULL);
    pool.job = NULL;
    pool.size = 0;
}

/* Runs fn over [0, end) in blocks of `grain` on up to `threads` threads, the caller's included.
 * Call without the GIL. */
static void parallel_for(int threads, size_t end, size_t grain, range_fn fn, void *ctx) {
    size_t blocks = (end + grain - 1) / grain;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if ((size_t)threads > blocks) threads = (int)blocks;
    job_t *j = NULL;
    if (threads > 1 && pthread_mutex_trylock(&pool.dispatch) == 0) {
        j = malloc(sizeof *j);
        if (j == NULL) pthread_mutex_unlock(&pool.dispatch);
    }
    if (j == NULL) { /* one thread, the pool busy with another caller, or no memory */
        if (end > 0) fn(ctx, 0, end);
        return;
    }
    *j = (job_t){.fn = fn, .ctx = ctx, .end = end, .grain = grain, .helpers = threads - 1, .refs = 1};
    atomic_init(&j->next, 0);
    pthread_mutex_lock(&pool.lock);
    while (pool.size < threads - 1) {
        pthread_t id;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&id, &attr, helper, NULL);
        pthread_attr_destroy(&attr);
        if (failed) break; /* fewer helpers: the caller takes their blocks */
        pool.size++;
    }
    pool.job = j;
    pool.generation++;
    pthread_cond_broadcast(&pool.work);
    pthread_mutex_unlock(&pool.lock);
    take_blocks(j);
    pthread_mutex_lock(&pool.lock);
    while (j->done < j->end) pthread_cond_wait(&pool.finished, &pool.lock);
    pool.job = NULL;
    drop_job(j);
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&pool.dispatch);
}

/* At most `threads`, and one per THREAD_MIN_BYTES of input. */
static int threads_for(size_t bytes, int threads) {
    size_t useful = bytes / THREAD_MIN_BYTES;
    if (useful < 1) useful = 1;
    return (size_t)threads < useful ? threads : (int)useful;
}

/* ---- rows ---- */

typedef struct {
    const uint8_t *data;
    size_t stride; /* bytes per row; 0: the same `len` bytes in every row */
    size_t len;
} column;

typedef struct {
    column cols[MAX_COLUMNS];
    int n_cols;
    size_t width;    /* bytes per row, all columns */
    size_t blocks;   /* full blocks before the last one (rows of at most one chunk) */
    size_t last_len; /* bytes in the last block, 0..64 (0 only for empty rows) */
    uint8_t *out;
} rows_job;

/* Writes row i's bytes at dst (width bytes). */
static void copy_row(const rows_job *job, size_t i, uint8_t *dst) {
    for (int c = 0; c < job->n_cols; c++) {
        const column *col = &job->cols[c];
        const uint8_t *src = col->stride ? col->data + i * col->stride : col->data;
        memcpy(dst, src, col->len);
        dst += col->len;
    }
}

static void hash_short_rows(void *ctx, size_t begin, size_t end) {
    const rows_job *job = ctx;
    const size_t stride = (job->blocks + 1) * BLAKE3_BLOCK_LEN; /* room for the zero-padded last block */
    uint8_t buffer[ROW_GROUP * BLAKE3_CHUNK_LEN];
    const uint8_t *inputs[ROW_GROUP];
    uint8_t cvs[ROW_GROUP * OUT_LEN];
    const uint8_t last_flags = CHUNK_END | ROOT | (job->blocks == 0 ? CHUNK_START : 0);
    for (size_t g = begin; g < end; g += ROW_GROUP) {
        size_t m = end - g < ROW_GROUP ? end - g : ROW_GROUP;
        for (size_t r = 0; r < m; r++) {
            uint8_t *row = buffer + r * stride;
            copy_row(job, g + r, row);
            memset(row + job->width, 0, stride - job->width);
            inputs[r] = row;
        }
        if (job->blocks > 0)
            blake3_hash_many(inputs, m, job->blocks, IV, 0, false, 0, CHUNK_START, 0, cvs);
        for (size_t r = 0; r < m; r++) {
            uint32_t cv[8];
            if (job->blocks > 0) {
                for (int w = 0; w < 8; w++) cv[w] = load32(cvs + r * OUT_LEN + 4 * w);
            } else {
                memcpy(cv, IV, sizeof cv);
            }
            blake3_compress_in_place(cv, inputs[r] + job->blocks * BLAKE3_BLOCK_LEN, (uint8_t)job->last_len, 0, last_flags);
            store_cv_words(job->out + (g + r) * OUT_LEN, cv);
        }
    }
}

static void hash_long_rows(void *ctx, size_t begin, size_t end) {
    const rows_job *job = ctx;
    for (size_t i = begin; i < end; i++) {
        blake3_hasher hasher;
        blake3_hasher_init(&hasher);
        for (int c = 0; c < job->n_cols; c++) {
            const column *col = &job->cols[c];
            blake3_hasher_update(&hasher, col->stride ? col->data + i * col->stride : col->data, col->len);
        }
        blake3_hasher_finalize(&hasher, job->out + i * OUT_LEN, OUT_LEN);
    }
}

static void release_all(Py_buffer *views, int n) {
    for (int i = 0; i < n; i++) PyBuffer_Release(&views[i]);
}

PyDoc_STRVAR(hash_rows_doc,
             "hash_rows(columns, count, threads) -> bytes\n\n"
             "The 32-byte BLAKE3 digest of each of `count` rows, concatenated. `columns` is a sequence of\n"
             "(buffer, stride) pairs: row i is, column after column, buffer[i*stride:(i+1)*stride], or the\n"
             "whole buffer when stride is 0. A buffer with a stride holds exactly count*stride bytes.");

static PyObject *hash_rows(PyObject *self, PyObject *args) {
    PyObject *columns_arg;
    Py_ssize_t count;
    int threads;
    if (!PyArg_ParseTuple(args, "Oni", &columns_arg, &count, &threads)) return NULL;
    if (count < 0) return PyErr_Format(PyExc_ValueError, "hash_rows: expected a row count >= 0, found %zd", count);
    PyObject *seq = PySequence_Fast(columns_arg, "hash_rows: expected a sequence of (buffer, stride) pairs");
    if (seq == NULL) return NULL;
    Py_ssize_t n_cols = PySequence_Fast_GET_SIZE(seq);
    if (n_cols > MAX_COLUMNS) {
        Py_DECREF(seq);
        return PyErr_Format(PyExc_ValueError, "hash_rows: expected at most %d columns, found %zd", MAX_COLUMNS, n_cols);
    }
    Py_buffer views[MAX_COLUMNS];
    rows_job job = {.n_cols = 0, .width = 0};
    for (Py_ssize_t c = 0; c < n_cols; c++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(seq, c);
        PyObject *buffer;
        Py_ssize_t stride;
        if (!PyTuple_Check(pair) || !PyArg_ParseTuple(pair, "On", &buffer, &stride)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "hash_rows: expected (buffer, stride) tuples");
            goto fail;
        }
        if (PyObject_GetBuffer(buffer, &views[c], PyBUF_SIMPLE) < 0) goto fail;
        job.n_cols++;
        if (stride < 0 || (stride > 0 && (count > PY_SSIZE_T_MAX / stride || views[c].len != stride * count))) {
            PyErr_Format(PyExc_ValueError, "hash_rows: column %zd: expected %zd rows of %zd bytes, found %zd bytes", c,
                         count, stride, views[c].len);
            goto fail;
        }
        column col = {views[c].buf, (size_t)stride, stride ? (size_t)stride : (size_t)views[c].len};
        job.cols[c] = col;
        job.width += col.len;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, count * OUT_LEN);
    if (result == NULL) goto fail;
    job.out = (uint8_t *)PyBytes_AS_STRING(result);
    job.blocks = job.width ? (job.width - 1) / BLAKE3_BLOCK_LEN : 0;
    job.last_len = job.width - job.blocks * BLAKE3_BLOCK_LEN;
    Py_BEGIN_ALLOW_THREADS
    parallel_for(threads_for((size_t)count * job.width, threads), (size_t)count, ROW_GRAIN,
                 job.width <= BLAKE3_CHUNK_LEN ? hash_short_rows : hash_long_rows, &job);
    Py_END_ALLOW_THREADS
    release_all(views, job.n_cols);
    Py_DECREF(seq);
    return result;
fail:
    release_all(views, job.n_cols);
    Py_DECREF(seq);
    return NULL;
}

/* ---- items ----
 *
 * Small items are hashed whole, one per task. A big item's first buffer (a tensor's data) is
 * hashed by several threads at once: blake3_hasher_update cuts its input into the largest
 * power-of-two subtrees its chunk count allows (3 MiB: 2 MiB, then 1 MiB) and compresses each
 * into the chaining values of its two halves (compress_subtree_to_parent_node), which it pushes
 * on its stack. Here the same cut is planned first (subtree_len_at: the rule of its loop); a
 * subtree of at least SPLIT_LEN bytes is divided into aligned pieces of PIECE_LEN bytes; every
 * piece and every smaller subtree is one task for the threads. Then the caller feeds the item's
 * hasher exactly as blake3_hasher_update would (finish_big_item mirrors its loop), taking each
 * subtree's two halves from the tasks: a piece's chaining value is the parent node of its two
 * halves, and a subtree's pieces are merged pairwise with parent nodes (never the root) up to
 * its two halves. The pieces are complete subtrees of the tree BLAKE3 defines, so the digest is
 * BLAKE3's, bit for bit (the tests check it against blake3-py around every chunk, piece and
 * subtree boundary). The rest of the item (the trailer) goes through blake3_hasher_update. */

#define PIECE_LEN (256 * BLAKE3_CHUNK_LEN) /* 256 KiB: ~60 us of one core, against ~1 us per task */
#define SPLIT_LEN (2 * PIECE_LEN)          /* a buffer or subtree from this size on is cut */

typedef struct {
    const uint8_t *input;
    size_t len;       /* 0: the whole item `item`, with blake3_hasher */
    uint64_t counter; /* the subtree's first chunk */
    int piece;        /* 1: out gets the subtree's chaining value (32 bytes); 0: its halves' (64) */
    size_t item;
    uint8_t *out;
} task_t;

typedef struct {
    Py_buffer *views;  /* all parts of all items, item after item */
    Py_ssize_t *first; /* item i's parts: views[first[i] .. first[i+1]) */
    task_t *tasks;
    uint8_t *out; /* the digests */
} items_job;

/* The next subtree blake3_hasher_update hashes, `input_len` (more than a chunk) bytes left at
 * chunk `counter`: the largest power of two that fits and divides the bytes so far. */
static size_t subtree_len_at(size_t input_len, uint64_t counter) {
    size_t len = round_down_to_power_of_2(input_len);
    while ((((uint64_t)(len - 1)) & (counter * BLAKE3_CHUNK_LEN)) != 0) len /= 2;
    return len;
}

/* The tasks of a big item's first buffer, written at tasks (when not NULL) with their outputs
 * from *out on; counts them in *n_tasks and their output bytes in *out_len. */
static void plan_big_item(const uint8_t *input, size_t input_len, size_t item, task_t *tasks, size_t *n_tasks,
                          uint8_t *out, size_t *out_len) {
    uint64_t counter = 0;
    while (input_len > BLAKE3_CHUNK_LEN) {
        size_t len = subtree_len_at(input_len, counter);
        if (len > BLAKE3_CHUNK_LEN) { /* a lone chunk is left to finish_big_item */
            int split = len >= SPLIT_LEN;
            size_t step = split ? PIECE_LEN : len;
            for (size_t off = 0; off < len; off += step) {
                if (tasks != NULL) {
                    task_t task = {input + off, step, counter + off / BLAKE3_CHUNK_LEN, split, item, out + *out_len};
                    tasks[*n_tasks] = task;
                }
                *n_tasks += 1;
                *out_len += split ? BLAKE3_OUT_LEN : 2 * BLAKE3_OUT_LEN;
            }
        }
        counter += len / BLAKE3_CHUNK_LEN;
        input += len;
        input_len -= len;
    }
}

static void hash_whole_item(const items_job *job, size_t i) {
    blake3_hasher hasher;
    blake3_hasher_init(&hasher);
    for (Py_ssize_t p = job->first[i]; p < job->first[i + 1]; p++)
        blake3_hasher_update(&hasher, job->views[p].buf, (size_t)job->views[p].len);
    blake3_hasher_finalize(&hasher, job->out + i * OUT_LEN, OUT_LEN);
}

static void run_tasks(void *ctx, size_t begin, size_t end) {
    const items_job *job = ctx;
    for (size_t t = begin; t < end; t++) {
        const task_t *task = &job->tasks[t];
        if (task->len == 0) {
            hash_whole_item(job, task->item);
            continue;
        }
        uint8_t halves[2 * BLAKE3_OUT_LEN];
        compress_subtree_to_parent_node(task->input, task->len, IV, task->counter, 0, halves);
        if (task->piece) {
            output_t node = parent_output(halves, IV, 0);
            output_chaining_value(&node, task->out);
        } else {
            memcpy(task->out, halves, sizeof halves);
        }
    }
}

/* Item i's digest from its tasks (from `task` on, done): blake3_hasher_update's loop on the first
 * buffer with its subtrees' halves taken from the tasks, then the other buffers, then finalize. */
static void finish_big_item(const items_job *job, size_t i, const task_t *task) {
    const Py_buffer *data = &job->views[job->first[i]];
    const uint8_t *input = data->buf;
    size_t input_len = (size_t)data->len;
    blake3_hasher self;
    blake3_hasher_init(&self);
    while (input_len > BLAKE3_CHUNK_LEN) {
        size_t len = subtree_len_at(input_len, self.chunk.chunk_counter);
        uint64_t chunks = len / BLAKE3_CHUNK_LEN;
        if (len <= BLAKE3_CHUNK_LEN) { /* as blake3_hasher_update does */
            blake3_chunk_state chunk_state;
            chunk_state_init(&chunk_state, self.key, self.chunk.flags);
            chunk_state.chunk_counter = self.chunk.chunk_counter;
            chunk_state_update(&chunk_state, input, len);
            output_t output = chunk_state_output(&chunk_state);
            uint8_t cv[BLAKE3_OUT_LEN];
            output_chaining_value(&output, cv);
            hasher_push_cv(&self, cv, chunk_state.chunk_counter);
        } else {
            uint8_t *halves = task->out;
            if (len >= SPLIT_LEN) { /* the pieces' chaining values, side by side: merge up to two */
                size_t n = len / PIECE_LEN;
                for (size_t m = n; m > 2; m /= 2)
                    for (size_t k = 0; k < m / 2; k++) {
                        output_t node = parent_output(halves + 2 * k * BLAKE3_OUT_LEN, self.key, self.chunk.flags);
                        output_chaining_value(&node, halves + k * BLAKE3_OUT_LEN);
                    }
                task += n;
            } else {
                task += 1;
            }
            hasher_push_cv(&self, halves, self.chunk.chunk_counter);
            hasher_push_cv(&self, halves + BLAKE3_OUT_LEN, self.chunk.chunk_counter + chunks / 2);
        }
        self.chunk.chunk_counter += chunks;
        input += len;
        input_len -= len;
    }
    if (input_len > 0) {
        chunk_state_update(&self.chunk, input, input_len);
        hasher_merge_cv_stack(&self, self.chunk.chunk_counter);
    }
    for (Py_ssize_t p = job->first[i] + 1; p < job->first[i + 1]; p++)
        blake3_hasher_update(&self, job->views[p].buf, (size_t)job->views[p].len);
    blake3_hasher_finalize(&self, job->out + i * OUT_LEN, OUT_LEN);
}

PyDoc_STRVAR(hash_items_doc,
             "hash_items(items, threads) -> bytes\n\n"
             "The 32-byte BLAKE3 digest of each item, concatenated; an item is a sequence of buffers\n"
             "hashed one after the other. On up to `threads` threads: small items one per thread at a\n"
             "time, the first buffer of a big one in subtrees that the threads share.");

static PyObject *hash_items(PyObject *self, PyObject *args) {
    PyObject *items_arg;
    int threads;
    if (!PyArg_ParseTuple(args, "Oi", &items_arg, &threads)) return NULL;
    PyObject *items = PySequence_Fast(items_arg, "hash_items: expected a sequence of items");
    if (items == NULL) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(items);
    PyObject **parts = calloc((size_t)n + 1, sizeof(PyObject *)); /* each item as a fast sequence */
    Py_ssize_t *first = calloc((size_t)n + 1, sizeof(Py_ssize_t));
    size_t *big = calloc((size_t)n + 1, sizeof(size_t)); /* a big item's first task + 1; 0: hashed whole */
    Py_buffer *views = NULL;
    task_t *tasks = NULL;
    uint8_t *cvs = NULL;
    Py_ssize_t n_views = 0, total = 0;
    PyObject *result = NULL;
    if (parts == NULL || first == NULL || big == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        parts[i] = PySequence_Fast(PySequence_Fast_GET_ITEM(items, i), "hash_items: expected each item to be a sequence of buffers");
        if (parts[i] == NULL) goto done;
        first[i] = total;
        total += PySequence_Fast_GET_SIZE(parts[i]);
    }
    first[n] = total;
    views = calloc((size_t)total + 1, sizeof(Py_buffer));
    if (views == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    size_t bytes = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        for (Py_ssize_t p = 0; p < PySequence_Fast_GET_SIZE(parts[i]); p++) {
            if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(parts[i], p), &views[n_views], PyBUF_SIMPLE) < 0) goto done;
            bytes += (size_t)views[n_views].len;
            n_views++;
        }
    /* The tasks: counted, then written. One thread hashes every item whole. */
    const int n_threads = threads_for(bytes, threads);
    size_t n_tasks = 0, cv_len = 0;
    for (int pass = 0; pass < 2; pass++) {
        n_tasks = cv_len = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            const Py_buffer *data = &views[first[i]];
            if (n_threads > 1 && first[i] < first[i + 1] && (size_t)data->len >= SPLIT_LEN) {
                big[i] = n_tasks + 1;
                plan_big_item(data->buf, (size_t)data->len, (size_t)i, tasks, &n_tasks, cvs, &cv_len);
            } else {
                if (tasks != NULL) tasks[n_tasks] = (task_t){.item = (size_t)i};
                n_tasks++;
            }
        }
        if (pass == 0) {
            tasks = malloc((n_tasks + 1) * sizeof(task_t));
            cvs = malloc(cv_len + 1);
            if (tasks == NULL || cvs == NULL) {
                PyErr_NoMemory();
                goto done;
            }
        }
    }
    result = PyBytes_FromStringAndSize(NULL, n * OUT_LEN);
    if (result == NULL) goto done;
    items_job job = {views, first, tasks, (uint8_t *)PyBytes_AS_STRING(result)};
    Py_BEGIN_ALLOW_THREADS
    parallel_for(n_threads, n_tasks, 1, run_tasks, &job);
    for (Py_ssize_t i = 0; i < n; i++)
        if (big[i]) finish_big_item(&job, (size_t)i, &tasks[big[i] - 1]);
    Py_END_ALLOW_THREADS
done:
    if (views != NULL) release_all(views, (int)n_views);
    if (parts != NULL)
        for (Py_ssize_t i = 0; i < n; i++) Py_XDECREF(parts[i]);
    free(views);
    free(parts);
    free(first);
    free(big);
    free(tasks);
    free(cvs);
    Py_DECREF(items);
    return result;
}

/* ---- leaves ---- */

PyDoc_STRVAR(make_leaves_doc,
             "make_leaves(leaf_type, kind, prefix, width, first, digests, size) -> list\n\n"
             "leaf_type(kind, f\"{prefix}{first + i:0{width}d}\", digests[32*i:32*i+32], size) for each\n"
             "32-byte digest, made without calling the class: allocated and its four slots (kind, name,\n"
             "digest, size) set through their member descriptors, as object.__new__ and\n"
             "object.__setattr__ would. For values valid by construction only: nothing is checked.");

static PyObject *make_leaves(PyObject *self, PyObject *args) {
    static const char *fields[4] = {"kind", "name", "digest", "size"};
    PyTypeObject *type;
    PyObject *kind, *prefix, *digests, *size;
    Py_ssize_t width, first;
    if (!PyArg_ParseTuple(args, "O!UUnnSO", &PyType_Type, &type, &kind, &prefix, &width, &first, &digests, &size))
        return NULL;
    if (width < 0 || width > 40 || first < 0)
        return PyErr_Format(PyExc_ValueError, "make_leaves: expected 0 <= width <= 40 and first >= 0, found %zd, %zd", width, first);
    Py_ssize_t n = PyBytes_GET_SIZE(digests) / OUT_LEN;
    if (PyBytes_GET_SIZE(digests) != n * OUT_LEN)
        return PyErr_Format(PyExc_ValueError, "make_leaves: expected 32 bytes per digest, found %zd bytes", PyBytes_GET_SIZE(digests));
    PyObject *slots[4] = {NULL, NULL, NULL, NULL};
    PyObject *list = NULL;
    for (int f = 0; f < 4; f++) {
        slots[f] = PyObject_GetAttrString((PyObject *)type, fields[f]);
        if (slots[f] == NULL) goto done;
        if (!Py_IS_TYPE(slots[f], &PyMemberDescr_Type)) {
            PyErr_Format(PyExc_TypeError, "make_leaves: expected %s.%s to be a slot, found %R", type->tp_name, fields[f], slots[f]);
            goto done;
        }
    }
    descrsetfunc set = Py_TYPE(slots[0])->tp_descr_set;
    list = PyList_New(n);
    if (list == NULL) goto done;
    const char *bytes = PyBytes_AS_STRING(digests);
    const int ascii = PyUnicode_IS_ASCII(prefix);
    const Py_ssize_t plen = PyUnicode_GET_LENGTH(prefix);
    /* Nothing made here can be part of a cycle, yet the collector would walk them all as they
     * come (the Python side pauses it the same way when it makes many leaves). */
    const int gc_was_enabled = PyGC_Disable();
    for (Py_ssize_t i = 0; i < n; i++) {
        char digits[64];
        int dlen = snprintf(digits, sizeof digits, "%0*zd", (int)width, first + i);
        PyObject *leaf = type->tp_alloc(type, 0);
        PyObject *name;
        if (ascii) { /* the common case, without a format parser */
            name = PyUnicode_New(plen + dlen, 127);
            if (name != NULL) {
                memcpy(PyUnicode_1BYTE_DATA(name), PyUnicode_1BYTE_DATA(prefix), (size_t)plen);
                memcpy(PyUnicode_1BYTE_DATA(name) + plen, digits, (size_t)dlen);
            }
        } else {
            name = PyUnicode_FromFormat("%U%s", prefix, digits);
        }
        PyObject *digest = PyBytes_FromStringAndSize(bytes + i * OUT_LEN, OUT_LEN);
        int bad = leaf == NULL || name == NULL || digest == NULL || set(slots[0], leaf, kind) < 0 ||
                  set(slots[1], leaf, name) < 0 || set(slots[2], leaf, digest) < 0 || set(slots[3], leaf, size) < 0;
        Py_XDECREF(name);
        Py_XDECREF(digest);
        if (bad) {
            Py_XDECREF(leaf);
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, leaf);
    }
    if (gc_was_enabled) PyGC_Enable();
done:
    for (int f = 0; f < 4; f++) Py_XDECREF(slots[f]);
    return list;
}

PyDoc_STRVAR(simd_degree_doc, "simd_degree() -> int\n\nMessages BLAKE3's widest instruction set on this CPU hashes at once.");

static PyObject *simd_degree(PyObject *self, PyObject *noargs) { return PyLong_FromSize_t(blake3_simd_degree()); }

static PyMethodDef methods[] = {
    {"hash_rows", hash_rows, METH_VARARGS, hash_rows_doc},
    {"hash_items", hash_items, METH_VARARGS, hash_items_doc},
    {"make_leaves", make_leaves, METH_VARARGS, make_leaves_doc},
    {"simd_degree", simd_degree, METH_NOARGS, simd_degree_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_blake3_native",
    "Many BLAKE3 digests per call, from the official C implementation (see blake3_native.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__blake3_native(void) {
    if (pthread_atfork(NULL, NULL, pool_after_fork) != 0) return PyErr_Format(PyExc_OSError, "pthread_atfork failed");
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && (PyModule_AddStringConstant(m, "BLAKE3_VERSION", BLAKE3_VERSION_STRING) < 0 ||
                      PyModule_AddIntConstant(m, "PIECE_LEN", PIECE_LEN) < 0 ||
                      PyModule_AddIntConstant(m, "SPLIT_LEN", SPLIT_LEN) < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
