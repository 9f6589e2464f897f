//! Messages for people on stderr: usage errors and failures, in one shape.
//!
//! `ttrapd: <what failed>: <reason>; <what to do>`, lowercase, user values
//! in double quotes with control bytes escaped.

use crate::args::UsageError;
#[cfg(test)]
use crate::buf::Buf;
use crate::buf::Bytes;
use crate::escape;
use crate::names;

/// Escaped bytes of a user value kept in a message.
const VALUE_CAP: usize = 300;

/// A system call that failed, with what ttrapd was doing and on what.
#[derive(Clone, Copy, Debug)]
pub struct Failure<'a> {
    /// What ttrapd could not do, as a verb phrase: "watch trap".
    pub action: &'static str,
    /// The path or name it was working on; may be empty.
    pub object: &'a [u8],
    /// The errno of the failed call.
    pub errno: i32,
    /// What the reader can do about it; may be empty.
    pub hint: &'static str,
}

/// Appends the errno as `description (NAME)`, or `errno N`.
pub fn push_errno(out: &mut Bytes, errno: i32) {
    match names::errno_text(errno) {
        Some((name, text)) => {
            out.push_str(text);
            out.push_bytes(b" (");
            out.push_str(name);
            out.push(b')');
        }
        None => {
            out.push_bytes(b"errno ");
            out.push_i64(errno.into());
        }
    }
}

/// Formats `failure` as one stderr line, newline included.
pub fn format_failure(out: &mut Bytes, failure: &Failure<'_>) {
    out.push_bytes(b"ttrapd: cannot ");
    out.push_str(failure.action);
    if !failure.object.is_empty() {
        out.push(b' ');
        escape::push_quoted(out, failure.object, VALUE_CAP);
    }
    out.push_bytes(b": ");
    push_errno(out, failure.errno);
    if !failure.hint.is_empty() {
        out.push_bytes(b"; ");
        out.push_str(failure.hint);
    }
    out.push(b'\n');
}

/// Formats a usage error as stderr lines, newlines included.
pub fn format_usage(out: &mut Bytes, error: &UsageError<'_>) {
    out.push_bytes(b"ttrapd: ");
    match *error {
        UsageError::UnknownOption(option) => {
            out.push_bytes(b"unknown option ");
            escape::push_quoted(out, option, VALUE_CAP);
        }
        UsageError::UnknownShortOption(letter) => {
            out.push_bytes(b"unknown option ");
            escape::push_quoted(out, &[b'-', letter], VALUE_CAP);
        }
        UsageError::MissingValue(option) => {
            out.push_bytes(b"option \"");
            out.push_str(option);
            out.push_bytes(b"\" needs a value");
        }
        UsageError::UnexpectedValue(option) => {
            out.push_bytes(b"option \"");
            out.push_str(option);
            out.push_bytes(b"\" takes no value");
        }
        UsageError::InvalidValue { option, value, expected } => {
            out.push_bytes(b"invalid value ");
            escape::push_quoted(out, value, VALUE_CAP);
            out.push_bytes(b" for \"");
            out.push_str(option);
            out.push_bytes(b"\": expected ");
            out.push_str(expected);
        }
        UsageError::NoTrap => out.push_bytes(b"no trap given: name at least one PATH"),
        UsageError::EmptyPath => out.push_bytes(b"empty PATH: a trap needs a file name"),
        UsageError::PathTooLong(path) => {
            out.push_bytes(b"trap path is 4096 bytes or longer: ");
            escape::push_quoted(out, path, 60);
        }
        UsageError::TooManyTraps { max } => {
            out.push_bytes(b"too many traps: at most ");
            out.push_u64(max as u64);
            out.push_bytes(b" fit; trap a directory instead of its files");
        }
        UsageError::PathsTooLong { max } => {
            out.push_bytes(b"trap paths are too long together: at most ");
            out.push_u64(max as u64);
            out.push_bytes(b" bytes fit, counting the working directory for relative paths");
        }
        UsageError::RelativeWithoutCwd(path) => {
            out.push_bytes(b"relative trap path ");
            escape::push_quoted(out, path, VALUE_CAP);
            out.push_bytes(
                b" needs the working directory, which cannot be read; give an absolute path",
            );
        }
        UsageError::TooManyAllowed { max } => {
            out.push_bytes(b"too many --allow options: at most ");
            out.push_u64(max as u64);
            out.push_bytes(b" fit");
        }
        UsageError::TooManyRemotes { max } => {
            out.push_bytes(b"too many --remote options: at most ");
            out.push_u64(max as u64);
            out.push_bytes(b" fit");
        }
        UsageError::CommandLineOnly(option) => {
            out.push_bytes(b"option \"");
            out.push_str(option);
            out.push_bytes(b"\" works on the command line only");
        }
        UsageError::Conflict(first, second) => {
            out.push_bytes(b"options \"");
            out.push_str(first);
            out.push_bytes(b"\" and \"");
            out.push_str(second);
            out.push_bytes(b"\" cannot be used together: refusing access needs permission events");
        }
    }
    out.push_bytes(b"\nTry 'ttrapd --help' for more information.\n");
}

