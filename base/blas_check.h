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

// The kernel family OpenBLAS picked for this CPU at load (openblas_get_corename(), e.g.
// "Haswell", "SkylakeX"), or "" when the process is not on OpenBLAS.
std::string OpenBlasCoreName();

// OpenBLAS 0.3.21 (Debian 12) predates AMD Zen 4/5 and runs its AVX2 "Haswell" kernels on
// them although they have AVX-512: a BERT-mini training step took 1.35x as long as with the
// AVX-512 "SkylakeX" kernels (AMD EPYC family 26, 2 threads: forward 326 vs 249 ms,
// backward 397 vs 280 ms). OpenBLAS reads OPENBLAS_CORETYPE when it loads; programs here
// leave it to the user (an explicit setting may be there to keep numerics equal across
// machines) and report it (BlasDescription). The OPENBLAS_CORETYPE that would help ("SkylakeX" when
// `core_name` is an AVX2 or older x86 kernel family and the CPU has AVX-512 F/CD/BW/DQ/VL),
// or "" to keep OpenBLAS's choice. Pure, so it can be tested on any machine.
std::string OpenBlasCoreOverride(const std::string& core_name, bool cpu_has_avx512);

// Whether this CPU has the AVX-512 subsets SkylakeX kernels use (F, CD, BW, DQ, VL).
bool CpuHasAvx512();

// Prints one warning line to stderr naming the package to install when the process is
// on the reference BLAS. Returns true when it warned. Call once at the start of main().
bool WarnIfReferenceBlas();

// One line for figures to name the BLAS they were measured with, e.g. "openblas Haswell
// kernels (OPENBLAS_CORETYPE=Haswell), AVX-512 CPU: OPENBLAS_CORETYPE=SkylakeX would be
// faster".
std::string BlasDescription();

}  // namespace base

#endif  // BASE_BLAS_CHECK_H_
