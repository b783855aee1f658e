//! The `convex-gateway` binary: all logic lives in the library; see `cli::main`.

/// mimalloc: fewer and cheaper allocator calls than glibc's under many small, short-lived
/// allocations across threads (measured in `bench/`; see the README's Performance section).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    convex_gateway::cli::main()
}
