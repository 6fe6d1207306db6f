/*
 * kcache.h — the on-disk kernel cache: compiled code kept between processes, as Triton's
 * ~/.triton/cache and the CUDA driver's ComputeCache keep theirs.
 *
 * An entry is one file named by a hash of its key, holding a header (magic, lengths, the
 * payload's checksum), the full key text and the payload.  A load checks all of it, so a
 * corrupt, truncated, foreign or colliding entry is a miss, never a wrong kernel.  Writes
 * go to a temporary file in the same directory, then rename(), so a reader sees a whole
 * entry or none, whatever the number of processes and threads.  Every failure (no
 * directory, a read-only one, a full disk, no memory) is a miss or a skipped write:
 * nothing here reports an error to the caller or prints.
 *
 * Keys are text: the caller's (what the code depends on: for the CPU JIT, runtime/jit.c
 * writes "cpu-obj", the LLVM identity, the host CPU and the program) after the einc
 * build this file adds to every key.  A CUDA entry is meant to start "cuda-cubin" or
 * "cuda-ptx" with the GPU architecture and the NVRTC and driver versions; the format needs
 * no change for it.
 */
#ifndef EINC_KCACHE_H
#define EINC_KCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kcache kcache;

#define KCACHE_DEFAULT_MAX ((int64_t)1 << 30)

/* Where a cache lives and whether it is used: NULL / 0 fields follow the environment. */
typedef struct kcache_opts {
    int use;                    /* 0: on unless EINC_CACHE=0; > 0 on; < 0 off */
    const char *dir;            /* NULL or "": EINC_CACHE_DIR, $XDG_CACHE_HOME/einc, ~/.cache/einc */
    int64_t max;                /* bytes; <= 0: EINC_CACHE_MAX, else KCACHE_DEFAULT_MAX */
} kcache_opts;

/* NULL only when out of memory; a cache that is off still says where it would be. */
kcache *kcache_new(const kcache_opts *o);
void kcache_free(kcache *kc);

bool kcache_on(const kcache *kc);           /* false for NULL */
const char *kcache_dir(const kcache *kc);   /* NULL when no directory could be named */
int64_t kcache_max(const kcache *kc);
/* Why the cache is off ("EINC_CACHE=0", "HOME is not set"), or NULL when on. */
const char *kcache_off_reason(const kcache *kc);

/*
 * The payload stored under key (malloc'ed, *len bytes; the caller frees it), or NULL on a
 * miss of any kind.  A hit marks the entry recently used.
 */
void *kcache_get(kcache *kc, const char *key, size_t *len);

/* Stores len bytes under key, replacing what was there; evicts least recently used entries
   beyond the size bound.  Silent on failure. */
void kcache_put(kcache *kc, const char *key, const void *data, size_t len);

/* Removes key's entry, if any (one that read back whole but would not load). */
void kcache_drop(kcache *kc, const char *key);

/*
 * The entries' count and bytes (temporary files of unfinished writes included in neither).
 * 0, or -1 with errno set when the directory cannot be read (ENOENT: it does not exist yet).
 */
int kcache_stat(const kcache *kc, int64_t *entries, int64_t *bytes);

/* Removes every entry and leftover temporary file, nothing else.  Counts as kcache_stat. */
int kcache_clear(const kcache *kc, int64_t *entries, int64_t *bytes);

/* A 64-bit hash of s, as the cache names entries (jit.c names a kernel's symbols by it). */
uint64_t kcache_hash(const char *s);

/*
 * An identity of the loaded binary (executable or shared library) holding addr: its ELF
 * build ID ("b:HEX"), else its size, modification time and inode ("f:..."), so any
 * relinking of einc or of LLVM changes the keys.  0, or -1 when there is none.
 */
int kcache_module_id(const void *addr, char *out, size_t n);

#endif
