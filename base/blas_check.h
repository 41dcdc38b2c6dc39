// Detects which BLAS library LibTorch is calling, so no program runs silently on the
// reference BLAS (Debian's LibTorch calls whatever libblas.so.3 the alternatives system
// selects; the reference one is ~70x slower than OpenBLAS for BERT-sized GEMMs).
#ifndef BASE_BLAS_CHECK_H_
#define BASE_BLAS_CHECK_H_

#include <functional>
#include <string>

namespace base {

enum class BlasVendor { kUnknown, kReference, kOpenBlas, kMkl, kBlis, kNotLoaded };

struct BlasInfo {
  BlasVendor vendor = BlasVendor::kNotLoaded;
  std::string library_path;  // Resolved path of the loaded libblas, if any.
};

// Pure classification, separated so it can be tested without swapping libraries:
// `resolved_path` is the real path of the loaded libblas.so.3, `has_symbol` answers
// whether a vendor's marker symbol (e.g. "openblas_get_config") is present.
BlasVendor ClassifyBlas(const std::string& resolved_path,
                        const std::function<bool(const char* name)>& has_symbol);

// Inspects the current process (loaded shared objects and their symbols).
BlasInfo DetectBlas();

const char* BlasVendorName(BlasVendor vendor);

// Prints one warning line to stderr naming the package to install when the process is
// on the reference BLAS. Returns true when it warned. Call once at the start of main().
bool WarnIfReferenceBlas();

}  // namespace base

#endif  // BASE_BLAS_CHECK_H_
