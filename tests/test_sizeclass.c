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

static size_t span_bytes(int c, int k)
{
    return (size_t)tci_sizeclass_table[c].npages[k] * TCI_PAGE_SIZE;
}

/* Bytes a slot of kind k takes: a precise slot has a 4-byte type id too. */
static size_t slot_bytes(int c, int k)
{
    return tci_sizeclass_table[c].size + (k == TCI_KIND_PRECISE ? 4 : 0);
}

static void test_sizeclass_classes_increasing_multiples_of_16(void **state)
{
    (void)state;
    assert_true(tci_sizeclass_count >= 2);
    assert_true(tci_sizeclass_count <= TCI_MAX_CLASSES);
    uint32_t prev = 0;
    for (int c = 1; c < tci_sizeclass_count; c++) {
        uint32_t size = tci_sizeclass_table[c].size;
        if (size % TCI_ALIGN != 0 || size <= prev)
            fail_msg("class %d: size %u (previous %u) is not a larger multiple of %d",
                     c, size, prev, TCI_ALIGN);
        prev = size;
    }
    assert_int_equal(tci_sizeclass_table[1].size, TCI_ALIGN);
    assert_int_equal(tci_sizeclass_table[tci_sizeclass_count - 1].size, TCI_MAX_SMALL);
}

static void test_sizeclass_smallest_fitting_class(void **state)
{
    (void)state;
    for (size_t size = 1; size <= TCI_MAX_SMALL; size++) {
        int c = tci_size_to_class(size);
        if (c < 1 || c >= tci_sizeclass_count)
            fail_msg("size %zu: class %d out of range 1..%d", size, c, tci_sizeclass_count - 1);
        if (tci_sizeclass_table[c].size < size)
            fail_msg("size %zu: class %d holds only %u bytes", size, c,
                     tci_sizeclass_table[c].size);
        if (c > 1 && tci_sizeclass_table[c - 1].size >= size)
            fail_msg("size %zu: class %d (%u) chosen but class %d (%u) fits", size, c,
                     tci_sizeclass_table[c].size, c - 1, tci_sizeclass_table[c - 1].size);
    }
}

/* Above 128 bytes a request rounded up to its class wastes under 12.5% of
 * the slot: the worst request is one byte over the previous class. */
