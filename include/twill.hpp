/*
 * twill.hpp — a thin, header-only C++17 adapter over twill.h for lambdas.
 *
 * Every call below passes a pointer to the caller's callable (or to a small
 * record on the caller's stack that points to it) as the task's void *
 * argument: nothing is copied and nothing is allocated.  Hence the one rule
 * of this header:
 *
 *   A CALLABLE MUST OUTLIVE ITS TASK.
 *   - join, run, parallel_for and parallel_reduce return only after their
 *     tasks are done, so temporaries (a lambda written in the call) are fine.
 *   - group::spawn returns at once, so it takes an lvalue only (a temporary
 *     does not compile) which must stay alive until group::wait returns.  A
 *     lambda declared inside a loop body dies at the end of each iteration:
 *     keep such lambdas in a container that outlives the wait.  The group's
 *     destructor waits too, so a group declared after its callables is safe.
 *
 * A callable returns void (success) or an int task code (0: success, nonzero:
 * an error code of your choice, propagated as in twill.h).
 *
 * Exceptions.  A callable of join, run, parallel_for, parallel_reduce (body
 * and combine) or group::spawn may throw.  The exception is caught on the
 * worker that ran it (it never unwinds through the C runtime), cancels the
 * rest of that loop or group as a failing task code would (twill.h: no new
 * chunk starts, the group's unstarted tasks are discarded), and the waiting
 * call rethrows it: join, run, the loop call, or group::wait.  Which one:
 *   - join: a's exception if a threw, else b's.  Both halves always run, as
 *     in twill_join, even when a throws.
 *   - loops and groups: the first one caught (in time); exceptions caught
 *     after it, while it is in flight, are destroyed unseen.
 *   - An exception wins over task codes: the call rethrows it even if
 *     another callable returned a nonzero code first.
 * Exceptions propagate through nested calls: an exception rethrown by an
 * inner join is caught by the outer half's wrapper, and so on up.  A group
 * destroyed without a wait that collects its exception (its destructor
 * waits, e.g. during unwinding) destroys that exception unseen.
 * parallel_reduce leaves result untouched when it throws.
 *
 * Fire-and-forget: this header has no submit (nothing waits for such a
 * task, so there is nowhere to carry its exception).  A C++ function given
 * to the C API directly (twill_submit, twill_broadcast, worker or discard
 * hooks) must not let an exception escape: it would unwind into the C
 * runtime (std::terminate when no C++ handler lies below on that thread,
 * else it lands in an unrelated waiting task's handler, the runtime's state
 * left half-updated).  Declare such functions noexcept: an escaping
 * exception then calls std::terminate, always.
 *
 * Everything else (pools, configuration, stats, submit) is the C API, which
 * is usable from C++ as is; unique_pool owns a pool RAII-style.
 */
#ifndef TWILL_HPP
#define TWILL_HPP

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <type_traits>
#include <utility>

#include "twill.h"

namespace twill {

namespace detail {

/* The task code a wrapper returns to C when its callable threw: nonzero, so
   the C call cancels the rest of the group or loop.  Never seen by the
   caller: the waiting call rethrows instead. */
inline constexpr int thrown = ECANCELED;

/* Call f(args...) and turn its result into a task code: void means 0. */
template <class F, class... A>
int code_of(F &f, A &&...args)
{
    if constexpr (std::is_void_v<std::invoke_result_t<F &, A...>>) {
        f(std::forward<A>(args)...);
        return 0;
    } else {
        return static_cast<int>(f(std::forward<A>(args)...));
    }
}

/* The task argument for callable f (const callables included). */
template <class F>
void *arg_of(F &f) noexcept
{
    return const_cast<void *>(static_cast<const void *>(std::addressof(f)));
}

/* One callable of join or run, and what it threw: the task's argument, on
   the caller's stack.  Read by the caller after the C call returned (its
   completion orders the write). */
template <class F>
struct call {
    F *f;
    std::exception_ptr caught;
};

template <class F>
int call_task(void *arg) noexcept
{
    call<F> &c = *static_cast<call<F> *>(arg);
    try {
        return code_of(*c.f);
    } catch (...) {
        c.caught = std::current_exception();
        return thrown;
    }
}

/* The first exception of callables that run concurrently (loop chunks, group
   tasks).  state: empty -> writing (one capture wins the CAS) -> ready (the
   waiter may take it) -> empty (taken).  A capture that finds it taken drops
   its exception. */
class first_exception {
public:
    /* In a catch block: keep the exception in flight if it is the first. */
    void capture() noexcept
    {
        int expect = empty;
        /* acquire: pairs with take's release store of empty, so our write
           of e_ follows its move out of e_. */
        if (state_.compare_exchange_strong(expect, writing, std::memory_order_acquire,
                                           std::memory_order_relaxed)) {
            e_ = std::current_exception();
            /* release: pairs with the acquire load in take. */
            state_.store(ready, std::memory_order_release);
        }
    }

