/* test_sizeclass.c: the size-class table: shape, smallest fitting class,
 * waste bounds, slot counts and the exactness of the division magic. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "heap.h"
#include "sizeclass.h"

static size_t span_bytes(int c)
{
    return (size_t)tci_classes[c].npages * TCI_PAGE_SIZE;
}

static void test_sizeclass_classes_increasing_multiples_of_16(void **state)
{
    (void)state;
    assert_true(tci_nclasses >= 2);
    assert_true(tci_nclasses <= TCI_MAX_CLASSES);
    uint32_t prev = 0;
    for (int c = 1; c < tci_nclasses; c++) {
        uint32_t size = tci_classes[c].size;
        if (size % TCI_ALIGN != 0 || size <= prev)
            fail_msg("class %d: size %u (previous %u) is not a larger multiple of %d",
                     c, size, prev, TCI_ALIGN);
        prev = size;
    }
    assert_int_equal(tci_classes[1].size, TCI_ALIGN);
    assert_int_equal(tci_classes[tci_nclasses - 1].size, TCI_MAX_SMALL);
}

static void test_sizeclass_smallest_fitting_class(void **state)
{
    (void)state;
    for (size_t size = 1; size <= TCI_MAX_SMALL; size++) {
        int c = tci_size_to_class(size);
        if (c < 1 || c >= tci_nclasses)
            fail_msg("size %zu: class %d out of range 1..%d", size, c, tci_nclasses - 1);
        if (tci_classes[c].size < size)
            fail_msg("size %zu: class %d holds only %u bytes", size, c, tci_classes[c].size);
        if (c > 1 && tci_classes[c - 1].size >= size)
            fail_msg("size %zu: class %d (%u) chosen but class %d (%u) fits", size, c,
                     tci_classes[c].size, c - 1, tci_classes[c - 1].size);
    }
}

/* Above 128 bytes a request rounded up to its class wastes under 12.5% of
 * the slot: the worst request is one byte over the previous class. */
static void test_sizeclass_waste_bound(void **state)
{
    (void)state;
    for (int c = 2; c < tci_nclasses; c++) {
        uint32_t size = tci_classes[c].size;
        uint32_t prev = tci_classes[c - 1].size;
        if (size <= 128) {
            if (size - prev != TCI_ALIGN)
                fail_msg("class %d (%u): step %u from %u, expected %d", c, size,
                         size - prev, prev, TCI_ALIGN);
            continue;
        }
        uint64_t waste = size - (prev + 1);
        if (waste * 8 >= size)
            fail_msg("class %d (%u) after %u: worst waste %llu bytes is >= 12.5%%", c, size,
                     prev, (unsigned long long)waste);
    }
}

/* Bytes of class c's span left over after its slots of kind k (and, for
 * precise spans, their 4-byte type ids, which are used space). */
static size_t span_tail(int c, int k)
{
    size_t per_slot = tci_classes[c].size + (k == TCI_KIND_PRECISE ? 4 : 0);
    return span_bytes(c) - (size_t)tci_classes[c].nelems[k] * per_slot;
}

static void test_sizeclass_span_tail_waste(void **state)
{
    (void)state;
    for (int c = 1; c < tci_nclasses; c++) {
        size_t bytes = span_bytes(c);
        uint32_t size = tci_classes[c].size;
        assert_true(tci_classes[c].npages >= 1);
        if (bytes < size)
            fail_msg("class %d (%u): span of %zu bytes holds no slot", c, size, bytes);
        for (int k = TCI_KIND_NOSCAN; k <= TCI_KIND_CONSERVATIVE; k += 2)
            if (span_tail(c, k) * 8 > bytes)
                fail_msg("class %d (%u) kind %d: %zu of %zu span bytes wasted (> 12.5%%)", c,
                         size, k, span_tail(c, k), bytes);
    }
}

