//! The `secflow` binary: parse arguments, run the command, map the outcome to an exit code.

fn main() {
    // First, before any other initialisation: a spawner process (see `sys::spawner`) must
    // stay small, so it never reaches clap, tracing or the runtime.
    secflow::sys::spawner::enter_if_spawner();
    std::process::exit(secflow::cli::main());
}
