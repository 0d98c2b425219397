/*
 * test_cpp.cpp — twill.hpp: exceptions thrown by the callables of join,
 * run, group, parallel_for and parallel_reduce reach the waiting call
 * (first one, rest cancelled, the others destroyed), through nested calls,
 * and the non-throwing paths keep their codes.
 * Compiled once per scheduler (TWILL_TEST_CENTRAL, as testutil.h, whose C
 * atomics C++17 cannot include: its few helpers have C++ twins here).
 *
 * Checks run on the test's thread: callables only record what they saw,
 * because Criterion's assertions may only fail there.
 */
#include <criterion/criterion.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "twill.hpp"

namespace {

#ifdef TWILL_TEST_CENTRAL
constexpr twill_sched test_sched = TWILL_SCHED_CENTRAL;
#else
constexpr twill_sched test_sched = TWILL_SCHED_STEALING;
#endif

/* Longest any test waits for an event before failing. */
constexpr auto test_wait = std::chrono::seconds(20);

std::atomic<long> discards{0};

void count_discard(twill_fn, void *, void *)
{
    discards.fetch_add(1);
}

twill::unique_pool test_pool(unsigned workers)
{
    twill_config cfg;
    twill_config_init(&cfg);
    cfg.workers = workers;
    cfg.scheduler = test_sched;
    cfg.pin = TWILL_PIN_NONE;
    cfg.discard = count_discard;
    twill_pool *p = nullptr;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    discards.store(0);
    return twill::unique_pool(p);
}

/* An exception that counts its live copies: 0 once every exception_ptr
   and every caught copy is gone. */
struct tracked : std::runtime_error {
    static std::atomic<long> live;
    explicit tracked(const char *what) : std::runtime_error(what) { live.fetch_add(1); }
    tracked(const tracked &o) : std::runtime_error(o) { live.fetch_add(1); }
    ~tracked() override { live.fetch_sub(1); }
};
std::atomic<long> tracked::live{0};

/* What fn threw (its what()), "nothing", or "other" for a non-std one. */
template <class Fn>
std::string thrown_by(Fn &&fn)
{
    try {
        fn();
    } catch (const std::exception &e) {
        return e.what();
    } catch (...) {
        return "other";
    }
    return "nothing";
}

/* Wait, bounded, until flag is set; false on timeout.  Yields between
   looks: no sleep stands in for synchronisation. */
bool wait_flag(const std::atomic<bool> &flag)
{
    auto deadline = std::chrono::steady_clock::now() + test_wait;
    while (!flag.load()) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::yield();
    }
    return true;
}

/* A gate tasks block at until the test opens it (bounded wait). */
struct gate {
    std::mutex mu;
    std::condition_variable cv;
    bool open = false;
    int inside = 0;

    bool pass()
    {
        std::unique_lock<std::mutex> lk(mu);
        inside++;
        cv.notify_all();
        bool ok = cv.wait_for(lk, test_wait, [&] { return open; });
        inside--;
        return ok;
    }
    bool wait_inside(int n)
    {
        std::unique_lock<std::mutex> lk(mu);
        return cv.wait_for(lk, test_wait, [&] { return inside >= n; });
    }
    void release()
    {
        std::lock_guard<std::mutex> lk(mu);
        open = true;
        cv.notify_all();
    }
};

} /* namespace */

/* ================================================================ join == */

Test(join, a_throws_outside_any_worker_and_b_still_runs, .timeout = 30)
{
    bool b_ran = false;
    std::string what = thrown_by([&] {
        twill::join([] { throw std::runtime_error("a"); }, [&] { b_ran = true; });
    });
    cr_assert_str_eq(what.c_str(), "a");
    cr_assert(b_ran, "both halves always run (twill_join)");
}

Test(join, a_throws_inside_a_worker_and_the_exception_leaves_run, .timeout = 30)
{
    for (unsigned w : {1u, 2u, 4u}) {
        auto p = test_pool(w);
        std::atomic<bool> b_ran{false};
        std::string what = thrown_by([&] {
            twill::run(p.get(), [&] {
                twill::join([] { throw std::runtime_error("a"); }, [&] { b_ran = true; });
            });
        });
        cr_assert_str_eq(what.c_str(), "a", "%u workers", w);
        cr_assert(b_ran.load());
    }
}

