/*
 * test_deque.c — the Chase-Lev deque as a specification: a deterministic
 * single-thread script with the expected state after every step (push, take,
 * steal, growth, wrap-around, shrinking, freeing replaced buffers), then the
 * error contract.  Concurrency is
 * covered by stress/deque.c, which also runs under ThreadSanitizer.
 */
#include <criterion/criterion.h>

#include "deque.h"

/* Items are small integers disguised as pointers (never NULL). */
#define ITEM(i) ((void *)(uintptr_t)(i))

static twill__deque d;

static void setup_cap1(void) { cr_assert_eq(twill__deque_init(&d, 1), 0); }
static void setup_cap4(void) { cr_assert_eq(twill__deque_init(&d, 4), 0); }
static void teardown(void) { twill__deque_destroy(&d); }

static void expect_steal(void *want)
{
    void *got = NULL;
    cr_assert_eq(twill__deque_steal(&d, &got), TWILL__STEAL_SUCCESS);
    cr_assert_eq(got, want);
}

static void expect_steal_empty(void)
{
    void *got = ITEM(999);
    cr_assert_eq(twill__deque_steal(&d, &got), TWILL__STEAL_EMPTY);
    cr_assert_eq(got, ITEM(999), "an empty steal must not write *out");
}

Test(deque, new_deque_is_empty_for_owner_and_thief, .init = setup_cap4, .fini = teardown)
{
    cr_assert_eq(twill__deque_size_estimate(&d), 0);
    cr_assert_null(twill__deque_take(&d));
    expect_steal_empty();
    cr_assert_null(twill__deque_take(&d), "an empty take must leave the deque consistent");
    cr_assert_eq(twill__deque_size_estimate(&d), 0);
}

Test(deque, owner_takes_lifo_and_thief_steals_fifo, .init = setup_cap4, .fini = teardown)
{
    cr_assert_eq(twill__deque_push(&d, ITEM(1)), 0);   /* [1] */
    cr_assert_eq(twill__deque_push(&d, ITEM(2)), 0);   /* [1 2] */
    cr_assert_eq(twill__deque_push(&d, ITEM(3)), 0);   /* [1 2 3] */
    cr_assert_eq(twill__deque_size_estimate(&d), 3);
    cr_assert_eq(twill__deque_take(&d), ITEM(3));      /* [1 2] */
    expect_steal(ITEM(1));                             /* [2] */
    cr_assert_eq(twill__deque_size_estimate(&d), 1);
    cr_assert_eq(twill__deque_push(&d, ITEM(4)), 0);   /* [2 4] */
    expect_steal(ITEM(2));                             /* [4] */
    cr_assert_eq(twill__deque_take(&d), ITEM(4));      /* [] last item via CAS */
    cr_assert_null(twill__deque_take(&d));
    expect_steal_empty();
}

Test(deque, last_item_goes_to_thief_then_take_sees_empty, .init = setup_cap4, .fini = teardown)
{
    cr_assert_eq(twill__deque_push(&d, ITEM(7)), 0);
    expect_steal(ITEM(7));
    cr_assert_null(twill__deque_take(&d));
    cr_assert_eq(twill__deque_size_estimate(&d), 0);
    cr_assert_eq(twill__deque_push(&d, ITEM(8)), 0, "deque usable after empty take");
    cr_assert_eq(twill__deque_take(&d), ITEM(8));
}

Test(deque, grows_from_capacity_one_keeping_order, .init = setup_cap1, .fini = teardown)
{
    cr_assert_eq(twill__deque_capacity(&d), 1);
    cr_assert_eq(twill__deque_push(&d, ITEM(1)), 0);
    cr_assert_eq(twill__deque_capacity(&d), 1);
    cr_assert_eq(twill__deque_push(&d, ITEM(2)), 0);
    cr_assert_eq(twill__deque_capacity(&d), 2);
    cr_assert_eq(twill__deque_push(&d, ITEM(3)), 0);
    cr_assert_eq(twill__deque_capacity(&d), 4);
    for (int i = 4; i <= 9; i++)
        cr_assert_eq(twill__deque_push(&d, ITEM(i)), 0);
    cr_assert_eq(twill__deque_capacity(&d), 16);
    cr_assert_eq(twill__deque_size_estimate(&d), 9);
    expect_steal(ITEM(1));
    expect_steal(ITEM(2));
    for (int i = 9; i >= 3; i--)
        cr_assert_eq(twill__deque_take(&d), ITEM(i));
    cr_assert_null(twill__deque_take(&d));
}