/// Formats a problem on line `error.line` of `source` (a config file, or
/// the kernel command line, where it counts words) as one stderr line.
pub fn format_line_error(out: &mut Bytes, source: &[u8], error: &crate::config::LineError<'_>) {
    use crate::config::Problem;
    out.push_bytes(b"ttrapd: ");
    out.push_bytes(source);
    out.push(b':');
    out.push_u64(error.line as u64);
    out.push_bytes(b": ");
    match error.problem {
        Problem::Usage(usage) => {
            // The usage text ends in a pointer to --help, which a config
            // file problem does not need.
            let mut text = crate::buf::Buf::<1024>::new();
            format_usage(&mut text, &usage);
            let bytes = text.as_bytes();
            let body = bytes.strip_prefix(b"ttrapd: ").unwrap_or(bytes);
            let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
            out.push_bytes(&body[..end]);
        }
        Problem::UnknownDirective(word) => {
            out.push_bytes(b"unknown directive ");
            escape::push_quoted(out, word, VALUE_CAP);
            out.push_bytes(b"; use an option name without dashes, or trap PATH");
        }
        Problem::UnclosedQuote => out.push_bytes(b"a double quote is not closed"),
        Problem::MissingPath => out.push_bytes(b"trap needs a PATH"),
        Problem::BadTrapSetting(word) => {
            out.push_bytes(b"invalid trap setting ");
            escape::push_quoted(out, word, VALUE_CAP);
            out.push_bytes(b": expected deny, quiet=SECONDS (0 to 3600) or events=NAME,...");
        }
        Problem::ExtraWord(word) => {
            out.push_bytes(b"unexpected word ");
            escape::push_quoted(out, word, VALUE_CAP);
            out.push_bytes(b"; quote a value that contains spaces");
        }
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(error: UsageError<'_>) -> String {
        let mut out = Buf::<1024>::new();
        format_usage(&mut out, &error);
        String::from_utf8(out.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn failure_names_action_object_reason_and_hint() {
        let mut out = Buf::<1024>::new();
        format_failure(
            &mut out,
            &Failure {
                action: "watch trap",
                object: b"/srv/missing",
                errno: 2,
                hint: "create the file first",
            },
        );
        assert_eq!(
            out.as_bytes(),
            b"ttrapd: cannot watch trap \"/srv/missing\": no such file or directory (ENOENT); \
              create the file first\n"
        );
    }

    #[test]
    fn failure_with_unknown_errno_prints_number() {
        let mut out = Buf::<1024>::new();
        format_failure(&mut out, &Failure { action: "poll", object: b"", errno: 999, hint: "" });
        assert_eq!(out.as_bytes(), b"ttrapd: cannot poll: errno 999\n");
    }

    #[test]
    fn usage_messages() {
        assert_eq!(
            usage(UsageError::UnknownOption(b"--frob")),
            "ttrapd: unknown option \"--frob\"\nTry 'ttrapd --help' for more information.\n"
        );
        assert!(
            usage(UsageError::UnknownShortOption(b'z'))
                .starts_with("ttrapd: unknown option \"-z\"\n")
        );
        assert!(
            usage(UsageError::MissingValue("--pidfile")).contains("\"--pidfile\" needs a value")
        );
        assert!(usage(UsageError::NoTrap).starts_with("ttrapd: no trap given"));
        assert!(
            usage(UsageError::InvalidValue {
                option: "--facility",
                value: b"no\npe",
                expected: "a facility"
            })
            .contains("invalid value \"no\\x0ape\" for \"--facility\": expected a facility")
        );
        assert!(usage(UsageError::TooManyTraps { max: 1024 }).contains("at most 1024"));
    }

    #[test]
    fn line_errors_name_file_and_line() {
        use crate::config::{LineError, Problem};
        let mut out = Buf::<1024>::new();
        let error = LineError { line: 7, problem: Problem::UnknownDirective(b"trapp") };
        format_line_error(&mut out, b"/etc/ttrapd.conf", &error);
        assert_eq!(
            std::str::from_utf8(out.as_bytes()).unwrap(),
            "ttrapd: /etc/ttrapd.conf:7: unknown directive \"trapp\"; use an option name \
             without dashes, or trap PATH\n"
        );
        out.clear();
        let usage = Problem::Usage(UsageError::MissingValue("--pidfile"));
        format_line_error(&mut out, b"f", &LineError { line: 2, problem: usage });
        assert_eq!(out.as_bytes(), b"ttrapd: f:2: option \"--pidfile\" needs a value\n");
    }
}
