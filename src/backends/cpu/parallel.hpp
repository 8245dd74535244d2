// parallel_for over an index range with OpenMP (the same runtime oneDNN uses, so no
// oversubscription). Ranges at or below `grain` stay on the calling thread.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace neural_arch::cpu {

template <class F> void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& f) {
  const int64_t n = end - begin;
  if (n <= 0) return;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (n <= grain || threads <= 1) {
    f(begin, end);
    return;
  }
  const int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / grain);
  const int64_t per = (n + chunks - 1) / chunks;
#pragma omp parallel num_threads(static_cast <int>(chunks))
  {
    const int64_t b = begin + omp_get_thread_num() * per;
    const int64_t e = std::min(end, b + per);
    if (b < e) f(b, e);
  }
}

}  // namespace neural_arch::cpu
