/* symbolize.h: function names and build ids for native code addresses, for
 * profiles; one implementation per object-file format (symbolize_elf.c). */
#ifndef TCI_SYMBOLIZE_H
#define TCI_SYMBOLIZE_H

#include <stdint.h>

#include "os.h"

/* Caches what it read of each object file, so that one profile opens a
 * file once: create one per profile write and destroy it after. Not
 * thread-safe. Every string it hands out lives until destroy. Allocates
 * with malloc only: a profile may be written while the heap is busy. */
typedef struct tci_symbolizer tci_symbolizer;

tci_symbolizer *tci_symbolize_create(void); /* NULL with errno ENOMEM */
void tci_symbolize_destroy(tci_symbolizer *s);

/* Sets *name to the function holding the instruction at pc, which lies in
 * mapping m, or to NULL when no symbol covers it (a stripped or unreadable
 * file, code outside any function). Functions the dynamic linker does not
 * know (static ones, an executable's own) are found in the file's symbol
 * table. Names are not demangled. 0, or -1 with errno ENOMEM. */
int tci_symbolize_function(tci_symbolizer *s, const tci_os_mapping *m, uintptr_t pc,
                            const char **name);

/* Sets *build_id to the build id of m's file in lower-case hex (what
 * `file` and pprof show), or to NULL when it has none or cannot be read.
 * 0, or -1 with errno ENOMEM. */
int tci_symbolize_build_id(tci_symbolizer *s, const tci_os_mapping *m,
                            const char **build_id);

#endif
