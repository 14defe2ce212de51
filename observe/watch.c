/* watch.c: where the safepoint watchdog's report (runtime/world.c) says a
 * thread last polled: the return address into its caller, symbolized as
 * the heap profiles' addresses are (symbolize.h), with the file it lies
 * in, then the guest frames of the thread's last heap-profile sample.
 *
 * Runs in the stopper, with world_lock held and no other library lock,
 * while a thread that does not poll holds up the stop: it allocates with
 * malloc only, and keeps its symbolizer for the next report (a hang is
 * reported again and again, and reading a file's symbol table is the
 * costly part). sym is protected by world_lock: only a stopper reports.
 */
#include <stdio.h>

#include "observe.h"
#include "os.h"
#include "symbolize.h"

static tci_symbolizer *sym;

void tci_watch_where(FILE *f, uintptr_t pc, uintptr_t sample)
{
    tci_os_mapping *maps = NULL;
    size_t n = 0, m = 0;
    const char *name = NULL;
    if (!sym)
        sym = tci_symbolize_create();
    (void)tci_os_exec_mappings(&maps, &n);
    /* One byte back from a return address is inside the call (pprof.c's
     * native_location says why). */
    uintptr_t a = pc ? pc - 1 : 0;
    while (m < n && !(maps[m].start <= a && a < maps[m].limit))
        m++;
    if (sym && m < n && tci_symbolize_function(sym, &maps[m], a, &name) != 0)
        name = NULL;
    fprintf(f, "%s (%s) [%#lx]\n", name ? name : "?", m < n ? maps[m].path : "?",
            (unsigned long)pc);
    tci_os_mappings_free(maps, n);
    tci_profile_write_guest(f, sample);
}
