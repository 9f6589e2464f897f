//! The command-line parser on arbitrary arguments (the input split at NUL
//! bytes). A run it accepts must keep every documented limit, and the usage
//! message for a rejected command line must be two lines without control
//! bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ttrapd::args::{self, Command, UsageError};
use ttrapd::buf::Buf;
use ttrapd::report;

/// Traps accepted before the callback fails, so that its error path runs
/// too.
const TRAP_LIMIT: usize = 16;

fuzz_target!(|data: &[u8]| {
    let arguments: Vec<&[u8]> = data.split(|&b| b == 0).collect();
    let mut traps = Vec::new();
    let parsed = args::parse(arguments.iter().copied(), |path| {
        if traps.len() == TRAP_LIMIT {
            return Err(UsageError::TooManyTraps { max: TRAP_LIMIT });
        }
        traps.push(path);
        Ok(())
    });
    for path in &traps {
        ttrapd_fuzz::assert_trap_path(path);
    }
    match parsed {
        Ok(Command::Run(config)) => {
            assert!(!traps.is_empty(), "a run without traps");
            ttrapd_fuzz::assert_runnable(&config);
        }
        Ok(Command::Help | Command::Version) => {}
        Err(error) => {
            let mut text = Buf::<1024>::new();
            report::format_usage(&mut text, &error);
            assert!(!text.overflowed(), "usage message cut: {error:?}");
            let text = text.as_bytes();
            let lines: Vec<&[u8]> =
                text.strip_suffix(b"\n").unwrap_or(text).split(|&b| b == b'\n').collect();
            assert_eq!(
                lines.len(),
                2,
                "usage message is not two lines: {:?}",
                ttrapd_fuzz::show(text)
            );
            ttrapd_fuzz::assert_one_safe_line(lines[0]);
        }
    }
});
