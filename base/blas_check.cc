#include "base/blas_check.h"

#include <dlfcn.h>
#include <strings.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace base {

BlasVendor ClassifyBlas(const std::string& resolved_path,
                        const std::function<bool(const char* name)>& has_symbol) {
  if (has_symbol("openblas_get_config")) return BlasVendor::kOpenBlas;
  if (has_symbol("mkl_get_version")) return BlasVendor::kMkl;
  if (has_symbol("bli_info_get_version_str")) return BlasVendor::kBlis;
  if (resolved_path.empty()) return BlasVendor::kNotLoaded;
  // Debian installs the Netlib reference implementation as .../blas/libblas.so.3.
  if (resolved_path.find("/blas/libblas.so") != std::string::npos) {
    return BlasVendor::kReference;
  }
  if (resolved_path.find("openblas") != std::string::npos) return BlasVendor::kOpenBlas;
  if (resolved_path.find("blis") != std::string::npos) return BlasVendor::kBlis;
  if (resolved_path.find("mkl") != std::string::npos) return BlasVendor::kMkl;
  return BlasVendor::kUnknown;
}

BlasInfo DetectBlas() {
  // Ask the dynamic linker which object LibTorch's sgemm_ calls resolve to. Looking for a
  // vendor symbol anywhere in the process is not enough: liblapack.so.3 can pull in
  // libopenblas.so.0 while libblas.so.3 itself is still the reference implementation.
  BlasInfo info;
  void* sgemm = dlsym(RTLD_DEFAULT, "sgemm_");
  Dl_info where;
  if (sgemm == nullptr || dladdr(sgemm, &where) == 0 || where.dli_fname == nullptr) {
    info.vendor = BlasVendor::kNotLoaded;
    return info;
  }
  char resolved[PATH_MAX];
  info.library_path = realpath(where.dli_fname, resolved) ? resolved : where.dli_fname;
  void* handle = dlopen(where.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
  info.vendor = ClassifyBlas(info.library_path, [handle](const char* name) {
    return handle != nullptr && dlsym(handle, name) != nullptr;
  });
  if (handle != nullptr) dlclose(handle);
  return info;
}

std::string OpenBlasCoreName() {
  using CoreNameFn = char* (*)();
  auto core_name = reinterpret_cast<CoreNameFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (core_name == nullptr) return "";
  const char* name = core_name();
  return name == nullptr ? "" : name;
}

std::string OpenBlasCoreOverride(const std::string& core_name, bool cpu_has_avx512) {
  if (!cpu_has_avx512) return "";
  // Kernel families OpenBLAS falls back to on x86 CPUs it does not know.
  static const char* const kOlderKernels[] = {"Haswell", "Zen", "Sandybridge", "Nehalem",
                                              "Prescott", "Core2", "Penryn", "Dunnington"};
  for (const char* older : kOlderKernels) {
    if (strcasecmp(core_name.c_str(), older) == 0) return "SkylakeX";
  }
  return "";
}

bool CpuHasAvx512() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

const char* BlasVendorName(BlasVendor vendor) {
  switch (vendor) {
    case BlasVendor::kReference:
      return "reference";
    case BlasVendor::kOpenBlas:
      return "openblas";
    case BlasVendor::kMkl:
      return "mkl";
    case BlasVendor::kBlis:
      return "blis";
    case BlasVendor::kNotLoaded:
      return "not-loaded";
    case BlasVendor::kUnknown:
      break;
  }
  return "unknown";
}

bool WarnIfReferenceBlas() {
  const BlasInfo info = DetectBlas();
  if (info.vendor != BlasVendor::kReference) return false;
  std::fprintf(stderr,
               "WARNING: LibTorch is calling the reference BLAS (%s); matrix products "
               "run ~70x slower. Install OpenBLAS: apt-get install libopenblas0-openmp\n",
               info.library_path.c_str());
  return true;
}

std::string BlasDescription() {
  const BlasInfo info = DetectBlas();
  std::string text = BlasVendorName(info.vendor);
  if (info.vendor != BlasVendor::kOpenBlas) return text;
  const std::string core = OpenBlasCoreName();
  text += " " + core + " kernels";
  if (const char* forced = std::getenv("OPENBLAS_CORETYPE")) {
    text += std::string(" (OPENBLAS_CORETYPE=") + forced + ")";
  }
  const std::string better = OpenBlasCoreOverride(core, CpuHasAvx512());
  if (!better.empty()) text += ", AVX-512 CPU: OPENBLAS_CORETYPE=" + better + " would be faster";
  return text;
}

}  // namespace base