    /* Has a callable thrown?  relaxed: an early-stop hint only. */
    bool caught() const noexcept { return state_.load(std::memory_order_relaxed) != empty; }

    /* After the callables are done: rethrow the exception kept, if any, and
       empty the slot.  A capture still writing (a group task of the next
       round, twill.h) is left for the next wait. */
    void take()
    {
        /* acquire: pairs with the release store in capture. */
        if (state_.load(std::memory_order_acquire) == ready)
            rethrow();
    }

private:
    enum { empty, writing, ready };

    [[noreturn]] void rethrow()
    {
        std::exception_ptr e = std::exchange(e_, nullptr);
        /* release: pairs with the acquire CAS in capture. */
        state_.store(empty, std::memory_order_release);
        std::rethrow_exception(e);
    }

    std::atomic<int> state_{empty};
    std::exception_ptr e_;
};

/* A parallel_for body: its callable and the loop's first exception. */
template <class F>
struct loop {
    F *body;
    first_exception first;
};

/* Range body: f(begin, end) if it takes two indices, else f(i) for each i. */
template <class F>
int range(void *ctx, std::size_t begin, std::size_t end) noexcept
{
    loop<F> &l = *static_cast<loop<F> *>(ctx);
    try {
        if constexpr (std::is_invocable_v<F &, std::size_t, std::size_t>) {
            return code_of(*l.body, begin, end);
        } else {
            for (std::size_t i = begin; i < end; i++) {
                int rc = code_of(*l.body, i);
                if (rc != 0)
                    return rc;
            }
            return 0;
        }
    } catch (...) {
        l.first.capture();
        return thrown;
    }
}

template <class Body, class Combine>
struct reducer {
    Body *body;
    Combine *combine;
    first_exception first;
};

template <class T, class R>
int reduce_body(void *ctx, std::size_t begin, std::size_t end, void *acc) noexcept
{
    R &r = *static_cast<R *>(ctx);
    if (r.first.caught()) /* combine threw (it cannot return a code): stop */
        return thrown;
    try {
        return code_of(*r.body, begin, end, *static_cast<T *>(acc));
    } catch (...) {
        r.first.capture();
        return thrown;
    }
}

template <class T, class R>
void reduce_combine(void *ctx, void *acc, const void *other) noexcept
{
    R &r = *static_cast<R *>(ctx);
    try {
        (*r.combine)(*static_cast<T *>(acc), *static_cast<const T *>(other));
    } catch (...) {
        r.first.capture();
    }
}

/* Rethrow join's exception: a's if a threw, else b's.  Out of line, so the
   join's own frame stays small (measured: 4 instructions per join less). */
[[noreturn, gnu::noinline, gnu::cold]] inline void rethrow_first(const std::exception_ptr &a,
                                                                 const std::exception_ptr &b)
{
    std::rethrow_exception(a ? a : b);
}

struct pool_deleter {
    void operator()(twill_pool *pool) const noexcept { twill_pool_destroy(pool); }
};

} /* namespace detail */

/* Owns a pool: unique_pool p(raw) destroys (draining) it when p goes away. */
using unique_pool = std::unique_ptr<twill_pool, detail::pool_deleter>;

/* twill_join over two callables: both run, possibly in parallel.  Returns
   as twill_join; rethrows a's exception, else b's (see the top). */
template <class F, class G>
int join(F &&f, G &&g)
{
    using FF = std::remove_reference_t<F>;
    using GG = std::remove_reference_t<G>;
    detail::call<FF> a{std::addressof(f), nullptr};
    detail::call<GG> b{std::addressof(g), nullptr};
    int rc = twill_join(&detail::call_task<FF>, &a, &detail::call_task<GG>, &b);
    if (a.caught || b.caught)
        detail::rethrow_first(a.caught, b.caught);
    return rc;
}

/* twill_run over a callable: runs it on a worker of pool and waits.
   Returns as twill_run; rethrows what f threw. */
template <class F>
int run(twill_pool *pool, F &&f)
{
    using FF = std::remove_reference_t<F>;
    detail::call<FF> c{std::addressof(f), nullptr};
    int rc = twill_run(pool, &detail::call_task<FF>, &c);
    if (c.caught)
        std::rethrow_exception(c.caught);
    return rc;
}

/*
 * twill_parallel_for with body(begin, end) over a chunk or body(i) per index;
 * either may return void or an int code.  Returns as twill_parallel_for; a
 * body that throws stops new chunks, and the first exception is rethrown.
 */
template <class F>
int parallel_for(twill_pool *pool, std::size_t begin, std::size_t end, F &&body,
                 std::size_t grain = 0)
{
    using FF = std::remove_reference_t<F>;
    detail::loop<FF> l{std::addressof(body), {}};
    int rc = twill_parallel_for(pool, begin, end, grain, &detail::range<FF>, &l);
    l.first.take();
    return rc;
}

/*
 * twill_parallel_reduce with body(begin, end, T &acc) folding a chunk into acc
 * (void or int code) and combine(T &acc, const T &other) merging the partial
 * result of the next chunk (associative).  T is copied bytewise by the C
 * runtime, hence trivially copyable.  result is written only on success: not
 * on an error code, not when body or combine threw (the first exception is
 * rethrown; one stops new chunks).
 */
template <class T, class Body, class Combine>
int parallel_reduce(twill_pool *pool, std::size_t begin, std::size_t end, const T &identity,
                    T &result, Body &&body, Combine &&combine, std::size_t grain = 0)
{
    static_assert(std::is_trivially_copyable_v<T>, "the C runtime copies accumulators bytewise");
    static_assert(alignof(T) <= alignof(std::max_align_t), "over-aligned accumulator");
    using R = detail::reducer<std::remove_reference_t<Body>, std::remove_reference_t<Combine>>;
    R r{std::addressof(body), std::addressof(combine), {}};
    T out = identity; /* combine may throw after the C loop saw success */
    int rc = twill_parallel_reduce(pool, begin, end, grain, &out, sizeof(T), &identity,
                                   &detail::reduce_body<T, R>, &detail::reduce_combine<T, R>, &r);
    r.first.take();
    if (rc == 0)
        result = out;
    return rc;
}

/*
 * A task group over lvalue callables; the destructor waits for its tasks.
 * A task that throws cancels the group (its unstarted tasks are discarded,
 * as after a failing code) and wait rethrows the first exception caught.
 */
class group {
public:
    /* pool nullptr: the calling worker's pool.  status() says if it worked. */
    explicit group(twill_pool *pool = nullptr) noexcept : init_(twill_group_init(&g_, pool)) {}
    group(const group &) = delete;
    group &operator=(const group &) = delete;
    /* Waits; an exception not collected by a wait is destroyed unseen. */
    ~group()
    {
        if (init_ == 0)
            twill_group_wait(&g_);
    }

