//! The config-file parser on arbitrary text. Every trap it hands over must
//! be a valid path taken from the text, and the configuration must keep
//! every option limit. Each problem must name an existing line, with a
//! message that is one safe line.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ttrapd::args::{Config, UsageError};
use ttrapd::buf::Buf;
use ttrapd::config::{self, LineError};
use ttrapd::report;

/// Traps accepted before the callback fails, so that its error path runs
/// too.
const TRAP_LIMIT: usize = 16;

fuzz_target!(|data: &[u8]| {
    let mut config = Config::default();
    let mut traps = Vec::new();
    let mut errors: Vec<LineError<'_>> = Vec::new();
    let counted = config::parse_file(
        data,
        &mut config,
        |path, settings| {
            if traps.len() == TRAP_LIMIT {
                return Err(UsageError::TooManyTraps { max: TRAP_LIMIT });
            }
            traps.push((path, settings));
            Ok(())
        },
        |error| errors.push(error),
    );
    assert_eq!(counted, traps.len(), "trap count against traps handed over");
    let text_range = data.as_ptr_range();
    for (path, settings) in &traps {
        ttrapd_fuzz::assert_trap_path(path);
        assert!(text_range.contains(&path.as_ptr()), "trap path not taken from the text");
        assert!(settings.quiet.is_none_or(|quiet| quiet <= 3600));
        assert!(u32::from(settings.events) < 1 << (ttrapd::flood::EVENTS.len() - 1));
    }
    ttrapd_fuzz::assert_config_limits(&config);

    let lines = data.split(|&b| b == b'\n').count();
    for error in &errors {
        assert!((1..=lines).contains(&error.line), "problem on line {} of {lines}", error.line);
        let mut message = Buf::<2048>::new();
        report::format_line_error(&mut message, b"fuzz.conf", error);
        assert!(!message.overflowed(), "message cut: {error:?}");
        let text = message.as_bytes().strip_suffix(b"\n").expect("message ends in a newline");
        ttrapd_fuzz::assert_one_safe_line(text);
    }
});
