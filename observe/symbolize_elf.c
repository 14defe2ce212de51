/* symbolize_elf.c: symbolize.h for ELF64 files: the dynamic linker's
 * symbols first (dladdr), then the file's own symbol table, which holds the
 * static functions and the executable's functions the loader never sees.
 *
 * A code address becomes an address in the file's own terms in two steps:
 * the mapping gives the file offset (pc - start + mapping offset), and the
 * PT_LOAD segment holding that offset gives the link-time address
 * (offset - p_offset + p_vaddr). The same two steps serve a position-
 * independent file (ET_DYN, loaded at any base) and a fixed one (ET_EXEC,
 * where they give back pc itself), so neither needs its own case. */
#include "symbolize.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* No section bigger than this is read: a symbol table is a few MiB even
 * for big programs, and a corrupt header must not make us allocate GiBs. */
#define SECTION_MAX_BYTES ((uint64_t)256 << 20)
/* Build ids are 20 bytes (SHA-1) from GNU ld, 16 (MD5/UUID) from others. */
#define BUILD_ID_MAX_BYTES 64

typedef struct elf_func {
    uint64_t addr, size; /* link-time address; size 0: unknown */
    uint32_t name;       /* offset in strtab */
} elf_func;

typedef struct elf_load {
    uint64_t offset, filesz, vaddr;
} elf_load;

typedef struct elf_file {
    char *path;          /* the cache key */
    int has_headers;     /* loads and build_id read (or found unreadable) */
    int has_funcs;       /* funcs read (or found missing) */
    elf_load *loads;
    size_t nloads;
    char *build_id;      /* hex; NULL: none */
    elf_func *funcs;     /* sorted by addr */
    size_t nfuncs;
    char *strtab;        /* names of funcs */
    size_t strtab_bytes;
} elf_file;

struct tci_symbolizer {
    elf_file *files;
    size_t nfiles, cap;
};

tci_symbolizer *tci_symbolize_create(void)
{
    tci_symbolizer *s = calloc(1, sizeof *s);
    if (!s)
        errno = ENOMEM;
    return s;
}

void tci_symbolize_destroy(tci_symbolizer *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nfiles; i++) {
        elf_file *f = &s->files[i];
        free(f->path);
        free(f->loads);
        free(f->build_id);
        free(f->funcs);
        free(f->strtab);
    }
    free(s->files);
    free(s);
}

/* The whole of [off, off + len) of fd, or -1 (short file, I/O error). */
static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
    char *p = buf;
    while (len > 0) {
        ssize_t got = pread(fd, p, len, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        p += got;
        len -= (size_t)got;
        off += (uint64_t)got;
    }
    return 0;
}

/* Whether [off, off + len) lies inside a file of file_bytes. */
static int in_file(uint64_t off, uint64_t len, uint64_t file_bytes)
{
    return off <= file_bytes && len <= file_bytes - off;
}

/* A malloc'd copy of [off, off + len) of fd. NULL with *oom set when
 * malloc failed, NULL alone when the file is short. */
