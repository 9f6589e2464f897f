//! The kernel command-line parser (`ttrapd.NAME=VALUE` words) on arbitrary
//! text. Every trap it hands over must be a valid path taken from the text,
//! and the configuration must keep every option limit. Each problem must
//! name an existing word, with a message that is one safe line.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ttrapd::args::{Config, UsageError};
use ttrapd::buf::Buf;
use ttrapd::config::{self, LineError};
use ttrapd::report;

/// Traps accepted before the callback fails, so that its error path runs
/// too.
const TRAP_LIMIT: usize = 16;

/// Counts the words as the parser splits them: at white space outside
/// double quotes.
fn count_words(text: &[u8]) -> usize {
    let mut count = 0;
    let mut in_word = false;
    let mut quoted = false;
    for &byte in text {
        if !quoted && byte.is_ascii_whitespace() {
            in_word = false;
            continue;
        }
        if !in_word {
            count += 1;
            in_word = true;
        }
        if byte == b'"' {
            quoted = !quoted;
        }
    }
    count
}

fuzz_target!(|data: &[u8]| {
    let mut config = Config::default();
    let mut traps = Vec::new();
    let mut errors: Vec<LineError<'_>> = Vec::new();
    let counted = config::parse_cmdline(
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
    for (path, _) in &traps {
        ttrapd_fuzz::assert_trap_path(path);
        assert!(text_range.contains(&path.as_ptr()), "trap path not taken from the text");
    }
    ttrapd_fuzz::assert_config_limits(&config);

    let words = count_words(data);
    for error in &errors {
        assert!((1..=words).contains(&error.line), "problem at word {} of {words}", error.line);
        let mut message = Buf::<2048>::new();
        report::format_line_error(&mut message, b"/proc/cmdline", error);
        assert!(!message.overflowed(), "message cut: {error:?}");
        let text = message.as_bytes().strip_suffix(b"\n").expect("message ends in a newline");
        ttrapd_fuzz::assert_one_safe_line(text);
    }
});
