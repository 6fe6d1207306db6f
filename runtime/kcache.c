/*
 * kcache.c — see kcache.h.
 *
 * Layout: DIR/HHHHHHHHHHHHHHHH.einck, H the hash of the full key (the einc build, then the
 * caller's key); a write in progress is DIR/HHHHHHHHHHHHHHHH.einck.tmpXXXXXX (mkstemp).
 * Nothing else in the directory is read, counted or removed, so a user may point
 * EINC_CACHE_DIR at a directory that holds other files.
 *
 * Least recently used: a hit sets the entry's modification time (atime is unreliable
 * under relatime and noatime mounts), and eviction removes the oldest first.  Finding the
 * directory's size means reading all of it, so a cache scans at its first write and when
 * the bytes it has written since would pass the bound, then evicts to 90% of it: a
 * process that compiles many kernels scans rarely, and the bound holds up to what other
 * processes wrote since.
 *
 * No fsync: after a crash a renamed entry may read back short or zeroed, which its length
 * and checksum reject like any other damage.  Entries are loaded as code, so one the
 * effective user does not own is ignored (a shared directory cannot inject a kernel).
 */
#define _GNU_SOURCE     /* dl_iterate_phdr, mkostemp */
#include "kcache.h"
#include "alloc.h"
#include "fdio.h"
#include "einc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <link.h>
#endif

#define MAGIC "einck01\n"       /* the entry format; a new layout takes a new number */
#define SUFFIX ".einck"
#define TMP_SUFFIX ".einck.tmp"
#define STALE_TMP_SECONDS 3600  /* a temporary file this old belongs to a writer that died */

typedef struct ehdr {
    char magic[8];
    uint64_t key_len;           /* the full key's bytes, which follow the header */
    uint64_t data_len;          /* the payload's, which follow the key */
    uint64_t data_sum;          /* hash64 of the payload */
} ehdr;

struct kcache {
    char *dir;                  /* NULL when none could be named */
    const char *off;            /* why it is off, or NULL */
    int64_t max;
    char build[192];            /* "einc VERSION ID\n": starts every full key */
    pthread_mutex_t mu;         /* guards est */
    int64_t est;                /* bytes believed in the directory; -1 before the first scan */
};

/* FNV-1a with a final mix (murmur3's fmix64), so similar keys spread over file names. */
static uint64_t hash64(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

#define HASH_SEED 1469598103934665603ull

uint64_t kcache_hash(const char *s) { return hash64(HASH_SEED, s, strlen(s)); }

/* ---- the binary's identity ------------------------------------------------------------ */

#if defined(__linux__)
typedef struct modfind {
    uintptr_t addr;
    char *out;
    size_t n;
    int found;                  /* 1: build ID written; 2: module found, no build ID */
    char path[4096];
} modfind;

static int hex(char *out, size_t n, const unsigned char *p, size_t len, const char *prefix)
{
    size_t k = strlen(prefix);
    if (n < k + 2 * len + 1)
        return -1;
    memcpy(out, prefix, k);
    for (size_t i = 0; i < len; i++)
        snprintf(out + k + 2 * i, 3, "%02x", p[i]);
    return 0;
}

/* The module whose loaded segments hold f->addr, and its NT_GNU_BUILD_ID note. */
static int find_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    modfind *f = arg;
    (void)size;
    bool mine = false;
    for (int i = 0; i < info->dlpi_phnum && !mine; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        mine = ph->p_type == PT_LOAD && f->addr >= lo && f->addr - lo < ph->p_memsz;
    }
    if (!mine)
        return 0;
    snprintf(f->path, sizeof f->path, "%s", *info->dlpi_name ? info->dlpi_name : "/proc/self/exe");
    f->found = 2;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        size_t align = ph->p_align == 8 ? 8 : 4;
        const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
        const unsigned char *end = p + ph->p_memsz;
        while ((size_t)(end - p) >= sizeof(ElfW(Nhdr))) {
            ElfW(Nhdr) nh;
            memcpy(&nh, p, sizeof nh);
            size_t name = (nh.n_namesz + align - 1) / align * align;
            size_t desc = (nh.n_descsz + align - 1) / align * align;
            const unsigned char *d = p + sizeof nh + name;
            if (name > (size_t)(end - p) || desc > (size_t)(end - d))
                break;
            if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && memcmp(p + sizeof nh, "GNU", 4) == 0 &&
                nh.n_descsz > 0 && hex(f->out, f->n, d, nh.n_descsz, "b:") == 0) {
                f->found = 1;
                return 1;
            }
            p = d + desc;
        }
    }
    return 1;
}
#endif

