// What every oneDNN kernel here shares: the CPU engine, and a small thread-safe LRU cache of
// primitives keyed by what they were created for (a primitive is expensive to create and
// cheap to run, so each shape is created once).
//
//   mutable kernels::PrimitiveCache<int64_t, Primitive> cache{/*capacity=*/16};
//   std::shared_ptr<const Primitive> p = cache.GetOrCreate(rows, [&] {
//     auto made = std::make_shared<Primitive>(); ...; return made;
//   });
#ifndef KERNELS_ONEDNN_H_
#define KERNELS_ONEDNN_H_

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <utility>

#include <oneapi/dnnl/dnnl.hpp>

namespace kernels {

// The process's oneDNN CPU engine (never destroyed: kernels may run during static teardown).
dnnl::engine& CpuEngine();

template <typename Key, typename Primitive>
class PrimitiveCache {
 public:
  explicit PrimitiveCache(size_t capacity) : capacity_(capacity) {}

  // The primitive cached for `key`, else create() (a std::shared_ptr to a Primitive) cached
  // as the most recent, dropping the least recently used beyond the capacity. Thread-safe;
  // create() runs under the cache's lock.
  template <typename Create>
  std::shared_ptr<const Primitive> GetOrCreate(const Key& key, Create&& create) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first == key) {
        entries_.splice(entries_.begin(), entries_, it);
        return entries_.front().second;
      }
    }
    std::shared_ptr<const Primitive> primitive = create();
    entries_.emplace_front(key, primitive);
    if (entries_.size() > capacity_) entries_.pop_back();
    return primitive;
  }

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::list<std::pair<Key, std::shared_ptr<const Primitive>>> entries_;
};

}  // namespace kernels

#endif  // KERNELS_ONEDNN_H_
