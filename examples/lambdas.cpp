/*
 * lambdas.cpp — twill from C++17 with lambdas, through include/twill.hpp.
 *
 * Shows each adapter once, each with a checked result:
 *   twill::run + twill::join   recursive Fibonacci, entering the pool once;
 *   twill::parallel_for        squares of a vector, with a per-index lambda;
 *   twill::parallel_reduce     the sum of those squares, with a chunk lambda;
 *   twill::group               a group of lambdas kept in a std::vector,
 *                              which outlives the wait (see twill.hpp: a
 *                              callable must outlive its task);
 *   exceptions                 a parallel_for body that throws on a bad
 *                              input: the loop stops and the caller catches
 *                              the first exception.
 * The pool itself is the C API, owned by a twill::unique_pool.
 *
 * Usage: lambdas    (exits 1 on a wrong result)
 */
#include <cstdint>
#include <cstdio>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "twill.hpp"

namespace {

constexpr long serial_below = 20; /* smaller problems are not worth a task */

long fib_serial(long n)
{
    return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2);
}

long fib(long n)
{
    if (n < serial_below)
        return fib_serial(n);
    long a = 0, b = 0;
    twill::join([&] { a = fib(n - 1); }, [&] { b = fib(n - 2); });
    return a + b;
}

bool check(bool ok, const char *what)
{
    std::printf("%-16s %s\n", what, ok ? "OK" : "WRONG");
    return ok;
}

} /* namespace */

int main()
{
    twill_pool *raw = nullptr;
    int rc = twill_pool_create(&raw, nullptr);
    if (rc != 0) {
        std::fprintf(stderr, "twill_pool_create: %s\n", twill_strerror(rc));
        return 1;
    }
    twill::unique_pool pool(raw);
    bool ok = true;

    long f = 0;
    rc = twill::run(pool.get(), [&] { f = fib(30); });
    ok &= check(rc == 0 && f == 832040, "run + join");

    std::vector<std::uint64_t> v(1000000);
    rc = twill::parallel_for(pool.get(), 0, v.size(), [&](std::size_t i) { v[i] = i * i; });
    ok &= check(rc == 0 && v[999] == 998001 && v.back() == 999998000001u, "parallel_for");

    std::uint64_t sum = 0;
    rc = twill::parallel_reduce(
        pool.get(), 0, v.size(), std::uint64_t{0}, sum,
        [&](std::size_t b, std::size_t e, std::uint64_t &acc) {
            acc = std::accumulate(v.begin() + b, v.begin() + e, acc);
        },
        [](std::uint64_t &acc, const std::uint64_t &other) { acc += other; });
    ok &= check(rc == 0 && sum == std::accumulate(v.begin(), v.end(), std::uint64_t{0}), "parallel_reduce");

    std::vector<long> results(8);
    std::vector<std::function<int()>> tasks; /* complete before the first spawn */
    for (std::size_t i = 0; i < results.size(); i++)
        tasks.emplace_back([&results, i] { results[i] = fib_serial(long(20 + i)); return 0; });
    twill::group g(pool.get());
    for (auto &t : tasks)
        g.spawn(t);
    rc = g.wait();
    ok &= check(rc == 0 && results[7] == 196418, "group");

    /* Parse numbers; one is bad: its exception reaches the caller, the
       rest of the loop is cancelled, and the pool is fine afterwards. */
    std::vector<std::string> input(10000, "7");
    input[4321] = "seven";
    std::vector<int> parsed(input.size());
    std::string error;
    try {
        twill::parallel_for(pool.get(), 0, input.size(),
                            [&](std::size_t i) { parsed[i] = std::stoi(input[i]); });
    } catch (const std::invalid_argument &e) {
        error = e.what();
    }
    ok &= check(!error.empty(), "exception"); /* what() is the library's text */

    std::printf("lambdas: %u workers: %s\n", twill_pool_size(pool.get()), ok ? "OK" : "WRONG");
    return ok ? 0 : 1;
}