int kcache_module_id(const void *addr, char *out, size_t n)
{
#if defined(__linux__)
    modfind f = { .addr = (uintptr_t)addr, .out = out, .n = n };
    dl_iterate_phdr(find_module, &f);
    if (f.found == 1)
        return 0;
    struct stat st;
    if (f.found == 2 && stat(f.path, &st) == 0) {
        int w = snprintf(out, n, "f:%llx:%llx.%09ld:%llx", (unsigned long long)st.st_size,
                         (unsigned long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec,
                         (unsigned long long)st.st_ino);
        return w > 0 && (size_t)w < n ? 0 : -1;
    }
#else
    (void)addr, (void)out, (void)n;
#endif
    return -1;
}

/* ---- opening ------------------------------------------------------------------------- */

static char *dup_join(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    char *s = einc_malloc(n + m + 1);
    if (s) {
        memcpy(s, a, n);
        memcpy(s + n, b, m + 1);
    }
    return s;
}

static bool env_set(const char *name, const char **v)
{
    *v = getenv(name);
    return *v && **v;
}

/* "123", "64K", "512M", "2G" (powers of 1024); -1 when it is none of them. */
static int64_t parse_bytes(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    int64_t mul = *end == 'K' || *end == 'k' ? 1 << 10 : *end == 'M' || *end == 'm' ? 1 << 20
                : *end == 'G' || *end == 'g' ? 1 << 30 : 1;
    if (errno || end == s || v < 0 || (mul > 1 ? end[1] != 0 : *end != 0) ||
        __builtin_mul_overflow((int64_t)v, mul, &mul))
        return -1;
    return mul;
}

static const char anchor = 0;   /* an address inside einc, for its build ID */

kcache *kcache_new(const kcache_opts *o)
{
    static const kcache_opts none = { 0 };
    if (!o)
        o = &none;
    kcache *kc = einc_calloc(1, sizeof *kc);
    if (!kc)
        return NULL;
    pthread_mutex_init(&kc->mu, NULL);
    kc->est = -1;
    const char *v;
    if (o->dir && *o->dir) {
        kc->dir = dup_join(o->dir, "");
    } else if (env_set("EINC_CACHE_DIR", &v)) {
        kc->dir = dup_join(v, "");
    } else if (env_set("XDG_CACHE_HOME", &v) && *v == '/') {   /* the XDG spec: absolute only */
        kc->dir = dup_join(v, "/einc");
    } else if (env_set("HOME", &v)) {
        kc->dir = dup_join(v, "/.cache/einc");
    } else {
        kc->off = "no cache directory: EINC_CACHE_DIR, XDG_CACHE_HOME and HOME are unset";
    }
    if (!kc->dir && !kc->off) {
        kcache_free(kc);
        return NULL;
    }
    /* a trailing slash would double in file names and in what the CLI shows */
    for (size_t n = kc->dir ? strlen(kc->dir) : 0; n > 1 && kc->dir[n - 1] == '/'; n--)
        kc->dir[n - 1] = 0;
    kc->max = o->max > 0 ? o->max : KCACHE_DEFAULT_MAX;
    if (o->max <= 0 && env_set("EINC_CACHE_MAX", &v) && parse_bytes(v) >= 0)
        kc->max = parse_bytes(v);
    char id[160];
    if (o->use < 0)
        kc->off = "turned off by the context's options";
    else if (o->use == 0 && env_set("EINC_CACHE", &v) &&
             (!strcmp(v, "0") || !strcasecmp(v, "off") || !strcasecmp(v, "false") ||
              !strcasecmp(v, "no")))
        kc->off = "EINC_CACHE=0";
    else if (kc->max == 0)
        kc->off = "EINC_CACHE_MAX=0";
    else if (kcache_module_id(&anchor, id, sizeof id) < 0)
        kc->off = "einc's binary cannot be identified, so its entries could not be told apart";
    else
        snprintf(kc->build, sizeof kc->build, "einc %s %s\n", EINC_VERSION, id);
    return kc;
}

void kcache_free(kcache *kc)
{
    if (!kc)
        return;
    pthread_mutex_destroy(&kc->mu);
    einc_free(kc->dir);
    einc_free(kc);
}

bool kcache_on(const kcache *kc) { return kc && !kc->off; }
const char *kcache_dir(const kcache *kc) { return kc ? kc->dir : NULL; }
int64_t kcache_max(const kcache *kc) { return kc ? kc->max : 0; }
const char *kcache_off_reason(const kcache *kc) { return kc ? kc->off : "out of memory"; }

/* ---- entries ------------------------------------------------------------------------- */

static bool is_hex16(const char *s)
{
    for (int i = 0; i < 16; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* 1: an entry; 2: a temporary file of a write; 0: not the cache's. */
static int cache_file(const char *name)
{
    if (strlen(name) < 16 || !is_hex16(name))
        return 0;
    if (strcmp(name + 16, SUFFIX) == 0)
        return 1;
    return strncmp(name + 16, TMP_SUFFIX, strlen(TMP_SUFFIX)) == 0 &&
           strlen(name + 16 + strlen(TMP_SUFFIX)) == 6 ? 2 : 0;
}

/* The full key (the build, then key) and the entry's path; 0, or -1 when out of memory. */
static int locate(const kcache *kc, const char *key, char **full, char **path)
{
    *full = dup_join(kc->build, key);
    *path = einc_malloc(strlen(kc->dir) + 1 + 16 + sizeof SUFFIX);
    if (!*full || !*path) {
        einc_free(*full);
        einc_free(*path);
        return -1;
    }
    sprintf(*path, "%s/%016llx%s", kc->dir,
            (unsigned long long)hash64(HASH_SEED, *full, strlen(*full)), SUFFIX);
    return 0;
}

static int read_all(int fd, void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* The payload of the open entry fd if it is whole and holds full's key; else NULL. */
static void *load(const kcache *kc, int fd, const char *full, size_t *len)
{
    struct stat st;
    ehdr h;
    size_t klen = strlen(full);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        (uint64_t)st.st_size < sizeof h || read_all(fd, &h, sizeof h) != 0 ||
        memcmp(h.magic, MAGIC, sizeof h.magic) != 0 || h.key_len != klen ||
        h.data_len > (uint64_t)kc->max || (uint64_t)st.st_size != sizeof h + klen + h.data_len)
        return NULL;
    char *k = einc_malloc(klen + 1);
    void *data = k ? einc_malloc(h.data_len ? h.data_len : 1) : NULL;
    bool ok = data && read_all(fd, k, klen) == 0 && memcmp(k, full, klen) == 0 &&
              read_all(fd, data, h.data_len) == 0 &&
              hash64(HASH_SEED, data, h.data_len) == h.data_sum;
    einc_free(k);
    if (!ok) {
        einc_free(data);
        return NULL;
    }
    *len = h.data_len;
    return data;
}

void *kcache_get(kcache *kc, const char *key, size_t *len)
{
    char *full, *path;
    if (!kcache_on(kc) || locate(kc, key, &full, &path) < 0)
        return NULL;
    void *data = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
        if ((data = load(kc, fd, full, len)))
            futimens(fd, NULL);     /* recently used; in a read-only directory, as it was */
        close(fd);
    }
    einc_free(full);
    einc_free(path);
    return data;
}

void kcache_drop(kcache *kc, const char *key)
{
    char *full, *path;
    if (!kcache_on(kc) || locate(kc, key, &full, &path) < 0)
        return;
    unlink(path);
    einc_free(full);
    einc_free(path);
}

/* mkdir -p, the directories it makes private to the user (as the XDG spec asks). */
static void make_dirs(const char *dir)
{
    char *p = dup_join(dir, "");
    if (!p)
        return;
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0700);
            *s = '/';
        }
    mkdir(p, 0700);
    einc_free(p);
}

