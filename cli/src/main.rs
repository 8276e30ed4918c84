fn main() {
    std::process::exit(cellar_cli::main_with_args(std::env::args_os().collect()));
}
