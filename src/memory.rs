//! PostgreSQL memory contexts as Rust allocators, so that what a Rust value holds is memory
//! PostgreSQL counts (`MemoryContextMemAllocated`, which hash aggregation spills by and EXPLAIN
//! reports) and frees with the context: at the end of a group or query, on error and on cancel.
//!
//! - [`ContextAlloc`]: the `allocator-api2` trait over `MemoryContextAllocHuge`/`repalloc_huge`/
//!   `pfree`, for the collections of `crate::core` (allocator-aware on stable Rust).
//! - [`place_in_context`]: a value itself palloc'd in a context, dropped in place when the
//!   context is reset or deleted.
//!
//! Allocation failure is PostgreSQL's `ERROR: out of memory`, raised inside the palloc call; pgrx
//! turns it into a Rust panic that unwinds to the `#[pg_guard]` of the SQL-callable function and
//! is re-raised there as the same ERROR. The collections are unwind-safe across a failed
//! allocation (nothing is moved before the new buffer exists), and the context reset that follows
//! the error drops them.

use allocator_api2::alloc::{AllocError, Allocator};
use pgrx::pg_sys;
use std::alloc::Layout;
use std::ptr::NonNull;

/// palloc's alignment (MAXALIGN): 8 on every 64-bit platform pgrx builds for.
const PALLOC_ALIGN: usize = pg_sys::MAXIMUM_ALIGNOF as usize;

/// An allocator whose memory lives in one PostgreSQL memory context. Copying it copies the handle:
/// every copy allocates in the same context. The context must outlive every allocation made in
/// it that is still in use (the values of this crate live in that same context).
#[derive(Clone, Copy, Debug)]
pub struct ContextAlloc(pg_sys::MemoryContext);

impl ContextAlloc {
    /// # Safety
    /// `ctx` must be a valid memory context for as long as anything allocated through the result
    /// is used.
    pub unsafe fn new(ctx: pg_sys::MemoryContext) -> ContextAlloc {
        ContextAlloc(ctx)
    }

    /// The current memory context.
    pub fn current() -> ContextAlloc {
        // SAFETY: CurrentMemoryContext is always a valid context in a backend.
        unsafe { ContextAlloc(pg_sys::CurrentMemoryContext) }
    }
}

fn dangling(align: usize) -> NonNull<u8> {
    // A non-null, aligned address for zero-sized allocations (never dereferenced).
    NonNull::new(std::ptr::without_provenance_mut(align)).expect("alignment is non-zero")
}

unsafe impl Allocator for ContextAlloc {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let size = layout.size();
        if size == 0 {
            return Ok(NonNull::slice_from_raw_parts(dangling(layout.align()), 0));
        }
        let ptr = if layout.align() <= PALLOC_ALIGN {
            // SAFETY: a valid context (new()'s contract); raises ERROR rather than return NULL.
            unsafe { pg_sys::MemoryContextAllocHuge(self.0, size) as *mut u8 }
        } else {
            // Wider than palloc aligns (hashbrown's control bytes want 16): over-allocate, align
            // up, and keep the chunk's own address in the 8 bytes just below the aligned one
            // (there are always at least 8: the chunk is 8-aligned and moves up by 8..=align).
            let align = layout.align();
            unsafe {
                let raw = pg_sys::MemoryContextAllocHuge(self.0, size + align) as *mut u8;
                let p = raw.add(align - (raw as usize % align));
                (p as *mut *mut u8).sub(1).write(raw);
                p
            }
        };
        NonNull::new(ptr)
            .map(|p| NonNull::slice_from_raw_parts(p, size))
            .ok_or(AllocError)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() == 0 {
            return;
        }
        unsafe {
            if layout.align() <= PALLOC_ALIGN {
                pg_sys::pfree(ptr.as_ptr().cast());
            } else {
                pg_sys::pfree((ptr.as_ptr() as *mut *mut u8).sub(1).read().cast());
            }
        }
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        unsafe { self.resize(ptr, old, new) }
    }

    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        unsafe { self.resize(ptr, old, new) }
    }
}

impl ContextAlloc {
    /// `repalloc` where palloc's alignment suffices, else a new chunk, a copy and a free.
    unsafe fn resize(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if old.size() != 0 && new.size() != 0 && old.align().max(new.align()) <= PALLOC_ALIGN {
            // SAFETY: ptr came from this allocator with palloc's alignment: a palloc'd chunk.
            let p = unsafe { pg_sys::repalloc_huge(ptr.as_ptr().cast(), new.size()) as *mut u8 };
            return NonNull::new(p)
                .map(|p| NonNull::slice_from_raw_parts(p, new.size()))
                .ok_or(AllocError);
        }
        let fresh = self.allocate(new)?;
        unsafe {
            std::ptr::copy_nonoverlapping(
                ptr.as_ptr(),
                fresh.as_ptr() as *mut u8,
                old.size().min(new.size()),
            );
            self.deallocate(ptr, old);
        }
        Ok(fresh)
    }
}