Test(join, b_throws_when_run_inline, .timeout = 30)
{
    auto p = test_pool(1); /* one worker: nobody can steal b */
    int b_worker = -2;
    std::string what = thrown_by([&] {
        twill::run(p.get(), [&] {
            twill::join([] {}, [&] {
                b_worker = twill_worker_id();
                throw std::runtime_error("b");
            });
        });
    });
    cr_assert_str_eq(what.c_str(), "b");
    cr_assert_eq(b_worker, 0);
}

Test(join, b_throws_when_stolen, .timeout = 60)
{
    for (unsigned w : {2u, 4u}) {
        auto p = test_pool(w);
        for (int round = 0; round < 10; round++) {
            std::atomic<bool> b_started{false}, a_timed_out{false};
            int a_worker = -1, b_worker = -1;
            std::string what = thrown_by([&] {
                twill::run(p.get(), [&] {
                    twill::join([] {}, [] {}); /* as test_forkjoin's stolen-b test */
                    twill::join(
                        [&] { /* b can only start elsewhere while we wait here */
                            a_worker = twill_worker_id();
                            a_timed_out = !wait_flag(b_started);
                        },
                        [&] {
                            b_worker = twill_worker_id();
                            b_started = true;
                            throw std::runtime_error("stolen b");
                        });
                });
            });
            cr_assert_not(a_timed_out.load(), "b never ran while a was running");
            cr_assert_neq(a_worker, b_worker);
            cr_assert_str_eq(what.c_str(), "stolen b", "%u workers, round %d", w, round);
        }
    }
}

Test(join, both_throw_and_a_wins_inline_and_stolen, .timeout = 60)
{
    /* "First" in a join is a's (as twill_join's code is a's if nonzero),
       even when b, stolen, threw first in time. */
    auto p1 = test_pool(1);
    std::string what = thrown_by([&] {
        twill::run(p1.get(), [] {
            twill::join([] { throw std::runtime_error("a"); },
                        [] { throw std::runtime_error("b"); });
        });
    });
    cr_assert_str_eq(what.c_str(), "a");

    auto p2 = test_pool(2);
    for (int round = 0; round < 10; round++) {
        std::atomic<bool> b_started{false};
        tracked::live = 0;
        what = thrown_by([&] {
            twill::run(p2.get(), [&] {
                twill::join([] {}, [] {});
                twill::join(
                    [&] {
                        wait_flag(b_started);
                        throw tracked("a");
                    },
                    [&] {
                        b_started = true;
                        throw tracked("b");
                    });
            });
        });
        cr_assert_str_eq(what.c_str(), "a", "round %d", round);
        cr_assert_eq(tracked::live.load(), 0, "b's exception was destroyed");
    }
}

namespace {

/* depth levels of joins; the innermost a (or b) throws; every other half
   counts itself. */
void nest(int depth, bool in_b, std::atomic<int> &ran)
{
    if (depth == 0)
        throw std::runtime_error("depth 0");
    auto deeper = [&] { nest(depth - 1, in_b, ran); };
    auto other = [&] { ran.fetch_add(1); };
    if (in_b)
        twill::join(other, deeper);
    else
        twill::join(deeper, other);
}

} /* namespace */

Test(join, nested_three_levels_deep_the_exception_climbs_every_level, .timeout = 30)
{
    for (unsigned w : {1u, 2u, 4u}) {
        auto p = test_pool(w);
        for (bool in_b : {false, true}) {
            std::atomic<int> ran{0};
            std::string what = thrown_by([&] { twill::run(p.get(), [&] { nest(3, in_b, ran); }); });
            cr_assert_str_eq(what.c_str(), "depth 0", "%u workers, in %s", w, in_b ? "b" : "a");
            cr_assert_eq(ran.load(), 3, "the other half of each level ran");
        }
    }
}

/* ================================================================= run == */

