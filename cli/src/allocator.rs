//! The allocator of the `cellar` binary, and of the benches that time its work in one
//! process (they must measure what the binary runs): mimalloc instead of glibc's malloc.
//! A fleet plan makes tens of small allocations a server on every core at once, where
//! glibc's arenas and free-list consolidation cost a quarter of the time (`perf`, see
//! BENCHMARKS.md, "Fleet planning on every core").
//!
//! One option differs from mimalloc's defaults: its arenas are not committed eagerly. With
//! eager commit (mimalloc's default on Linux) a one-server command's peak RSS grows from
//! 17 MiB to 29 MiB and a bare process's from 5 to 11 MiB. Options are read when the first
//! arena is reserved, which Rust's runtime does before `main`, so they are set from a
//! constructor (`.init_array`, run before the runtime starts).

#[doc(hidden)]
pub use mimalloc::MiMalloc;

/// `mi_option_arena_eager_commit`: its place in `mi_option_e` of the `mimalloc.h` that
/// libmimalloc-sys builds (its Rust bindings do not name it).
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Sets cellar's mimalloc options; run before the first allocation ([`crate::cellar_allocator`]).
#[doc(hidden)]
pub extern "C" fn set_options() {
    // SAFETY: mi_option_set only stores a value in mimalloc's option table.
    unsafe { libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0) }
}

/// Makes mimalloc, with cellar's options, the allocator of the binary it is used in.
#[macro_export]
macro_rules! cellar_allocator {
    () => {
        #[global_allocator]
        static ALLOCATOR: $crate::allocator::MiMalloc = $crate::allocator::MiMalloc;

        #[cfg(target_os = "linux")]
        #[used]
        #[link_section = ".init_array"]
        static ALLOCATOR_OPTIONS: extern "C" fn() = $crate::allocator::set_options;
    };
}
