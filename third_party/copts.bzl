"""Compiler flags shared by every target of ours (third-party code never sees them)."""

# Our own code must build clean under these. System headers (/usr/include, LibTorch's
# include dirs passed with -isystem) are exempt, as the compiler treats them as system code.
COPTS = [
    "-Wall",
    "-Wextra",
]
