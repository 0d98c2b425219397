/*
 * twill.hpp — a thin, header-only C++17 adapter over twill.h for lambdas.
 *
 * Every call below passes a pointer to the caller's callable as the task's
 * void * argument: nothing is copied and nothing is allocated.  Hence the one
 * rule of this header:
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
 * an error code of your choice, propagated as in twill.h).  Exceptions must not
 * escape a callable: they would unwind through C frames, so the trampolines
 * are noexcept and an escaping exception calls std::terminate.
 *
 * Everything else (pools, configuration, stats, submit) is the C API, which
 * is usable from C++ as is; unique_pool owns a pool RAII-style.
 */
#ifndef TWILL_HPP
#define TWILL_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

#include "twill.h"

namespace twill {

namespace detail {

/* Call f(args...) and turn its result into a task code: void means 0. */
template <class F, class... A>
int code_of(F &f, A &&...args) noexcept
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

template <class F>
int task(void *arg) noexcept
{
    return code_of(*static_cast<F *>(arg));
}

/* Range body: f(begin, end) if it takes two indices, else f(i) for each i. */
template <class F>
int range(void *ctx, std::size_t begin, std::size_t end) noexcept
{
    F &f = *static_cast<F *>(ctx);
    if constexpr (std::is_invocable_v<F &, std::size_t, std::size_t>) {
        return code_of(f, begin, end);
    } else {
        for (std::size_t i = begin; i < end; i++) {
            int rc = code_of(f, i);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
}

template <class Body, class Combine>
struct reducer {
    Body *body;
    Combine *combine;
};

template <class T, class R>
int reduce_body(void *ctx, std::size_t begin, std::size_t end, void *acc) noexcept
{
    return code_of(*static_cast<R *>(ctx)->body, begin, end, *static_cast<T *>(acc));
}

template <class T, class R>
void reduce_combine(void *ctx, void *acc, const void *other) noexcept
{
    (*static_cast<R *>(ctx)->combine)(*static_cast<T *>(acc), *static_cast<const T *>(other));
}

struct pool_deleter {
    void operator()(twill_pool *pool) const noexcept { twill_pool_destroy(pool); }
};

} /* namespace detail */

/* Owns a pool: unique_pool p(raw) destroys (draining) it when p goes away. */
using unique_pool = std::unique_ptr<twill_pool, detail::pool_deleter>;

/* twill_join over two callables: both run, possibly in parallel. */
template <class F, class G>
int join(F &&f, G &&g) noexcept
{
    return twill_join(&detail::task<std::remove_reference_t<F>>, detail::arg_of(f),
                      &detail::task<std::remove_reference_t<G>>, detail::arg_of(g));
}

/* twill_run over a callable: runs it on a worker of pool and waits. */
template <class F>
int run(twill_pool *pool, F &&f) noexcept
{
    return twill_run(pool, &detail::task<std::remove_reference_t<F>>, detail::arg_of(f));
}

/*
 * twill_parallel_for with body(begin, end) over a chunk or body(i) per index;
 * either may return void or an int code.
 */
template <class F>
int parallel_for(twill_pool *pool, std::size_t begin, std::size_t end, F &&body,
                 std::size_t grain = 0) noexcept
{
    return twill_parallel_for(pool, begin, end, grain,
                              &detail::range<std::remove_reference_t<F>>, detail::arg_of(body));
}

/*
 * twill_parallel_reduce with body(begin, end, T &acc) folding a chunk into acc
 * (void or int code) and combine(T &acc, const T &other) merging the partial
 * result of the next chunk (associative).  T is copied bytewise by the C
 * runtime, hence trivially copyable.  result is written only on success.
 */
template <class T, class Body, class Combine>
int parallel_reduce(twill_pool *pool, std::size_t begin, std::size_t end, const T &identity,
                    T &result, Body &&body, Combine &&combine, std::size_t grain = 0) noexcept
{
    static_assert(std::is_trivially_copyable_v<T>, "the C runtime copies accumulators bytewise");
    static_assert(alignof(T) <= alignof(std::max_align_t), "over-aligned accumulator");
    using R = detail::reducer<std::remove_reference_t<Body>, std::remove_reference_t<Combine>>;
    R r{std::addressof(body), std::addressof(combine)};
    return twill_parallel_reduce(pool, begin, end, grain, &result, sizeof(T), &identity,
                                 &detail::reduce_body<T, R>, &detail::reduce_combine<T, R>, &r);
}

/* A task group over lvalue callables; the destructor waits for its tasks. */
class group {
public:
    /* pool nullptr: the calling worker's pool.  status() says if it worked. */
    explicit group(twill_pool *pool = nullptr) noexcept : init_(twill_group_init(&g_, pool)) {}
    group(const group &) = delete;
    group &operator=(const group &) = delete;
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
        return init_ != 0 ? init_ : twill_group_spawn(&g_, &detail::task<F>, detail::arg_of(f));
    }
    /* A temporary would die before its task runs. */
    template <class F>
    int spawn(F &&f) = delete;

    int wait() noexcept { return init_ != 0 ? init_ : twill_group_wait(&g_); }
    int wait_for(std::int64_t timeout_ns) noexcept
    {
        return init_ != 0 ? init_ : twill_group_wait_for(&g_, timeout_ns);
    }
    void cancel() noexcept
    {
        if (init_ == 0)
            twill_group_cancel(&g_);
    }
    bool cancelled() const noexcept { return init_ == 0 && twill_group_cancelled(&g_); }
    twill_group *get() noexcept { return &g_; }

private:
    twill_group g_{};
    int init_;
};

} /* namespace twill */

#endif /* TWILL_HPP */