/// Moves `value` into memory palloc'd in `ctx` and returns it; it is dropped in place when `ctx`
/// is reset or deleted (the memory itself goes with the context). Unlike pgrx's
/// `leak_and_drop_on_delete`, the value itself is then counted as the context's memory too.
///
/// # Safety
/// `ctx` must be a valid memory context; the returned pointer must not be used after it is reset.
pub unsafe fn place_in_context<T>(ctx: pg_sys::MemoryContext, value: T) -> *mut T {
    #[pgrx::pg_guard]
    unsafe extern "C-unwind" fn drop_in_place<T>(arg: *mut std::ffi::c_void) {
        unsafe { std::ptr::drop_in_place(arg as *mut T) }
    }
    assert!(std::mem::align_of::<T>() <= PALLOC_ALIGN);
    unsafe {
        // Both chunks first: if either allocation fails, `value` is still ours and unwinds.
        let slot = pg_sys::MemoryContextAlloc(ctx, std::mem::size_of::<T>().max(1)) as *mut T;
        let cb =
            pg_sys::MemoryContextAlloc(ctx, std::mem::size_of::<pg_sys::MemoryContextCallback>())
                as *mut pg_sys::MemoryContextCallback;
        slot.write(value);
        cb.write(pg_sys::MemoryContextCallback {
            func: Some(drop_in_place::<T>),
            arg: slot.cast(),
            next: std::ptr::null_mut(),
        });
        pg_sys::MemoryContextRegisterResetCallback(ctx, cb);
        slot
    }
}

/// What a call site keeps beside its child contexts, told when those go or are replaced.
pub trait SiteState: Default {
    /// The children are being deleted (their parent is reset or deleted): forget everything that
    /// points into them, without touching it.
    fn children_gone(&mut self);
    /// Children are about to be made under another parent; the current ones stay alive until
    /// their own parent goes, but will no longer be this site's.
    fn before_new_children(&mut self);
}

impl SiteState for () {
    fn children_gone(&mut self) {}
    fn before_new_children(&mut self) {}
}

/// Where one aggregate call site keeps its child contexts (`fn_extra`), and `S` beside them.
pub struct CallSite<S> {
    pub parent: pg_sys::MemoryContext,
    /// The fixed-size structs.
    pub values: pg_sys::MemoryContext,
    /// What they grow.
    pub buffers: pg_sys::MemoryContext,
    pub state: S,
}

/// Placed in the `values` child: dropped when that child goes (with its parent), it makes the
/// site forget the children, unless the site has moved on to newer ones.
struct ChildMark<S: SiteState> {
    site: *mut CallSite<S>,
    values: pg_sys::MemoryContext,
}

impl<S: SiteState> Drop for ChildMark<S> {
    fn drop(&mut self) {
        // SAFETY: the site lives in the FmgrInfo's context, which outlives the aggregate's.
        let site = unsafe { &mut *self.site };
        if site.values == self.values {
            site.state.children_gone();
            site.values = std::ptr::null_mut();
            site.buffers = std::ptr::null_mut();
        }
    }
}

/// Two contexts under `parent` for the values of the function called through `flinfo` (`values`:
/// the fixed-size structs; `buffers`: what they grow; values is a child of buffers), made on first
/// use and remembered in `fn_extra` until `parent` is reset or deleted (which deletes its
/// children) or the function is called under another parent. PostgreSQL counts a context's
/// children with it (`MemoryContextMemAllocated(ctx, true)`, as hash aggregation does). Kept apart,
/// the structs stay packed (one cache line read per row, not one spread among the buffers), and
/// so do the parent's own chunks: in a hashed GROUP BY the parent also holds each group's key
/// tuple, read on every row.
///
/// # Safety
/// `flinfo` must be the function's own FmgrInfo, its `fn_extra` unused by anything else (and
/// always used with the same `S`); `parent` a valid memory context.
pub unsafe fn child_contexts<S: SiteState>(
    flinfo: *mut pg_sys::FmgrInfo,
    parent: pg_sys::MemoryContext,
) -> *mut CallSite<S> {
    unsafe fn create(
        parent: pg_sys::MemoryContext,
        name: &'static std::ffi::CStr,
    ) -> pg_sys::MemoryContext {
        unsafe {
            pg_sys::AllocSetContextCreateInternal(
                parent,
                name.as_ptr(),
                pg_sys::ALLOCSET_DEFAULT_MINSIZE as usize,
                pg_sys::ALLOCSET_DEFAULT_INITSIZE as usize,
                pg_sys::ALLOCSET_DEFAULT_MAXSIZE as usize,
            )
        }
    }
    unsafe {
        let mut site = (*flinfo).fn_extra as *mut CallSite<S>;
        if site.is_null() {
            site = pg_sys::MemoryContextAlloc((*flinfo).fn_mcxt, std::mem::size_of::<CallSite<S>>())
                as *mut CallSite<S>;
            site.write(CallSite {
                parent: std::ptr::null_mut(),
                values: std::ptr::null_mut(),
                buffers: std::ptr::null_mut(),
                state: S::default(),
            });
            (*flinfo).fn_extra = site.cast();
        }
        if (*site).parent != parent || (*site).values.is_null() {
            if !(*site).values.is_null() {
                (*site).state.before_new_children();
            }
            // values under buffers: deleting buffers (with parent) deletes values first, and the
            // values' drop callbacks free their buffers while those still exist.
            let buffers = create(parent, c"ara_estimate state buffers");
            let values = create(buffers, c"ara_estimate states");
            place_in_context(values, ChildMark { site, values });
            (*site).parent = parent;
            (*site).values = values;
            (*site).buffers = buffers;
        }
        site
    }
}
