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

TEST(BlasCheckTest, AvxTwoKernelsOnAnAvx512CpuAreOverridden) {
  EXPECT_EQ(OpenBlasCoreOverride("Haswell", /*cpu_has_avx512=*/true), "SkylakeX");
  EXPECT_EQ(OpenBlasCoreOverride("zen", /*cpu_has_avx512=*/true), "SkylakeX");
  // OpenBLAS's own choice stands where it already uses AVX-512 or the CPU has none.
  EXPECT_EQ(OpenBlasCoreOverride("SkylakeX", /*cpu_has_avx512=*/true), "");
  EXPECT_EQ(OpenBlasCoreOverride("Cooperlake", /*cpu_has_avx512=*/true), "");
  EXPECT_EQ(OpenBlasCoreOverride("Haswell", /*cpu_has_avx512=*/false), "");
  EXPECT_EQ(OpenBlasCoreOverride("", /*cpu_has_avx512=*/true), "");
}

TEST(BlasCheckTest, OpenBlasNamesItsKernels) {
  if (DetectBlas().vendor != BlasVendor::kOpenBlas) GTEST_SKIP() << "not on OpenBLAS";
  EXPECT_FALSE(OpenBlasCoreName().empty());
}

}  // namespace
}  // namespace base
