"""fuzz_target: a libFuzzer target and a regression test over its saved inputs."""

load("//third_party:copts.bzl", "COPTS")

def fuzz_target(name, srcs, deps, seeds = []):
    """Defines `name` (the fuzzer) and `name`_regression_test.

    Under --config=fuzz (clang, tools/fuzz.sh) `name` links libFuzzer's main; otherwise it
    links fuzz/driver.cc, which runs the entry point once over files and directories. The
    regression test always uses the driver, over regressions/<name>/ (inputs that once
    crashed or hung, kept so they never come back) and `seeds` (test fixtures), so
    `bazel test //fuzz/...` replays them with gcc, and with ASan under --config=fuzz.
    """
    native.cc_binary(
        name = name,
        srcs = srcs,
        copts = COPTS,
        deps = deps + select({
            "//fuzz:fuzzing": [],
            "//conditions:default": ["//fuzz:driver"],
        }),
        linkopts = select({
            "//fuzz:fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        tags = ["manual"],
    )
    native.cc_test(
        name = name + "_regression_test",
        size = "small",
        srcs = srcs,
        copts = COPTS,
        args = ["fuzz/regressions/" + name] + ["$(locations %s)" % s for s in seeds],
        data = native.glob(["regressions/" + name + "/**"]) + seeds,
        deps = deps + ["//fuzz:driver"],
    )
