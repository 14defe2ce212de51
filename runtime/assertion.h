/* assertion.h: the library's assertions, at its contracts.
 *
 * tci_assert(cond) checks cond in debug and sanitizer builds (TC_DEBUG)
 * and aborts naming the file, line, function and condition; release
 * builds compile it out (cond is not evaluated, but stays compiled, so it
 * cannot rot). Not <assert.h>: NDEBUG is the embedder's switch, not ours.
 * Not named assert.h either: runtime/ is on the include path, and
 * <atomic_ops.h> includes <assert.h>, which would find this file.
 */
#ifndef TCI_ASSERTION_H
#define TCI_ASSERTION_H

#ifdef TC_DEBUG
#define TCI_ASSERTS 1
#else
#define TCI_ASSERTS 0
#endif

void tci_assertion_fail(const char *file, int line, const char *fn, const char *cond)
    __attribute__((noreturn, cold));

#define tci_assert(cond)                                                            \
    do {                                                                            \
        if (TCI_ASSERTS && !(cond))                                                 \
            tci_assertion_fail(__FILE__, __LINE__, __func__, #cond);                   \
    } while (0)

#endif
