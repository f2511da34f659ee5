//! Allocators for the unit tests: one that counts what a state asks of it (as a memory context
//! would), and a global allocator that counts, per thread, what anything else asks of the heap, so
//! that a test can show a state keeps every buffer in the allocator it was made with.

use allocator_api2::alloc::{AllocError, Allocator};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ptr::NonNull;
use std::rc::Rc;

/// Counts live bytes and calls; clones share the counts (as clones of a context handle do).
#[derive(Clone, Default, Debug)]
pub struct Counting(Rc<Counts>);

#[derive(Default, Debug)]
pub struct Counts {
    live: Cell<usize>,
    calls: Cell<usize>,
}

impl Counting {
    pub fn live(&self) -> usize {
        self.0.live.get()
    }
    /// How many times memory was asked for (allocate or grow).
    pub fn calls(&self) -> usize {
        self.0.calls.get()
    }
}

unsafe impl Allocator for Counting {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let c = &self.0;
        c.calls.set(c.calls.get() + 1);
        c.live.set(c.live.get() + layout.size());
        // From the system directly: the global allocator counts only what went around this one.
        let p = if layout.size() == 0 {
            layout.align() as *mut u8
        } else {
            unsafe { System.alloc(layout) }
        };
        NonNull::new(p)
            .map(|p| NonNull::slice_from_raw_parts(p, layout.size()))
            .ok_or(AllocError)
    }
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        self.0.live.set(self.0.live.get() - layout.size());
        if layout.size() != 0 {
            unsafe { System.dealloc(ptr.as_ptr(), layout) }
        }
    }
}

thread_local! {
    static GLOBAL_CALLS: Cell<usize> = const { Cell::new(0) };
}

/// The global allocator of the unit-test binary: the system's, counting this thread's calls.
pub struct CountingGlobal;

unsafe impl GlobalAlloc for CountingGlobal {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = GLOBAL_CALLS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = GLOBAL_CALLS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Heap allocations made on this thread through the global allocator so far.
pub fn global_calls() -> usize {
    GLOBAL_CALLS.with(|c| c.get())
}
