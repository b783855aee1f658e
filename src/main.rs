//! The `convex-gateway` binary: all logic lives in the library; see `cli::main`.

/// mimalloc, built without transparent huge pages so idle memory stays small. It took less CPU
/// per request than glibc's malloc in every `bench/` scenario (see the README's Performance section).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    convex_gateway::cli::main()
}