    /* 0 once initialised, else twill_group_init's code (every call returns it). */
    int status() const noexcept { return init_; }

    /* f must stay alive until wait() returns (see the top of this file). */
    template <class F>
    int spawn(F &f) noexcept
    {
        return init_ != 0 ? init_ : twill_group_spawn(&g_, &task<F>, detail::arg_of(f));
    }
    /* A temporary would die before its task runs. */
    template <class F>
    int spawn(F &&f) = delete;

    /* As twill_group_wait; rethrows the first exception a task threw. */
    int wait()
    {
        if (init_ != 0)
            return init_;
        int rc = twill_group_wait(&g_);
        first_.take();
        return rc;
    }
    /* As twill_group_wait_for; rethrows once the tasks are done (not on
       ETIMEDOUT: a later wait rethrows). */
    int wait_for(std::int64_t timeout_ns)
    {
        if (init_ != 0)
            return init_;
        int rc = twill_group_wait_for(&g_, timeout_ns);
        if (rc != ETIMEDOUT)
            first_.take();
        return rc;
    }
    void cancel() noexcept
    {
        if (init_ == 0)
            twill_group_cancel(&g_);
    }
    bool cancelled() const noexcept { return init_ == 0 && twill_group_cancelled(&g_); }
    twill_group *get() noexcept { return &g_; }

private:
    /* A task of this group: the callable alone is its argument (no record to
       allocate); a throwing one finds its group through
       twill_current_group(), whose answer is &g_, the first member. */
    template <class F>
    static int task(void *arg) noexcept
    {
        try {
            return detail::code_of(*static_cast<F *>(arg));
        } catch (...) {
            reinterpret_cast<group *>(twill_current_group())->first_.capture();
            return detail::thrown;
        }
    }

    twill_group g_{}; /* first: a group * and its g_'s address convert (standard layout) */
    int init_;
    detail::first_exception first_;
};

static_assert(std::is_standard_layout_v<group>, "group::task converts &g_ to the group");

} /* namespace twill */

#endif /* TWILL_HPP */