typedef struct fentry {
    char name[40];
    int64_t bytes;
    struct timespec used;
} fentry;

/*
 * The directory's entries (into *list, when list is not NULL) and their bytes; temporary
 * files older than STALE_TMP_SECONDS are removed, and every one when all_tmp.  -1 with
 * errno when the directory cannot be read, or when out of memory.
 */
static int scan(const char *dir, fentry **list, int64_t *count, int64_t *bytes, bool all_tmp)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int fd = dirfd(d), rc = 0;
    size_t cap = 0;
    time_t now = time(NULL);
    *count = *bytes = 0;
    if (list)
        *list = NULL;
    for (struct dirent *de; (de = readdir(d));) {
        int kind = cache_file(de->d_name);
        struct stat st;
        if (!kind || fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (kind == 2) {
            if (all_tmp || now - st.st_mtim.tv_sec > STALE_TMP_SECONDS)
                unlinkat(fd, de->d_name, 0);
            continue;
        }
        if (list && (size_t)*count == cap) {
            cap = cap ? 2 * cap : 64;
            fentry *l = einc_realloc(*list, cap * sizeof *l);
            if (!l) {
                errno = ENOMEM;
                rc = -1;
                break;
            }
            *list = l;
        }
        if (list) {
            fentry *e = &(*list)[*count];
            snprintf(e->name, sizeof e->name, "%s", de->d_name);
            e->bytes = st.st_size;
            e->used = st.st_mtim;
        }
        (*count)++;
        *bytes += st.st_size;
    }
    closedir(d);
    if (rc < 0 && list) {
        einc_free(*list);
        *list = NULL;
    }
    return rc;
}