Test(run, an_exception_reaches_the_caller_from_outside_inline_and_another_pool, .timeout = 30)
{
    auto p = test_pool(2);
    auto q = test_pool(1);
    std::string what = thrown_by([&] { twill::run(p.get(), [] { throw std::runtime_error("x"); }); });
    cr_assert_str_eq(what.c_str(), "x", "from outside");
    std::string inner;
    what = thrown_by([&] {
        twill::run(p.get(), [&] {
            inner = thrown_by([&] {
                twill::run(p.get(), [] { throw std::runtime_error("inline"); });
            });
            twill::run(q.get(), [] { throw std::runtime_error("other pool"); });
        });
    });
    cr_assert_str_eq(inner.c_str(), "inline", "run from a worker of the same pool");
    cr_assert_str_eq(what.c_str(), "other pool", "run from a worker into another pool");
}

/* =============================================================== group == */

Test(group, a_throwing_task_cancels_the_rest_and_wait_rethrows_it, .timeout = 30)
{
    constexpr int n = 50;
    auto p = test_pool(1);
    gate g;
    std::atomic<int> ran{0};
    auto first = [&] {
        g.pass();
        throw std::runtime_error("first");
    };
    auto rest = [&] { ran.fetch_add(1); };
    twill::group tg(p.get());
    cr_assert_eq(tg.spawn(first), 0);
    cr_assert(g.wait_inside(1), "the first task never started");
    for (int i = 0; i < n; i++) /* queued behind it on the only worker */
        cr_assert_eq(tg.spawn(rest), 0);
    g.release();
    std::string what = thrown_by([&] { tg.wait(); });
    cr_assert_str_eq(what.c_str(), "first");
    cr_assert_eq(ran.load(), 0, "no task started after the throw");
    cr_assert_eq(discards.load(), n, "every other task was discarded through the hook");
    /* reusable, and the next round is clean */
    cr_assert_eq(tg.spawn(rest), 0);
    cr_assert_eq(tg.wait(), 0);
    cr_assert_eq(ran.load(), 1);
}

Test(group, many_tasks_throw_at_once_one_is_rethrown_none_leaks, .timeout = 60)
{
    constexpr int n = 1000;
    for (unsigned w : {2u, 4u}) {
        auto p = test_pool(w);
        tracked::live = 0;
        std::atomic<int> threw{0};
        auto thrower = [&] {
            threw.fetch_add(1);
            throw tracked("task");
        };
        twill::group tg(p.get());
        int caught = 0;
        for (int i = 0; i < n; i++)
            cr_assert_eq(tg.spawn(thrower), 0);
        try {
            tg.wait();
        } catch (const tracked &e) {
            caught++;
            cr_assert_str_eq(e.what(), "task");
        }
        cr_assert_eq(caught, 1);
        cr_assert_eq(tracked::live.load(), 0, "an exception outlived its wait");
        cr_assert_eq(threw.load() + discards.load(), n, "%u workers: each ran or was discarded", w);
        cr_assert_eq(tg.wait(), 0, "nothing left for the next wait");
    }
}

