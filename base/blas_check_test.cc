#include "base/blas_check.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstring>

namespace base {
namespace {

bool NoSymbols(const char*) { return false; }
bool OnlyOpenBlas(const char* name) { return std::strcmp(name, "openblas_get_config") == 0; }

TEST(BlasCheckTest, ClassifiesDebianReferenceBlas) {
  EXPECT_EQ(ClassifyBlas("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0", NoSymbols),
            BlasVendor::kReference);
}

TEST(BlasCheckTest, OpenBlasSymbolWinsOverPath) {
  EXPECT_EQ(ClassifyBlas("/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3",
                         OnlyOpenBlas),
            BlasVendor::kOpenBlas);
}

TEST(BlasCheckTest, NothingLoaded) {
  EXPECT_EQ(ClassifyBlas("", NoSymbols), BlasVendor::kNotLoaded);
}

TEST(BlasCheckTest, ThisProcessIsNotOnReferenceBlas) {
  // The install script selects OpenBLAS; LibTorch is linked, so libblas is loaded.
  at::Tensor a = at::ones({4, 4});
  EXPECT_EQ(at::mm(a, a).sum().item<float>(), 64.0f);
  const BlasInfo info = DetectBlas();
  EXPECT_NE(info.vendor, BlasVendor::kReference) << info.library_path;
  EXPECT_FALSE(info.library_path.empty());
}

}  // namespace
}  // namespace base
