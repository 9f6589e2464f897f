//! The runtime that libc would otherwise provide: the program entry, raw
//! system calls for what rustix lacks, the memory functions that compiled
//! code calls, and the panic handler.
//!
//! Only x86_64 is implemented. A port adds a sibling of `x86_64.rs` that
//! defines `_start` and `syscall6`, and selects it below.

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use x86_64::syscall6;

#[cfg(not(target_arch = "x86_64"))]
compile_error!(
    "ttrapd's runtime supports only x86_64. A port must add src/rt/<arch>.rs with \
     `_start` (pass the initial stack pointer to rt::start) and `syscall6` (the \
     system call instruction and register convention), then select it in src/rt/mod.rs."
);

mod mem;

use core::ffi::CStr;

/// The process arguments, as the kernel laid them out on the stack.
#[derive(Clone, Copy)]
pub struct Args {
    argv: *const *const u8,
    argc: usize,
}

impl Args {
    pub fn len(&self) -> usize {
        self.argc
    }

    /// Returns argument `index` without its NUL, or `None` past the end.
    pub fn get(&self, index: usize) -> Option<&'static [u8]> {
        if index >= self.argc {
            return None;
        }
        // SAFETY: checked: `index < argc`. Assumed of the kernel: argv holds
        // `argc` pointers to NUL-terminated strings that live, unchanged, for
        // the whole process.
        unsafe {
            let arg = *self.argv.add(index);
            Some(CStr::from_ptr(arg.cast()).to_bytes())
        }
    }

    /// Iterates over the arguments after the program name.
    pub fn options(self) -> impl Iterator<Item = &'static [u8]> {
        (1..self.argc).filter_map(move |index| self.get(index))
    }
}

/// Continues the program entry in Rust: reads `argc` and `argv` from the
/// initial stack and runs `main`.
///
/// # Safety
///
/// `stack` must be the stack pointer the kernel handed to `_start`.
unsafe extern "C" fn start(stack: *const usize) -> ! {
    // SAFETY: assumed of the kernel (the System V x86_64 ABI process start):
    // `stack` points at argc, followed by argc argv pointers and a NULL.
    let args = unsafe { Args { argc: *stack, argv: stack.add(1).cast() } };
    let status = crate::main(args);
    exit(status)
}

/// Ends the process with `status` at once; no destructors run.
pub fn exit(status: i32) -> ! {
    // SAFETY: exit_group takes a plain integer and does not return.
    let _ = unsafe {
        syscall(linux_raw_sys::general::__NR_exit_group, [status as usize, 0, 0, 0, 0, 0])
    };
    loop {}
}

/// Makes a system call that rustix has no wrapper for; returns the result
/// or the errno.
///
/// # Safety
///
/// The arguments must be valid for system call `number`: pointers must point
/// at memory of the size and mutability the kernel expects.
pub unsafe fn syscall(number: u32, args: [usize; 6]) -> Result<usize, i32> {
    // SAFETY: the caller's duty, passed on.
    let ret = unsafe { syscall6(number as usize, args) };
    if ret > -4096isize as usize { Err(-(ret as isize) as i32) } else { Ok(ret) }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // Report without core::fmt, which would pull its formatting machinery
    // into the binary. The location is enough to find the bug.
    let mut text = ttrapd::buf::Buf::<256>::new();
    text.push_bytes(b"ttrapd: fatal: internal error at ");
    if let Some(location) = info.location() {
        text.push_str(location.file());
        text.push(b':');
        text.push_u64(location.line().into());
    }
    text.push_bytes(b"; please report this\n");
    // SAFETY: assumed: descriptor 2 is stderr, open or not.
    let _ = rustix::io::write(unsafe { rustix::stdio::stderr() }, text.as_bytes());
    crate::logger::last_words(text.as_bytes());
    exit(1)
}

/// Unwinding is disabled (`panic = "abort"`), but the prebuilt `core`
/// still names this symbol in unoptimised builds.
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}
