//! x86_64 entry point and system call instruction.

use core::arch::{asm, global_asm};

// The kernel enters `_start` with the stack pointer at argc, 16-byte
// aligned, and no return address (System V x86_64 ABI, "Process
// Initialization").
global_asm!(
    ".globl _start",
    ".type _start, @function",
    "_start:",
    "xor ebp, ebp",      // mark the outermost frame for debuggers
    "mov rdi, rsp",      // the first argument of rt::start: the stack pointer
    "and rsp, -16",      // keep the alignment the ABI promises
    "call {start}",      // rt::start never returns
    "ud2",
    start = sym super::start,
);

/// Executes `syscall` with six arguments and returns `rax` as the kernel
/// left it: a value, or minus an errno in the range -4095..=-1.
///
/// # Safety
///
/// The arguments must be valid for system call `number`.
#[inline]
pub unsafe fn syscall6(number: usize, args: [usize; 6]) -> usize {
    let ret: usize;
    // SAFETY: the caller's duty. The kernel clobbers rcx and r11 only.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") number => ret,
            in("rdi") args[0],
            in("rsi") args[1],
            in("rdx") args[2],
            in("r10") args[3],
            in("r8") args[4],
            in("r9") args[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}