static void *read_alloc(int fd, uint64_t off, uint64_t len, int *oom)
{
    if (len > SECTION_MAX_BYTES)
        return NULL;
    void *p = malloc(len ? (size_t)len : 1);
    if (!p) {
        *oom = 1;
        return NULL;
    }
    if (read_at(fd, p, (size_t)len, off) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

static int header_usable(const Elf64_Ehdr *eh)
{
    /* The file must be laid out as this process is: the fields are read
     * straight into the host's structs. */
    const uint16_t one = 1;
    unsigned char host_data = *(const unsigned char *)&one ? ELFDATA2LSB : ELFDATA2MSB;
    return memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 &&
           eh->e_ident[EI_CLASS] == ELFCLASS64 && sizeof(void *) == 8 &&
           eh->e_ident[EI_DATA] == host_data &&
           (eh->e_type == ET_EXEC || eh->e_type == ET_DYN);
}

/* The GNU build id among the notes of one PT_NOTE segment, into f as hex.
 * 0, or -1 when out of memory. */
static int notes_find_build_id(elf_file *f, const unsigned char *notes, size_t len,
                               uint64_t align)
{
    /* Notes are padded to 4 bytes, or to 8 in a segment aligned so. */
    size_t pad = align == 8 ? 8 : 4;
    size_t at = 0;
    while (len - at >= sizeof(Elf64_Nhdr)) {
        Elf64_Nhdr nh;
        memcpy(&nh, notes + at, sizeof nh);
        at += sizeof nh;
        size_t name_len = ((size_t)nh.n_namesz + pad - 1) & ~(pad - 1);
        size_t desc_len = ((size_t)nh.n_descsz + pad - 1) & ~(pad - 1);
        if (name_len > len - at || desc_len > len - at - name_len)
            return 0;
        const unsigned char *name = notes + at;
        const unsigned char *desc = notes + at + name_len;
        at += name_len + desc_len;
        if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
            memcmp(name, "GNU", 4) != 0 || nh.n_descsz == 0 ||
            nh.n_descsz > BUILD_ID_MAX_BYTES)
            continue;
        static const char hex[] = "0123456789abcdef";
        char *out = malloc(2 * (size_t)nh.n_descsz + 1);
        if (!out)
            return -1;
        for (size_t i = 0; i < nh.n_descsz; i++) {
            out[2 * i] = hex[desc[i] >> 4];
            out[2 * i + 1] = hex[desc[i] & 15];
        }
        out[2 * (size_t)nh.n_descsz] = 0;
        f->build_id = out;
        return 0;
    }
    return 0;
}

/* The loadable segments and the build id, from the program headers. A file
 * that is not a usable ELF leaves both empty. 0, or -1 when out of memory. */
static int read_headers(elf_file *f, int fd, uint64_t file_bytes, const Elf64_Ehdr *eh)
{
    int oom = 0;
    if (eh->e_phentsize != sizeof(Elf64_Phdr) ||
        !in_file(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), file_bytes))
        return 0;
    Elf64_Phdr *ph = read_alloc(fd, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof *ph, &oom);
    if (!ph)
        return oom ? -1 : 0;
    f->loads = malloc((eh->e_phnum ? eh->e_phnum : 1) * sizeof *f->loads);
    if (!f->loads)
        oom = 1;
    for (size_t i = 0; !oom && i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD) {
            f->loads[f->nloads++] = (elf_load){ph[i].p_offset, ph[i].p_filesz, ph[i].p_vaddr};
        } else if (ph[i].p_type == PT_NOTE && !f->build_id &&
                   in_file(ph[i].p_offset, ph[i].p_filesz, file_bytes) &&
                   ph[i].p_filesz <= 1 << 16) {
            unsigned char *notes = read_alloc(fd, ph[i].p_offset, ph[i].p_filesz, &oom);
            if (notes && notes_find_build_id(f, notes, ph[i].p_filesz, ph[i].p_align) != 0)
                oom = 1;
            free(notes);
        }
    }
    free(ph);
    return oom ? -1 : 0;
}

static int func_by_addr(const void *a, const void *b)
{
    const elf_func *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* The functions of the symbol table (.symtab; .dynsym when the file was
 * stripped of it), sorted by address. 0, or -1 when out of memory. */
static int read_funcs(elf_file *f, int fd, uint64_t file_bytes, const Elf64_Ehdr *eh)
{
    int oom = 0;
    if (eh->e_shnum == 0 || eh->e_shentsize != sizeof(Elf64_Shdr) ||
        !in_file(eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr), file_bytes))
        return 0;
    Elf64_Shdr *sh = read_alloc(fd, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof *sh, &oom);
    if (!sh)
        return oom ? -1 : 0;
    const Elf64_Shdr *tab = NULL;
    for (size_t i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type == SHT_SYMTAB)
            tab = &sh[i];
        else if (sh[i].sh_type == SHT_DYNSYM && !tab)
            tab = &sh[i];
    }
    Elf64_Sym *syms = NULL;
    if (!tab || tab->sh_link >= eh->e_shnum || tab->sh_entsize != sizeof(Elf64_Sym))
        goto out;
    const Elf64_Shdr *str = &sh[tab->sh_link];
    if (!in_file(tab->sh_offset, tab->sh_size, file_bytes) ||
        !in_file(str->sh_offset, str->sh_size, file_bytes) || str->sh_size == 0)
        goto out;
    syms = read_alloc(fd, tab->sh_offset, tab->sh_size, &oom);
    f->strtab = syms ? read_alloc(fd, str->sh_offset, str->sh_size, &oom) : NULL;
    if (!f->strtab)
        goto out;
    f->strtab_bytes = (size_t)str->sh_size;
    f->strtab[f->strtab_bytes - 1] = 0; /* every name ends inside the table */
    size_t nsyms = (size_t)(tab->sh_size / sizeof *syms);
    f->funcs = malloc((nsyms ? nsyms : 1) * sizeof *f->funcs);
    if (!f->funcs) {
        oom = 1;
        goto out;
    }
    for (size_t i = 0; i < nsyms; i++) {
        const Elf64_Sym *y = &syms[i];
        int type = ELF64_ST_TYPE(y->st_info);
        if ((type != STT_FUNC && type != STT_GNU_IFUNC) || y->st_shndx == SHN_UNDEF ||
            y->st_value == 0 || y->st_name == 0 || y->st_name >= f->strtab_bytes)
            continue;
        f->funcs[f->nfuncs++] = (elf_func){y->st_value, y->st_size, y->st_name};
    }
    qsort(f->funcs, f->nfuncs, sizeof *f->funcs, func_by_addr);