Test(group, an_exception_wins_over_an_earlier_task_code, .timeout = 60)
{
    auto p = test_pool(2);
    std::atomic<bool> b_started{false}, timed_out{false};
    twill::group tg(p.get());
    auto a = [&] { /* fails with a code once b runs on the other worker */
        timed_out = timed_out || !wait_flag(b_started);
        return 7;
    };
    auto b = [&] { /* throws after a's code has cancelled the group */
        b_started = true;
        auto deadline = std::chrono::steady_clock::now() + test_wait;
        while (!tg.cancelled() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::yield();
        timed_out = timed_out || !tg.cancelled();
        throw std::runtime_error("after the code");
    };
    cr_assert_eq(tg.spawn(a), 0);
    cr_assert_eq(tg.spawn(b), 0);
    std::string what = thrown_by([&] { tg.wait(); });
    cr_assert_not(timed_out.load());
    cr_assert_str_eq(what.c_str(), "after the code");
}

Test(group, inside_a_worker_the_exception_leaves_wait_and_run, .timeout = 30)
{
    for (unsigned w : {1u, 2u, 4u}) {
        auto p = test_pool(w);
        std::string what = thrown_by([&] {
            twill::run(p.get(), [] {
                auto ok = [] {};
                auto bad = [] { twill::join([] {}, [] { throw std::runtime_error("in b"); }); };
                twill::group tg;
                tg.spawn(ok);
                tg.spawn(bad);
                tg.spawn(ok);
                tg.wait();
            });
        });
        cr_assert_str_eq(what.c_str(), "in b", "%u workers", w);
    }
}

Test(group, the_destructor_waits_and_drops_an_uncollected_exception, .timeout = 30)
{
    auto p = test_pool(2);
    tracked::live = 0;
    auto bad = [] { throw tracked("never collected"); };
    {
        twill::group tg(p.get());
        cr_assert_eq(tg.spawn(bad), 0);
    } /* no wait: the destructor waits, nothing terminates */
    cr_assert_eq(tracked::live.load(), 0);
}

/* ======================================================== parallel_for == */

Test(parallel_for, a_throwing_index_stops_the_loop_on_one_worker, .timeout = 30)
{
    auto p = test_pool(1);
    std::atomic<long> visited{0};
    std::string what = thrown_by([&] {
        twill::parallel_for(p.get(), 0, 100000,
                            [&](std::size_t i) {
                                visited.fetch_add(1);
                                if (i == 10)
                                    throw std::runtime_error("index 10");
                            },
                            1);
    });
    cr_assert_str_eq(what.c_str(), "index 10");
    cr_assert_eq(visited.load(), 11, "chunks of one index in order, none after the throw");
}

Test(parallel_for, concurrent_throwing_chunks_rethrow_one_and_leak_none, .timeout = 60)
{
    for (unsigned w : {2u, 4u}) {
        auto p = test_pool(w);
        tracked::live = 0;
        std::atomic<long> covered{0};
        int caught = 0;
        try {
            twill::parallel_for(p.get(), 0, 1u << 16,
                                [&](std::size_t b, std::size_t e) {
                                    covered.fetch_add(long(e - b));
                                    throw tracked("chunk");
                                },
                                16);
        } catch (const tracked &) {
            caught++;
        }
        cr_assert_eq(caught, 1);
        cr_assert_eq(tracked::live.load(), 0);
        cr_assert_lt(covered.load(), 1 << 16, "%u workers: the rest was cancelled", w);
    }
}

/* ===================================================== parallel_reduce == */

Test(parallel_reduce, a_throwing_body_is_rethrown_and_result_is_untouched, .timeout = 30)
{
    for (unsigned w : {1u, 2u}) {
        auto p = test_pool(w);
        long result = -1;
        std::string what = thrown_by([&] {
            twill::parallel_reduce(
                p.get(), 0, 10000, 0L, result,
                [](std::size_t b, std::size_t e, long &acc) {
                    if (b <= 5000 && 5000 < e)
                        throw std::runtime_error("body");
                    acc += long(e - b);
                },
                [](long &acc, const long &o) { acc += o; }, 1);
        });
        cr_assert_str_eq(what.c_str(), "body");
        cr_assert_eq(result, -1);
    }
}

Test(parallel_reduce, a_throwing_combine_is_rethrown_and_result_is_untouched, .timeout = 30)
{
    /* With two workers the loop splits at once (its caller's queue is
       empty: twill.h's lazy splitting), so combine runs. */
    auto p = test_pool(2);
    long result = -1;
    std::atomic<int> combines{0};
    std::string what = thrown_by([&] {
        twill::parallel_reduce(
            p.get(), 0, 10000, 0L, result,
            [](std::size_t b, std::size_t e, long &acc) { acc += long(e - b); },
            [&](long &, const long &) {
                combines.fetch_add(1);
                throw std::runtime_error("combine");
            },
            1);
    });
    cr_assert_geq(combines.load(), 1);
    cr_assert_str_eq(what.c_str(), "combine");
    cr_assert_eq(result, -1);
}

Test(parallel_reduce, a_combine_that_throws_last_leaves_result_untouched, .timeout = 30)
{
    /* Two indices, grain 1, two workers: one split, two chunks, then the one
       combine, after every body: the C loop saw success. */
    auto p = test_pool(2);
    long result = -1;
    std::string what = thrown_by([&] {
        twill::parallel_reduce(
            p.get(), 0, 2, 0L, result, [](std::size_t, std::size_t, long &acc) { acc += 1; },
            [](long &, const long &) { throw std::runtime_error("last combine"); }, 1);
    });
    cr_assert_str_eq(what.c_str(), "last combine");
    cr_assert_eq(result, -1);
}

Test(parallel_reduce, a_throwing_combine_stops_new_chunks, .timeout = 60)
{
    /* Two workers split at once (left half here, right half stolen, as in
       the test above); chunk 0 waits until the right half has started, so
       the other worker is busy with its costly chunks while this one does
       the cheap left half, splitting it as its queue empties, and combines
       (throws) long before the right half is done; then it helps with what
       is left of it.  After its throw that worker starts no chunk (its own
       capture precedes them; another worker may pass the stop check before
       it sees the capture). */
    constexpr std::size_t n = 20000;
    auto p = test_pool(2);
    long result = -1;
    std::atomic<bool> right_started{false}, timed_out{false};
    std::atomic<int> thrower{-1};
    std::atomic<long> after{0};
    std::string what = thrown_by([&] {
        twill::parallel_reduce(
            p.get(), 0, n, 0L, result,
            [&](std::size_t b, std::size_t e, long &acc) {
                if (thrower.load() == twill_worker_id())
                    after.fetch_add(1);
                if (b == 0)
                    timed_out = !wait_flag(right_started);
                if (b >= n / 2) {
                    right_started = true;
                    for (volatile int spin = 0; spin < 2000; spin = spin + 1)
                        ;
                }
                acc += long(e - b);
            },
            [&](long &, const long &) {
                int none = -1;
                thrower.compare_exchange_strong(none, twill_worker_id());
                throw std::runtime_error("combine");
            },
            1);
    });
    cr_assert_not(timed_out.load(), "the right half never started elsewhere");
    cr_assert_str_eq(what.c_str(), "combine");
    cr_assert_eq(after.load(), 0, "%ld chunks started after the throw on its worker", after.load());
}

/* ==================================================== without throwing == */

Test(no_throw, codes_and_results_are_unchanged, .timeout = 30)
{
    for (unsigned w : {1u, 2u, 4u}) {
        auto p = test_pool(w);
        cr_assert_eq(twill::run(p.get(), [] { return 5; }), 5);
        cr_assert_eq(twill::run(p.get(), [] { return twill::join([] { return 3; }, [] { return 4; }); }), 3);
        cr_assert_eq(twill::join([] { return 0; }, [] { return 4; }), 4);
        const auto constant = [] { return 0; };
        cr_assert_eq(twill::join(constant, constant), 0, "const callables");

        std::vector<int> v(10000);
        cr_assert_eq(twill::parallel_for(p.get(), 0, v.size(), [&](std::size_t i) { v[i] = int(i); }), 0);
        cr_assert_eq(v[9999], 9999);
        cr_assert_eq(twill::parallel_for(p.get(), 0, v.size(),
                                         [](std::size_t i) { return i == 77 ? 9 : 0; }),
                     9);

        long sum = -1;
        cr_assert_eq(twill::parallel_reduce(
                         p.get(), 0, v.size(), 0L, sum,
                         [&](std::size_t b, std::size_t e, long &acc) {
                             for (std::size_t i = b; i < e; i++)
                                 acc += v[i];
                         },
                         [](long &acc, const long &o) { acc += o; }),
                     0);
        cr_assert_eq(sum, 9999L * 10000 / 2);

        std::atomic<int> ran{0};
        auto ok = [&] { ran.fetch_add(1); };
        auto fails = [] { return 11; };
        twill::group tg(p.get());
        cr_assert_eq(tg.status(), 0);
        for (int i = 0; i < 100; i++)
            cr_assert_eq(tg.spawn(ok), 0);
        cr_assert_eq(tg.wait(), 0);
        cr_assert_eq(ran.load(), 100);
        cr_assert_eq(tg.spawn(fails), 0);
        cr_assert_eq(tg.wait(), 11);
        cr_assert_eq(tg.wait_for(0), 0);
    }
}
