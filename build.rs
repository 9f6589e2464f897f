//! Link the binary (only the binary, not the library or tests) as a fully
//! static executable with no C start files and no C library.

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
    println!("cargo:rerun-if-changed=build.rs");
}