/* The same bound for precise spans, whose slots are 4 bytes larger. */
static void test_sizeclass_precise_span_tail_waste(void **state)
{
    (void)state;
    int bad = 0;
    for (int c = 1; c < tci_nclasses; c++) {
        size_t bytes = span_bytes(c);
        size_t tail = span_tail(c, TCI_KIND_PRECISE);
        if (tail * 8 > bytes) {
            print_error("class %d (%u), %u pages: %u precise slots waste %zu of %zu bytes "
                        "(> 12.5%%)\n", c, tci_classes[c].size, tci_classes[c].npages,
                        tci_classes[c].nelems[TCI_KIND_PRECISE], tail, bytes);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_sizeclass_nelems_within_bitmap(void **state)
{
    (void)state;
    for (int c = 1; c < tci_nclasses; c++)
        for (int k = 0; k < TCI_NKINDS; k++)
            if (tci_classes[c].nelems[k] > TCI_MAX_SLOTS)
                fail_msg("class %d (%u) kind %d: %u slots > TCI_MAX_SLOTS (%d)", c,
                         tci_classes[c].size, k, tci_classes[c].nelems[k], TCI_MAX_SLOTS);
}

/* Precise spans keep a 4-byte type id per slot after the slots; the ids
 * must fit, the slots must be as many as fit, and every class must still
 * hold at least one precise object (else allocating one never succeeds). */
static void test_sizeclass_precise_room_for_type_ids(void **state)
{
    (void)state;
    for (int c = 1; c < tci_nclasses; c++) {
        size_t bytes = span_bytes(c);
        uint32_t size = tci_classes[c].size;
        uint32_t n = tci_classes[c].nelems[TCI_KIND_PRECISE];
        if ((size_t)n * (size + 4) > bytes)
            fail_msg("class %d (%u): %u precise slots and their type ids need %zu > %zu bytes",
                     c, size, n, (size_t)n * (size + 4), bytes);
        if ((size_t)(n + 1) * (size + 4) <= bytes && n + 1 <= TCI_MAX_SLOTS)
            fail_msg("class %d (%u): %u precise slots, but %u fit", c, size, n, n + 1);
        if (n == 0)
            fail_msg("class %d (%u): a %zu-byte span holds no precise slot (%u + 4 bytes)",
                     c, size, bytes, size);
        /* The scalar kinds are exactly bytes / size. */
        assert_int_equal(tci_classes[c].nelems[TCI_KIND_NOSCAN], bytes / size);
        assert_int_equal(tci_classes[c].nelems[TCI_KIND_CONSERVATIVE], bytes / size);
    }
}

static void test_sizeclass_div_mul_exact(void **state)
{
    (void)state;
    for (int c = 1; c < tci_nclasses; c++) {
        const tci_sizeclass *sc = &tci_classes[c];
        size_t bytes = span_bytes(c);
        assert_int_equal(sc->div_mul, tci_div_magic(sc->size));
        for (uint64_t off = 0; off < bytes; off++) {
            uint64_t q = (off * sc->div_mul) >> 32;
            if (q != off / sc->size)
                fail_msg("class %d (%u): offset %llu gives %llu, expected %llu", c, sc->size,
                         (unsigned long long)off, (unsigned long long)q,
                         (unsigned long long)(off / sc->size));
        }
    }
}

int main(void)
{
    tci_sizeclass_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizeclass_classes_increasing_multiples_of_16),
        cmocka_unit_test(test_sizeclass_smallest_fitting_class),
        cmocka_unit_test(test_sizeclass_waste_bound),
        cmocka_unit_test(test_sizeclass_span_tail_waste),
        cmocka_unit_test(test_sizeclass_precise_span_tail_waste),
        cmocka_unit_test(test_sizeclass_nelems_within_bitmap),
        cmocka_unit_test(test_sizeclass_precise_room_for_type_ids),
        cmocka_unit_test(test_sizeclass_div_mul_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
