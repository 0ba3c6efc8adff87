//! The `secflow` binary: parse arguments, run the command, map the outcome to an exit code.

fn main() {
    std::process::exit(secflow::cli::main());
}
