// mimalloc, with cellar's options (src/allocator.rs).
cellar_cli::cellar_allocator!();

fn main() {
    std::process::exit(cellar_cli::main_with_args(std::env::args_os().collect()));
}