static int by_use(const void *a, const void *b)
{
    const fentry *x = a, *y = b;
    if (x->used.tv_sec != y->used.tv_sec)
        return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
    return (x->used.tv_nsec > y->used.tv_nsec) - (x->used.tv_nsec < y->used.tv_nsec);
}

/* Removes the least recently used entries, never keep (the one just written), until the
   directory holds 90% of the bound.  Called with kc->mu held. */
static void evict(kcache *kc, const char *keep)
{
    fentry *l;
    int64_t n, bytes;
    if (scan(kc->dir, &l, &n, &bytes, false) < 0)
        return;
    int64_t goal = kc->max / 10 * 9;
    if (bytes > kc->max) {
        qsort(l, (size_t)n, sizeof *l, by_use);
        for (int64_t i = 0; i < n && bytes > goal; i++) {
            if (strcmp(l[i].name, keep) == 0)
                continue;
            char *p = einc_malloc(strlen(kc->dir) + sizeof l[i].name + 2);
            if (p) {
                sprintf(p, "%s/%s", kc->dir, l[i].name);
                if (unlink(p) == 0 || errno == ENOENT)
                    bytes -= l[i].bytes;
                einc_free(p);
            }
        }
    }
    kc->est = bytes;
    einc_free(l);
}

void kcache_put(kcache *kc, const char *key, const void *data, size_t len)
{
    char *full, *path;
    if (!kcache_on(kc) || locate(kc, key, &full, &path) < 0)
        return;
    size_t klen = strlen(full), plen = strlen(path);
    uint64_t total = sizeof(ehdr) + klen + len;
    char *tmp = einc_malloc(plen + sizeof TMP_SUFFIX + 7);
    if (total > (uint64_t)kc->max || !tmp)
        goto done;
    sprintf(tmp, "%.*s%sXXXXXX", (int)(plen - strlen(SUFFIX)), path, TMP_SUFFIX);
    char *name = strrchr(path, '/') + 1;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        make_dirs(kc->dir);
        sprintf(tmp, "%.*s%sXXXXXX", (int)(plen - strlen(SUFFIX)), path, TMP_SUFFIX);
        fd = mkostemp(tmp, O_CLOEXEC);
    }
    if (fd < 0)
        goto done;
    ehdr h = { .key_len = klen, .data_len = len, .data_sum = hash64(HASH_SEED, data, len) };
    memcpy(h.magic, MAGIC, sizeof h.magic);
    bool ok = fd_write_all(fd, &h, sizeof h) == 0 && fd_write_all(fd, full, klen) == 0 &&
              fd_write_all(fd, data, len) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        goto done;
    }
    pthread_mutex_lock(&kc->mu);
    if (kc->est < 0 || kc->est + (int64_t)total > kc->max)
        evict(kc, name);
    else
        kc->est += (int64_t)total;
    pthread_mutex_unlock(&kc->mu);
done:
    einc_free(tmp);
    einc_free(full);
    einc_free(path);
}

int kcache_stat(const kcache *kc, int64_t *entries, int64_t *bytes)
{
    *entries = *bytes = 0;
    if (!kc || !kc->dir) {
        errno = ENOENT;
        return -1;
    }
    return scan(kc->dir, NULL, entries, bytes, false);
}

int kcache_clear(const kcache *kc, int64_t *entries, int64_t *bytes)
{
    fentry *l;
    int64_t n, b;
    *entries = *bytes = 0;
    if (!kc || !kc->dir) {
        errno = ENOENT;
        return -1;
    }
    if (scan(kc->dir, &l, &n, &b, true) < 0)
        return -1;
    int first_errno = 0;        /* the first failure's, reported after trying the rest */
    for (int64_t i = 0; i < n; i++) {
        char *p = einc_malloc(strlen(kc->dir) + sizeof l[i].name + 2);
        if (!p) {
            first_errno = first_errno ? first_errno : ENOMEM;
            break;
        }
        sprintf(p, "%s/%s", kc->dir, l[i].name);
        if (unlink(p) == 0) {
            (*entries)++;
            *bytes += l[i].bytes;
        } else if (errno != ENOENT && !first_errno) {
            first_errno = errno;
        }
        einc_free(p);
    }
    einc_free(l);
    errno = first_errno;
    return first_errno ? -1 : 0;
}
