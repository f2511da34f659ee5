//! Hand-written PostgreSQL V1 functions: what `#[pg_extern]` would generate, for the few functions
//! whose per-call cost matters (the aggregate's transitions, the trigger) or whose SQL signature
//! pgrx cannot declare (`ara_lookup_window`'s regclass argument and OUT parameters).

/// Exports `pg_finfo_<symbol>`, the `Pg_finfo_record` PostgreSQL looks up next to a V1 function's
/// symbol (what `PG_FUNCTION_INFO_V1(symbol)` makes in C).
macro_rules! pg_finfo_v1 {
    ($finfo:ident) => {
        #[unsafe(no_mangle)]
        #[doc(hidden)]
        pub extern "C" fn $finfo() -> &'static pgrx::pg_sys::Pg_finfo_record {
            const V1_API: pgrx::pg_sys::Pg_finfo_record =
                pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
            &V1_API
        }
    };
}
pub(crate) use pg_finfo_v1;

/// Argument `i` of a V1 call, or None for SQL NULL.
///
/// # Safety
/// `fcinfo` must be a valid call with more than `i` arguments.
#[inline(always)]
pub(crate) unsafe fn arg(
    fcinfo: pgrx::pg_sys::FunctionCallInfo,
    i: usize,
) -> Option<pgrx::pg_sys::Datum> {
    let a = unsafe { &*(*fcinfo).args.as_ptr().add(i) };
    (!a.isnull).then_some(a.value)
}
