//! `TextBytes`: a `text` argument read as its raw bytes, in any database encoding.
//!
//! pgrx's `&str` argument panics on non-UTF-8 bytes in a SQL_ASCII database; PostgreSQL's `md5()`
//! hashes whatever bytes the value holds, and so must `command_hash()`.

use pgrx::callconv::{Arg, ArgAbi};
use pgrx::nullable::Nullable;
use pgrx::prelude::*;

/// The bytes of a (detoasted, unpacked) `text`/`varchar` datum; borrowed for the call.
pub struct TextBytes<'a>(pub &'a [u8]);

impl<'a> TextBytes<'a> {
    /// Reads a non-null text datum.
    ///
    /// # Safety
    /// `datum` must be a valid, non-null varlena datum that lives for `'a`.
    pub unsafe fn from_datum(datum: pg_sys::Datum) -> TextBytes<'a> {
        // The usual case, an in-line value, needs no call into PostgreSQL.
        if let Some(bytes) = unsafe { inline_varlena(datum) } {
            return TextBytes(bytes);
        }
        unsafe {
            let v = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
            TextBytes(pgrx::varlena::varlena_to_byte_slice(v))
        }
    }
}

/// The data bytes of a plain in-line varlena (1-byte or uncompressed 4-byte header), or None for
/// any other form (compressed, external), which the slow path detoasts.
///
/// # Safety
/// `datum` must point to a valid varlena.
#[inline(always)]
pub unsafe fn inline_varlena<'a>(datum: pg_sys::Datum) -> Option<&'a [u8]> {
    if cfg!(target_endian = "big") {
        return None;
    }
    let p = datum.cast_mut_ptr::<u8>() as *const u8;
    let b0 = unsafe { *p };
    if b0 & 0x01 == 0x01 && b0 != 0x01 {
        // VARATT_IS_1B and not VARATT_IS_1B_E: length in the header byte, itself included.
        let len = (b0 >> 1) as usize;
        return Some(unsafe { std::slice::from_raw_parts(p.add(1), len.checked_sub(1)?) });
    }
    if b0 & 0x03 == 0x00 {
        // VARATT_IS_4B_U: a 4-byte length word, itself included.
        let len = (unsafe { (p as *const u32).read_unaligned() } >> 2) as usize;
        return Some(unsafe { std::slice::from_raw_parts(p.add(4), len.checked_sub(4)?) });
    }
    None
}

unsafe impl<'fcx> ArgAbi<'fcx> for TextBytes<'fcx> {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        unsafe { Self::unbox_nullable_arg(arg) }
            .into_option()
            .unwrap_or_else(|| pgrx::error!("pg_ara: unexpected NULL text argument"))
    }

    unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> Nullable<Self> {
        if arg.is_null() {
            return Nullable::Null;
        }
        let datum: Option<pg_sys::Datum> = unsafe { arg.unbox_arg_using_from_datum() };
        match datum {
            Some(d) if !d.is_null() => Nullable::Valid(unsafe { TextBytes::from_datum(d) }),
            _ => Nullable::Null,
        }
    }
}

pgrx::impl_sql_translatable!(TextBytes<'_>, arg_only = "text");

/// A `numeric` argument as its raw datum plus its bytes: equal bytes are equal numbers, which
/// lets the per-row check of a constant multiplier skip numeric_out.
pub struct NumericArg<'a> {
    pub datum: pg_sys::Datum,
    pub bytes: &'a [u8],
}

impl NumericArg<'_> {
    /// The number as PostgreSQL's numeric_out writes it.
    pub fn to_text(&self) -> String {
        // SAFETY: a non-null numeric datum handed to us by the executor.
        unsafe { pgrx::AnyNumeric::from_datum(self.datum, false) }
            .map(|n| n.to_string())
            .unwrap_or_default()
    }
}

unsafe impl<'fcx> ArgAbi<'fcx> for NumericArg<'fcx> {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        unsafe { Self::unbox_nullable_arg(arg) }
            .into_option()
            .unwrap_or_else(|| pgrx::error!("pg_ara: unexpected NULL numeric argument"))
    }

    unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> Nullable<Self> {
        if arg.is_null() {
            return Nullable::Null;
        }
        let datum: Option<pg_sys::Datum> = unsafe { arg.unbox_arg_using_from_datum() };
        match datum {
            Some(d) if !d.is_null() => {
                let bytes = unsafe { TextBytes::from_datum(d) }.0;
                Nullable::Valid(NumericArg { datum: d, bytes })
            }
            _ => Nullable::Null,
        }
    }
}

pgrx::impl_sql_translatable!(NumericArg<'_>, arg_only = "numeric");

/// A `text` result made of raw bytes: a function whose output keeps its input's bytes (in a
/// SQL_ASCII database those need not be UTF-8) returns them without a `String` round trip.
pub struct TextOut(pub Vec<u8>);

unsafe impl pgrx::callconv::BoxRet for TextOut {
    unsafe fn box_into<'fcx>(
        self,
        fcinfo: &mut pgrx::callconv::FcInfo<'fcx>,
    ) -> pgrx::datum::Datum<'fcx> {
        // SAFETY: cstring_to_text_with_len copies len bytes into a new palloc'd text.
        unsafe {
            let text =
                pg_sys::cstring_to_text_with_len(self.0.as_ptr().cast(), self.0.len() as i32);
            fcinfo.return_raw_datum(pg_sys::Datum::from(text))
        }
    }
}

pgrx::impl_sql_translatable!(TextOut, "text");