out:
    free(syms);
    free(sh);
    return oom ? -1 : 0;
}

/* Reads what `want_funcs` asks of f that is not yet read. A file that
 * cannot be opened or is no usable ELF is remembered as empty, so it is
 * tried once per profile. 0, or -1 when out of memory. */
static int file_load(elf_file *f, int want_funcs)
{
    if (f->has_headers && (f->has_funcs || !want_funcs))
        return 0;
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    Elf64_Ehdr eh;
    int usable = fd >= 0 && fstat(fd, &st) == 0 && read_at(fd, &eh, sizeof eh, 0) == 0 &&
                 header_usable(&eh);
    int rc = 0;
    if (usable && !f->has_headers)
        rc = read_headers(f, fd, (uint64_t)st.st_size, &eh);
    if (usable && rc == 0 && want_funcs && !f->has_funcs)
        rc = read_funcs(f, fd, (uint64_t)st.st_size, &eh);
    if (fd >= 0)
        close(fd);
    /* Marked read even after running out of memory: a second read would
     * overwrite (and leak) what the first one allocated, and the profile
     * is abandoned anyway. An unusable file has no functions to read on a
     * later call either. */
    f->has_headers = 1;
    if (want_funcs || !usable)
        f->has_funcs = 1;
    return rc;
}

/* The cache entry for path, made empty on first use. NULL when out of
 * memory. */
static elf_file *file_for(tci_symbolizer *s, const char *path)
{
    for (size_t i = 0; i < s->nfiles; i++)
        if (strcmp(s->files[i].path, path) == 0)
            return &s->files[i];
    if (s->nfiles == s->cap) {
        size_t ncap = s->cap ? 2 * s->cap : 8;
        elf_file *grown = realloc(s->files, ncap * sizeof *grown);
        if (!grown)
            return NULL;
        s->files = grown;
        s->cap = ncap;
    }
    elf_file *f = &s->files[s->nfiles];
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    if (!f->path)
        return NULL;
    s->nfiles++;
    return f;
}

/* The function of f covering link-time address vaddr, or NULL. */
static const char *file_lookup(const elf_file *f, uint64_t vaddr)
{
    size_t lo = 0, hi = f->nfuncs; /* the first func above vaddr is in [lo, hi] */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->funcs[mid].addr <= vaddr)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* Aliases share an address; any that covers vaddr names it. A symbol
     * without a size covers only its first byte, as dladdr has it: taking
     * the nearest one below would name the wrong function whenever a
     * stripped static function lies between two exported ones. */
    for (size_t i = lo; i-- > 0 && f->funcs[i].addr == f->funcs[lo - 1].addr;) {
        const elf_func *fn = &f->funcs[i];
        if (vaddr == fn->addr || vaddr - fn->addr < fn->size)
            return f->strtab + fn->name;
    }
    return NULL;
}

int tci_symbolize_function(tci_symbolizer *s, const tci_os_mapping *m, uintptr_t pc,
                            const char **name)
{
    *name = NULL;
    Dl_info info;
    if (dladdr((void *)pc, &info) != 0 && info.dli_sname && info.dli_saddr) {
        *name = info.dli_sname;
        return 0;
    }
    elf_file *f = file_for(s, m->path);
    if (!f || file_load(f, 1) != 0) {
        errno = ENOMEM;
        return -1;
    }
    uint64_t off = (uint64_t)(pc - m->start) + m->offset;
    for (size_t i = 0; i < f->nloads; i++) {
        const elf_load *l = &f->loads[i];
        if (off >= l->offset && off - l->offset < l->filesz) {
            *name = file_lookup(f, off - l->offset + l->vaddr);
            break;
        }
    }
    return 0;
}

int tci_symbolize_build_id(tci_symbolizer *s, const tci_os_mapping *m,
                            const char **build_id)
{
    *build_id = NULL;
    elf_file *f = file_for(s, m->path);
    if (!f || file_load(f, 0) != 0) {
        errno = ENOMEM;
        return -1;
    }
    *build_id = f->build_id;
    return 0;
}