Test(deque, wraps_around_without_growing_when_steals_free_slots, .init = setup_cap4, .fini = teardown)
{
    /* Keep 3 items in a 4-slot buffer while indices run far past 4: every
       slot is reused many times, and capacity never changes. */
    int next = 1, oldest = 1;
    for (; next <= 3; next++)
        cr_assert_eq(twill__deque_push(&d, ITEM(next)), 0);
    for (int round = 0; round < 40; round++) {
        expect_steal(ITEM(oldest++));
        cr_assert_eq(twill__deque_push(&d, ITEM(next++)), 0);
        cr_assert_eq(twill__deque_size_estimate(&d), 3);
    }
    cr_assert_eq(twill__deque_capacity(&d), 4);
    cr_assert_eq(twill__deque_take(&d), ITEM(next - 1));
    expect_steal(ITEM(oldest));
    cr_assert_eq(twill__deque_take(&d), ITEM(next - 2));
    cr_assert_null(twill__deque_take(&d));
}

Test(deque, growth_after_wrap_copies_items_in_index_order, .init = setup_cap4, .fini = teardown)
{
    /* Move top to 3 so the live range straddles the end of the buffer. */
    for (int i = 1; i <= 3; i++)
        cr_assert_eq(twill__deque_push(&d, ITEM(i)), 0);
    for (int i = 1; i <= 3; i++)
        expect_steal(ITEM(i));
    for (int i = 10; i <= 14; i++) /* indices 3..7: wraps, then grows to 8 */
        cr_assert_eq(twill__deque_push(&d, ITEM(i)), 0);
    cr_assert_eq(twill__deque_capacity(&d), 8);
    expect_steal(ITEM(10));
    expect_steal(ITEM(11));
    cr_assert_eq(twill__deque_take(&d), ITEM(14));
    cr_assert_eq(twill__deque_take(&d), ITEM(13));
    cr_assert_eq(twill__deque_take(&d), ITEM(12));
    cr_assert_null(twill__deque_take(&d));
}

static void expect_capacity(size_t want)
{
    cr_assert_eq(twill__deque_capacity(&d), want, "capacity %zu, expected %zu",
                 twill__deque_capacity(&d), want);
}

Test(deque, shrinks_by_halves_to_the_initial_capacity_as_takes_drain_a_burst,
     .init = setup_cap4, .fini = teardown)
{
    for (int i = 1; i <= 100; i++)
        cr_assert_eq(twill__deque_push(&d, ITEM(i)), 0);
    expect_capacity(128);
    /* A take that leaves fewer than capacity/4 items halves the buffer
       (as often as that rule allows), never below the initial 4.  Items
       come back newest first throughout. */
    struct { int item; size_t cap; } script[] = {
        {33, 128}, /* leaves 32 = 128/4: stays */
        {32, 64},  /* leaves 31 < 32 */
        {17, 64},  /* leaves 16 = 64/4 */
        {16, 32},
        {8, 16},   /* leaves 7 < 32/4 */
        {4, 8},
        {3, 8},    /* leaves 2 = 8/4 */
        {2, 4},    /* leaves 1; 4 is the floor */
        {1, 4},
    };
    int next = 100;
    for (size_t k = 0; k < sizeof script / sizeof script[0]; k++) {
        for (; next >= script[k].item; next--)
            cr_assert_eq(twill__deque_take(&d), ITEM(next));
        expect_capacity(script[k].cap);
        cr_assert_eq(twill__deque_retired(&d), 0, "no thief: replaced buffers are freed at once");
    }
    cr_assert_null(twill__deque_take(&d));
    expect_capacity(4);
    expect_steal_empty();
}

Test(deque, thieves_get_the_oldest_items_in_order_across_a_shrink,
     .init = setup_cap4, .fini = teardown)
{
    for (int i = 1; i <= 64; i++)
        cr_assert_eq(twill__deque_push(&d, ITEM(i)), 0);
    expect_capacity(64);
    for (int i = 1; i <= 37; i++) /* top = 37: the live range starts mid-buffer */
        expect_steal(ITEM(i));
    expect_capacity(64); /* steals never resize */
    for (int i = 64; i >= 54; i--) /* [38..53] left: 16 = 64/4 */
        cr_assert_eq(twill__deque_take(&d), ITEM(i));
    expect_capacity(64);
    cr_assert_eq(twill__deque_take(&d), ITEM(53)); /* 15 left: shrink */
    expect_capacity(32);
    expect_steal(ITEM(38)); /* indices 38.. wrap around the 32-slot buffer */
    expect_steal(ITEM(39));
    cr_assert_eq(twill__deque_push(&d, ITEM(100)), 0); /* into the new buffer */
    cr_assert_eq(twill__deque_push(&d, ITEM(101)), 0);
    cr_assert_eq(twill__deque_size_estimate(&d), 15);
    cr_assert_eq(twill__deque_take(&d), ITEM(101));
    cr_assert_eq(twill__deque_take(&d), ITEM(100));
    for (int i = 40; i <= 45; i++)
        expect_steal(ITEM(i));
    for (int i = 52; i >= 46; i--)
        cr_assert_eq(twill__deque_take(&d), ITEM(i));
    cr_assert_null(twill__deque_take(&d));
    expect_capacity(4);
}

