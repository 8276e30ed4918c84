//! Optionally lays out the `cellar` binary's code in the order a file gives
//! (`CELLAR_SYMBOL_ORDER=FILE`, made by `scripts/symbol-order.sh`): the functions a
//! one-server command runs, first and together. A command's code pages count in its peak
//! RSS by the 64 KiB the kernel maps around each page fault (fault-around), and the
//! functions `status ONE` runs are spread over most of the binary's 11 MiB of text: 8 of its
//! 18 MiB at 10,000 servers. In the order of the file they take 2.5 MiB (BENCHMARKS.md,
//! "Peak memory of a command").
//!
//! Opt-in: the file names symbols with their hashes, which change with the build's
//! features, profile, dependencies and compiler, so it fits only the build it was made
//! from (names it does not find are ignored, and the layout is the default for them), and
//! `--symbol-ordering-file` is an LLD option (rustc's default linker on x86_64 Linux).

fn main() {
    println!("cargo:rerun-if-env-changed=CELLAR_SYMBOL_ORDER");
    let Some(file) = std::env::var_os("CELLAR_SYMBOL_ORDER").filter(|f| !f.is_empty()) else {
        return;
    };
    let file = std::path::PathBuf::from(file);
    let file = std::fs::canonicalize(&file).unwrap_or_else(|e| panic!("CELLAR_SYMBOL_ORDER={}: {e}", file.display()));
    println!("cargo:rerun-if-changed={}", file.display());
    println!("cargo:rustc-link-arg-bin=cellar=-Wl,--symbol-ordering-file={}", file.display());
    println!("cargo:rustc-link-arg-bin=cellar=-Wl,--no-warn-symbol-ordering");
}
