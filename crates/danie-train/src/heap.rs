//! How the process heap treats the large blocks libtorch frees.
//!
//! libtorch allocates every CPU tensor with glibc's `posix_memalign`. glibc serves blocks above
//! its mmap threshold (128 KiB, rising adaptively to at most 32 MiB) with a fresh `mmap` and
//! unmaps them on `free`, so each activation of a 224 px batch (a batch of 8 at 64 x 112 x 112
//! is 26 MB, a decoder concatenation 77 MB) is new memory every step: the kernel zero-fills it
//! page by page on first touch. Measured on the CPU machine of docs/performance.md (2 threads,
//! `throughput --channels 1`): whole-volume inference of the tiny preset 17.6 -> 10.6 ms a
//! slice, S 109 -> 99; training +4 % (tiny) and +8 % (S). PyTorch's own CPU tuning guide says
//! the same and points at jemalloc or tcmalloc through `LD_PRELOAD`.
//!
//! [`keep_freed_memory`] makes glibc serve every block from its heap (`M_MMAP_MAX` 0) and keep
//! up to 2 GiB of freed memory there (`M_TRIM_THRESHOLD`), so a training or inference loop
//! reuses the pages of its previous step. The cost is a peak resident size some 15-25 %
//! higher (same runs: 614 -> 750 MB inference, 1.33 -> 1.52 GB training), never more memory
//! than a step needs at once. It is a glibc setting only, made once at start-up; a user who
//! set glibc's own knobs (`MALLOC_MMAP_MAX_`, `MALLOC_TRIM_THRESHOLD_`, `MALLOC_MMAP_THRESHOLD_`,
//! `GLIBC_TUNABLES`), preloaded another allocator (`LD_PRELOAD`), or set
//! `DANIE_SYSTEM_MALLOC=1` keeps their choice.

/// What [`keep_freed_memory`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heap {
    /// glibc now keeps freed blocks for reuse.
    KeepsFreedMemory,
    /// Left as it was: the user chose (an environment variable named above) or not glibc.
    Untouched,
}

/// Environment variables by which a user chose the allocator's behaviour themselves.
const USER_CHOICES: [&str; 6] = [
    "DANIE_SYSTEM_MALLOC",
    "MALLOC_MMAP_MAX_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_MMAP_THRESHOLD_",
    "GLIBC_TUNABLES",
    "LD_PRELOAD",
];

/// Makes glibc keep freed memory for reuse (module docs); call once, first thing in `main`,
/// before any thread starts.
pub fn keep_freed_memory() -> Heap {
    if USER_CHOICES.iter().any(|v| std::env::var_os(v).is_some()) {
        return Heap::Untouched;
    }
    set_glibc_options()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_glibc_options() -> Heap {
    // SAFETY: mallopt only sets allocator parameters; called before other threads allocate.
    let ok = unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) == 1
    };
    if ok {
        Heap::KeepsFreedMemory
    } else {
        Heap::Untouched
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_glibc_options() -> Heap {
    Heap::Untouched
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// glibc's count of blocks it serves with mmap.
    fn mmapped_blocks() -> usize {
        // SAFETY: mallinfo2 only reads the allocator's statistics.
        unsafe { libc::mallinfo2() }.hblks
    }

    #[test]
    fn large_blocks_come_from_the_heap_and_stay_there() {
        if keep_freed_memory() != Heap::KeepsFreedMemory {
            eprintln!("skipped: the environment chose the allocator ({USER_CHOICES:?})");
            return;
        }
        // A block above any mmap threshold glibc would pick (32 MiB at most), and within the
        // 64 MiB heap of the thread arena this test thread allocates from (beyond that glibc
        // mmaps whatever the setting; the main thread's heap has no such bound).
        let before = mmapped_blocks();
        let t = tch::Tensor::ones([40 << 20], (tch::Kind::Uint8, tch::Device::Cpu));
        assert_eq!(mmapped_blocks(), before, "a 40 MiB tensor was mmapped");
        drop(t);
        // SAFETY: as above.
        let kept = unsafe { libc::mallinfo2() }.fordblks;
        assert!(
            kept >= 40 << 20,
            "freed memory returned to the system ({kept} bytes kept)"
        );
    }
}
