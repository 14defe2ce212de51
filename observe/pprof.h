/* pprof.h: writes heap profiles in pprof's protobuf format, which `go tool
 * pprof` and `pprof` read; the samples come from the caller. */
#ifndef TCI_PPROF_H
#define TCI_PPROF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tricolor.h"

typedef struct tci_pprof_sample {
    const uintptr_t *pcs;   /* native return addresses, innermost first */
    size_t npcs;
    const tc_frame *guest;  /* guest-language frames, innermost first; they come
                               BEFORE the native frames in the sample's stack */
    size_t nguest;
    int64_t values[4];      /* alloc_objects, alloc_space (bytes), inuse_objects,
                               inuse_space (bytes): already scaled by the caller */
    int64_t object_bytes;   /* written as a numeric label "bytes" (unit "bytes"),
                               as Go's heap profiles do */
} tci_pprof_sample;

/* Writes the profile of the n samples s to f: sample types
 * alloc_objects/count, alloc_space/bytes, inuse_objects/count,
 * inuse_space/bytes (Go's heap-profile names and order), period_type
 * space/bytes, period = rate, time_nanos = time_ns, default_sample_type
 * "inuse_space". Native frames are symbolized (function names only, not
 * demangled; no file or line), and the process's executable mappings are
 * recorded with their build ids. The protobuf is not gzipped: pprof reads
 * it as it is. A NULL function or file of a guest frame is written as "".
 * Returns 0, or -1 with errno set (EIO on a write error, ENOMEM, EINVAL for
 * a NULL f, or a NULL s, pcs or guest with a nonzero count). Allocates
 * with malloc only (never from the GC heap). */
int tci_pprof_write_heap(FILE *f, const tci_pprof_sample *s, size_t n, int64_t rate,
                         int64_t time_ns);

#endif