static void test_sizeclass_waste_bound(void **state)
{
    (void)state;
    for (int c = 2; c < tci_sizeclass_count; c++) {
        uint32_t size = tci_sizeclass_table[c].size;
        uint32_t prev = tci_sizeclass_table[c - 1].size;
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

/* Bytes of class c's span of kind k left over after its slots (and, for
 * precise spans, their type ids, which are used space). */
static size_t span_tail(int c, int k)
{
    return span_bytes(c, k) - (size_t)tci_sizeclass_table[c].nelems[k] * slot_bytes(c, k);
}

static void test_sizeclass_span_tail_waste(void **state)
{
    (void)state;
    int bad = 0;
    for (int c = 1; c < tci_sizeclass_count; c++) {
        for (int k = 0; k < TCI_NKINDS; k++) {
            size_t bytes = span_bytes(c, k);
            if (tci_sizeclass_table[c].npages[k] < 1 || bytes < slot_bytes(c, k)) {
                print_error("class %d (%u) kind %d: a span of %u pages holds no slot\n", c,
                            tci_sizeclass_table[c].size, k, tci_sizeclass_table[c].npages[k]);
                bad++;
            } else if (span_tail(c, k) * 8 > bytes) {
                print_error("class %d (%u) kind %d, %u pages: %u slots waste %zu of %zu "
                            "bytes (> 12.5%%)\n", c, tci_sizeclass_table[c].size, k,
                            tci_sizeclass_table[c].npages[k], tci_sizeclass_table[c].nelems[k],
                            span_tail(c, k), bytes);
                bad++;
            }
        }
    }
    assert_int_equal(bad, 0);
}

static void test_sizeclass_nelems_within_bitmap(void **state)
{
    (void)state;
    for (int c = 1; c < tci_sizeclass_count; c++)
        for (int k = 0; k < TCI_NKINDS; k++)
            if (tci_sizeclass_table[c].nelems[k] > TCI_MAX_SLOTS)
                fail_msg("class %d (%u) kind %d: %u slots > TCI_MAX_SLOTS (%d)", c,
                         tci_sizeclass_table[c].size, k, tci_sizeclass_table[c].nelems[k],
                         TCI_MAX_SLOTS);
}

/* A span is at least TCI_SPAN_MIN_BYTES, unless one page more would hold
 * more slots than the bitmap (the classes under 64 bytes), so a cache
 * refills rarely (gc/sizeclass.c); and no page more than the tail-waste
 * bound needs on top of that. */
static void test_sizeclass_spans_at_least_the_minimum(void **state)
{
    (void)state;
    for (int c = 1; c < tci_sizeclass_count; c++)
        for (int k = 0; k < TCI_NKINDS; k++) {
            size_t bytes = span_bytes(c, k), unit = slot_bytes(c, k);
            if (bytes < TCI_SPAN_MIN_BYTES && (bytes + TCI_PAGE_SIZE) / unit <= TCI_MAX_SLOTS)
                fail_msg("class %d (%u) kind %d: a %zu-byte span, under the %zu minimum", c,
                         tci_sizeclass_table[c].size, k, bytes, (size_t)TCI_SPAN_MIN_BYTES);
            size_t fewer = bytes - TCI_PAGE_SIZE;
            if (bytes > TCI_SPAN_MIN_BYTES && fewer >= unit && fewer >= TCI_SPAN_MIN_BYTES &&
                (fewer % unit) * 8 <= fewer && fewer / unit <= TCI_MAX_SLOTS)
                fail_msg("class %d (%u) kind %d: %zu bytes, but %zu would do", c,
                         tci_sizeclass_table[c].size, k, bytes, fewer);
        }
}

/* Each span holds as many slots as fit: precise spans keep a 4-byte type
 * id per slot after the slots, and the ids must fit too. Every class holds
 * at least one object of every kind (else allocating one never succeeds). */
static void test_sizeclass_nelems_as_many_as_fit(void **state)
{
    (void)state;
    for (int c = 1; c < tci_sizeclass_count; c++) {
        for (int k = 0; k < TCI_NKINDS; k++) {
            size_t bytes = span_bytes(c, k);
            size_t unit = slot_bytes(c, k);
            uint32_t n = tci_sizeclass_table[c].nelems[k];
            if (n == 0)
                fail_msg("class %d (%u) kind %d: a %zu-byte span holds no slot of %zu bytes",
                         c, tci_sizeclass_table[c].size, k, bytes, unit);
            if ((size_t)n * unit > bytes)
                fail_msg("class %d (%u) kind %d: %u slots need %zu > %zu bytes", c,
                         tci_sizeclass_table[c].size, k, n, (size_t)n * unit, bytes);
            if ((size_t)(n + 1) * unit <= bytes && n + 1 <= TCI_MAX_SLOTS)
                fail_msg("class %d (%u) kind %d: %u slots, but %u fit", c,
                         tci_sizeclass_table[c].size, k, n, n + 1);
        }
    }
}

/* Exhaustive: every offset into the longest span of the class. */
static void test_sizeclass_div_mul_exact(void **state)
{
    (void)state;
    for (int c = 1; c < tci_sizeclass_count; c++) {
        const tci_sizeclass *sc = &tci_sizeclass_table[c];
        size_t bytes = 0;
        for (int k = 0; k < TCI_NKINDS; k++)
            if (span_bytes(c, k) > bytes)
                bytes = span_bytes(c, k);
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
        cmocka_unit_test(test_sizeclass_nelems_within_bitmap),
        cmocka_unit_test(test_sizeclass_spans_at_least_the_minimum),
        cmocka_unit_test(test_sizeclass_nelems_as_many_as_fit),
        cmocka_unit_test(test_sizeclass_div_mul_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
