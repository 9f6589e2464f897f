//! Link the binary (only the binary, not the library or tests) as a fully
//! static executable with no C start files and no C library.

use std::{env, fs, path::PathBuf};

fn main() {
    // Our own `_start` replaces crt1.o and friends.
    println!("cargo:rustc-link-arg-bins=-nostartfiles");
    // No libc, libgcc or libm: the runtime module provides the few symbols
    // that compiled Rust code expects (memcpy and kin).
    println!("cargo:rustc-link-arg-bins=-nostdlib");
    // No dynamic section and no ELF interpreter.
    println!("cargo:rustc-link-arg-bins=-static");
    // A fixed load address; a static PIE would need self-relocation code.
    println!("cargo:rustc-link-arg-bins=-no-pie");
    // A build id only helps debuggers find symbols, and the release binary
    // is stripped.
    println!("cargo:rustc-link-arg-bins=-Wl,--build-id=none");

    // With panic = "abort" nothing unwinds, so the unwind tables, which the
    // prebuilt core library brings along, are dead weight (about 9 KiB).
    // A script with INSERT adds to the linker's default layout instead of
    // replacing it; GNU ld and lld both accept it.
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let script = out.join("discard-unwind-tables.ld");
    fs::write(
        &script,
        "SECTIONS { /DISCARD/ : { *(.eh_frame) *(.eh_frame_hdr) } } INSERT AFTER .text;\n",
    )
    .expect("OUT_DIR is writable");
    println!("cargo:rustc-link-arg-bins=-Wl,--no-eh-frame-hdr");
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    println!("cargo:rerun-if-changed=build.rs");
}
