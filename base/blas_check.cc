#include "base/blas_check.h"

#include <dlfcn.h>
#include <link.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace base {
namespace {

bool ProcessHasSymbol(const char* name) {
  return dlsym(RTLD_DEFAULT, name) != nullptr;
}

int FindBlas(struct dl_phdr_info* info, size_t /*size*/, void* data) {
  const char* name = info->dlpi_name;
  if (name == nullptr || std::strstr(name, "libblas.so") == nullptr) return 0;
  *static_cast<std::string*>(data) = name;
  return 1;  // Stop at the first match.
}

}  // namespace

BlasVendor ClassifyBlas(const std::string& resolved_path,
                        bool (*has_symbol)(const char* name)) {
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
  std::string loaded;
  dl_iterate_phdr(FindBlas, &loaded);
  BlasInfo info;
  if (!loaded.empty()) {
    char resolved[PATH_MAX];
    info.library_path = realpath(loaded.c_str(), resolved) ? resolved : loaded;
  }
  info.vendor = ClassifyBlas(info.library_path, ProcessHasSymbol);
  return info;
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
               "run ~70x slower. Install OpenBLAS: apt-get install libopenblas0-pthread\n",
               info.library_path.c_str());
  return true;
}

}  // namespace base