Test(deque, grows_again_after_shrinking, .init = setup_cap4, .fini = teardown)
{
    for (int round = 0; round < 3; round++) {
        for (int i = 1; i <= 20; i++)
            cr_assert_eq(twill__deque_push(&d, ITEM(i)), 0);
        expect_capacity(32);
        expect_steal(ITEM(1));
        for (int i = 20; i >= 2; i--)
            cr_assert_eq(twill__deque_take(&d), ITEM(i));
        expect_capacity(4);
        cr_assert_null(twill__deque_take(&d));
    }
    cr_assert_eq(twill__deque_retired(&d), 0);
}

Test(deque, a_deque_emptied_by_thieves_shrinks_when_its_owner_finds_it_empty,
     .init = setup_cap4, .fini = teardown)
{
    for (int i = 1; i <= 100; i++)
        cr_assert_eq(twill__deque_push(&d, ITEM(i)), 0);
    for (int i = 1; i <= 100; i++)
        expect_steal(ITEM(i));
    expect_capacity(128);
    cr_assert_null(twill__deque_take(&d));
    expect_capacity(4); /* straight back to the initial capacity */
    cr_assert_eq(twill__deque_push(&d, ITEM(7)), 0);
    cr_assert_eq(twill__deque_take(&d), ITEM(7));
}

Test(deque, replaced_buffers_wait_for_a_thief_inside_steal_then_are_freed,
     .init = setup_cap4, .fini = teardown)
{
    /* Play a thief stopped between its load of buffer and its CAS: the
       owner must keep every buffer it replaces meanwhile. */
    atomic_fetch_add_explicit(&d.stealers, 1, memory_order_seq_cst);
    for (int i = 1; i <= 40; i++)
        cr_assert_eq(twill__deque_push(&d, ITEM(i)), 0);
    expect_capacity(64);
    cr_assert_eq(twill__deque_retired(&d), 4, "4, 8, 16 and 32 slots kept");
    for (int i = 40; i >= 1; i--)
        cr_assert_eq(twill__deque_take(&d), ITEM(i));
    expect_capacity(4);
    cr_assert_eq(twill__deque_retired(&d), 8, "and the 64, 32, 16 and 8 ones shrinking replaced");
    cr_assert_null(twill__deque_take(&d));
    cr_assert_eq(twill__deque_retired(&d), 8, "still held while the thief is inside");
    /* The thief leaves: the owner's next look at its empty deque frees them. */
    atomic_fetch_sub_explicit(&d.stealers, 1, memory_order_seq_cst);
    cr_assert_null(twill__deque_take(&d));
    cr_assert_eq(twill__deque_retired(&d), 0);
    expect_capacity(4);
}

Test(deque, shrink_from_a_capacity_one_deque_goes_back_to_one, .init = setup_cap1, .fini = teardown)
{
    for (int i = 1; i <= 3; i++)
        cr_assert_eq(twill__deque_push(&d, ITEM(i)), 0);
    expect_capacity(4);
    cr_assert_eq(twill__deque_take(&d), ITEM(3));
    cr_assert_eq(twill__deque_take(&d), ITEM(2)); /* 1 left = 4/4: stays */
    expect_capacity(4);
    cr_assert_eq(twill__deque_take(&d), ITEM(1));
    expect_capacity(1);
    cr_assert_null(twill__deque_take(&d));
    cr_assert_eq(twill__deque_push(&d, ITEM(4)), 0);
    cr_assert_eq(twill__deque_push(&d, ITEM(5)), 0);
    expect_capacity(2);
    expect_steal(ITEM(4));
    cr_assert_eq(twill__deque_take(&d), ITEM(5));
    expect_capacity(1);
}

Test(deque, initial_capacity_is_rounded_up_to_a_power_of_two)
{
    cr_assert_eq(twill__deque_init(&d, 5), 0);
    cr_assert_eq(twill__deque_capacity(&d), 8);
    twill__deque_destroy(&d);
    cr_assert_eq(twill__deque_init(&d, 64), 0);
    cr_assert_eq(twill__deque_capacity(&d), 64);
    twill__deque_destroy(&d);
}

Test(deque, init_rejects_null_zero_and_oversized_capacity)
{
    cr_assert_eq(twill__deque_init(NULL, 4), EINVAL);
    cr_assert_eq(twill__deque_init(&d, 0), EINVAL);
    cr_assert_eq(twill__deque_init(&d, TWILL__DEQUE_MAX_CAPACITY + 1), EINVAL);
}

Test(deque, destroy_of_null_is_a_no_op)
{
    twill__deque_destroy(NULL);
}
