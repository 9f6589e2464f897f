//! The intruder of the flood measurement: opens FILE once and reads its
//! first byte COUNT times with pread(2), each read an access event for a
//! trap. The bench takes this process's CPU time from wait4(2).
//!
//! Usage: pread_loop FILE COUNT

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::process::exit;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: pread_loop FILE COUNT");
        exit(2);
    }
    let count: u64 = args[2].parse().unwrap_or_else(|_| {
        eprintln!("pread_loop: invalid COUNT {:?}: expected a whole number", args[2]);
        exit(2)
    });
    let file = File::open(&args[1]).unwrap_or_else(|error| {
        eprintln!("pread_loop: failed to open {}: {error}", args[1]);
        exit(1)
    });
    let mut byte = [0u8; 1];
    for _ in 0..count {
        if let Err(error) = file.read_at(&mut byte, 0) {
            eprintln!("pread_loop: pread failed: {error}");
            exit(1);
        }
    }
}
