//! The memory functions that compiled Rust code calls and that libc would
//! provide. Plain byte loops here would be turned back into calls to these
//! same functions by the optimiser, so copying and filling use the string
//! instructions, and comparisons use volatile reads.

use core::arch::asm;

/// # Safety
///
/// `dest` and `src` must be valid for `n` bytes and must not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller's duty. `rep movsb` copies rcx bytes forward from
    // rsi to rdi; the direction flag is clear per the ABI.
    unsafe {
        asm!(
            "rep movsb",
            inout("rcx") n => _,
            inout("rdi") dest => _,
            inout("rsi") src => _,
            options(nostack, preserves_flags),
        );
    }
    dest
}

/// # Safety
///
/// `dest` and `src` must be valid for `n` bytes; they may overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dest as usize).wrapping_sub(src as usize) >= n {
        // No harmful overlap: a forward copy never reads a byte it wrote.
        // SAFETY: the caller's duty.
        return unsafe { memcpy(dest, src, n) };
    }
    // `dest` lies inside the source: copy backward from the last byte.
    // SAFETY: the caller's duty; `std` sets the direction flag for the copy
    // and `cld` restores the state the ABI requires.
    unsafe {
        asm!(
            "std",
            "rep movsb",
            "cld",
            inout("rcx") n => _,
            inout("rdi") dest.add(n).wrapping_sub(1) => _,
            inout("rsi") src.add(n).wrapping_sub(1) => _,
            options(nostack),
        );
    }
    dest
}

/// # Safety
///
/// `dest` must be valid for writes of `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dest: *mut u8, value: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller's duty. `rep stosb` stores al to rcx bytes at rdi.
    unsafe {
        asm!(
            "rep stosb",
            inout("rcx") n => _,
            inout("rdi") dest => _,
            in("al") value as u8,
            options(nostack, preserves_flags),
        );
    }
    dest
}

/// # Safety
///
/// `a` and `b` must be valid for reads of `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut index = 0;
    while index < n {
        // SAFETY: the caller's duty; `index < n`.
        let (x, y) = unsafe { (a.add(index).read_volatile(), b.add(index).read_volatile()) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        index += 1;
    }
    0
}

/// # Safety
///
/// `a` and `b` must be valid for reads of `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller's duty, passed on.
    unsafe { memcmp(a, b, n) }
}

/// # Safety
///
/// `text` must point at a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strlen(text: *const u8) -> usize {
    let mut len = 0;
    // SAFETY: the caller's duty: every byte up to the NUL is readable.
    while unsafe { text.add(len).read_volatile() } != 0 {
        len += 1;
    }
    len
}
