//! The `convex-gateway` binary: all logic lives in the library; see `cli::main`.

fn main() -> std::process::ExitCode {
    convex_gateway::cli::main()
}
