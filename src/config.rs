//! The config file (`--config FILE`) and the kernel command line
//! (`--cmdline`).
//!
//! A config file holds one directive a line; `#` starts a comment. A
//! directive is a long option name without its dashes, with its value
//! after white space (`pidfile /run/ttrapd.pid`, `no-perm`,
//! `remote udp://192.0.2.1:514`), or a trap:
//!
//! ```text
//! trap /etc/shadow
//! trap /srv/decoy/vpn.key deny quiet=0 events=open,read
//! trap "/srv/decoy/with space"
//! ```
//!
//! A double-quoted word may hold spaces but no `"`. The kernel command line
//! gives the same directives as `ttrapd.NAME=VALUE` or `ttrapd.NAME`
//! words, such as `ttrapd.trap=/etc/shadow ttrapd.quiet=5`.

use crate::args::{self, Config, UsageError};
use crate::flood;

/// Settings a `trap` line can give one trap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrapSettings {
    /// Refuse opens of this trap even without `--deny`.
    pub deny: bool,
    /// Flood-control window for this trap, overriding `--quiet`.
    pub quiet: Option<u32>,
    /// Events that alert, one bit per [`flood::EVENTS`] entry; 0 for all.
    pub events: u16,
}

/// What is wrong with a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem<'a> {
    /// A directive whose option rejected its value, or a misplaced option.
    Usage(UsageError<'a>),
    /// A word that is no option and not `trap`.
    UnknownDirective(&'a [u8]),
    /// A `"` without its closing partner.
    UnclosedQuote,
    /// A `trap` line without a path.
    MissingPath,
    /// A word after a `trap` path that is no trap setting.
    BadTrapSetting(&'a [u8]),
    /// More words than the directive takes.
    ExtraWord(&'a [u8]),
}

/// A problem and the line (counted from 1) or kernel command-line word
/// (counted from 1) where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineError<'a> {
    pub line: usize,
    pub problem: Problem<'a>,
}

/// Splits `line` into words at spaces and tabs; a word in double quotes
/// may hold both. Returns `None` for an unclosed quote.
fn words<'a>(line: &'a [u8], out: &mut [&'a [u8]; 8]) -> Option<usize> {
    let mut count = 0;
    let mut pos = 0;
    while pos < line.len() {
        let byte = line[pos];
        if byte == b' ' || byte == b'\t' || byte == b'\r' {
            pos += 1;
            continue;
        }
        let (word, next) = if byte == b'"' {
            let close = line[pos + 1..].iter().position(|&b| b == b'"')?;
            (&line[pos + 1..pos + 1 + close], pos + close + 2)
        } else {
            let end = line[pos..]
                .iter()
                .position(|&b| b == b' ' || b == b'\t' || b == b'\r')
                .map_or(line.len(), |n| pos + n);
            (&line[pos..end], end)
        };
        if count < out.len() {
            out[count] = word;
        }
        count += 1;
        pos = next;
    }
    Some(count)
}

/// Returns where the comment of `line` starts: the first `#` outside
/// double quotes, or the line's end.
fn comment_start(line: &[u8]) -> usize {
    let mut quoted = false;
    for (index, &byte) in line.iter().enumerate() {
        match byte {
            b'"' => quoted = !quoted,
            b'#' if !quoted => return index,
            _ => {}
        }
    }
    line.len()
}

/// Parses the settings words after a trap path.
fn trap_settings<'a>(settings: &[&'a [u8]]) -> Result<TrapSettings, Problem<'a>> {
    let mut result = TrapSettings::default();
    for &word in settings {
        if word == b"deny" {
            result.deny = true;
        } else if let Some(value) = word.strip_prefix(b"quiet=") {
            let seconds = crate::buf::parse_u64(value).filter(|&n| n <= 3600);
            result.quiet = Some(seconds.ok_or(Problem::BadTrapSetting(word))? as u32);
        } else if let Some(list) = word.strip_prefix(b"events=") {
            for name in list.split(|&b| b == b',') {
                let index = flood::EVENTS[..flood::ALERT_EVENTS]
                    .iter()
                    .position(|known| known.as_bytes() == name)
                    .ok_or(Problem::BadTrapSetting(word))?;
                result.events |= 1 << index;
            }
        } else {
            return Err(Problem::BadTrapSetting(word));
        }
    }
    Ok(result)
}

/// Applies one directive: `name` and the words after it.
fn directive<'a, F>(
    config: &mut Config<'a>,
    name: &'a [u8],
    rest: &[&'a [u8]],
    on_trap: &mut F,
) -> Result<usize, Problem<'a>>
where
    F: FnMut(&'a [u8], TrapSettings) -> Result<(), UsageError<'a>>,
{
    if name == b"trap" {
        let (&path, settings) = rest.split_first().ok_or(Problem::MissingPath)?;
        args::check_trap_path(path).map_err(Problem::Usage)?;
        let settings = trap_settings(settings)?;
        on_trap(path, settings).map_err(Problem::Usage)?;
        return Ok(1);
    }
    if rest.len() > 1 {
        return Err(Problem::ExtraWord(rest[1]));
    }
    match args::apply_named(config, name, rest.first().copied()) {
        Ok(()) => Ok(0),
        Err(UsageError::UnknownOption(_)) => Err(Problem::UnknownDirective(name)),
        Err(error) => Err(Problem::Usage(error)),
    }
}

/// Parses a config file's text onto `config`, handing each trap to
/// `on_trap`. A bad line goes to `on_error` and parsing goes on, so every
/// problem can be named. Returns the number of traps.
pub fn parse_file<'a, F, E>(
    text: &'a [u8],
    config: &mut Config<'a>,
    mut on_trap: F,
    mut on_error: E,
) -> usize
where
    F: FnMut(&'a [u8], TrapSettings) -> Result<(), UsageError<'a>>,
    E: FnMut(LineError<'a>),
{
    let mut traps = 0;
    for (index, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        let content = &raw[..comment_start(raw)];
        let mut list: [&[u8]; 8] = [b""; 8];
        let Some(count) = words(content, &mut list) else {
            on_error(LineError { line, problem: Problem::UnclosedQuote });
            continue;
        };
        if count == 0 {
            continue;
        }
        if count > list.len() {
            on_error(LineError { line, problem: Problem::ExtraWord(list[list.len() - 1]) });
            continue;
        }
        match directive(config, list[0], &list[1..count], &mut on_trap) {
            Ok(added) => traps += added,
            Err(problem) => on_error(LineError { line, problem }),
        }
    }
    traps
}

/// Prefix of the kernel command-line words that ttrapd reads.
const CMDLINE_PREFIX: &[u8] = b"ttrapd.";

/// Parses `ttrapd.NAME=VALUE` words from the kernel command line text
/// (`/proc/cmdline`) onto `config`; other words are ignored. A value may be
/// in double quotes. Errors give the word's position among all words.
pub fn parse_cmdline<'a, F, E>(
    text: &'a [u8],
    config: &mut Config<'a>,
    mut on_trap: F,
    mut on_error: E,
) -> usize
where
    F: FnMut(&'a [u8], TrapSettings) -> Result<(), UsageError<'a>>,
    E: FnMut(LineError<'a>),
{
    let mut traps = 0;
    let mut position = 0;
    let mut pos = 0;
    while pos < text.len() {
        if text[pos].is_ascii_whitespace() {
            pos += 1;
            continue;
        }
        // A word ends at white space outside double quotes.
        let start = pos;
        let mut quoted = false;
        while pos < text.len() && (quoted || !text[pos].is_ascii_whitespace()) {
            if text[pos] == b'"' {
                quoted = !quoted;
            }
            pos += 1;
        }
        position += 1;
        let Some(word) = text[start..pos].strip_prefix(CMDLINE_PREFIX) else { continue };
        let (name, value) = match word.iter().position(|&b| b == b'=') {
            Some(eq) => {
                let value = &word[eq + 1..];
                let value =
                    value.strip_prefix(b"\"").and_then(|v| v.strip_suffix(b"\"")).unwrap_or(value);
                (&word[..eq], Some(value))
            }
            None => (word, None),
        };
        let rest: &[&[u8]] = match &value {
            Some(value) => core::slice::from_ref(value),
            None => &[],
        };
        match directive(config, name, rest, &mut on_trap) {
            Ok(added) => traps += added,
            Err(problem) => on_error(LineError { line: position, problem }),
        }
    }
    traps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Fanotify;

    struct Outcome<'a> {
        config: Config<'a>,
        traps: Vec<(&'a [u8], TrapSettings)>,
        errors: Vec<LineError<'a>>,
    }

    fn file(text: &str) -> Outcome<'_> {
        let mut config = Config::default();
        let mut traps = Vec::new();
        let mut errors = Vec::new();
        let count = parse_file(
            text.as_bytes(),
            &mut config,
            |path, settings| {
                traps.push((path, settings));
                Ok(())
            },
            |error| errors.push(error),
        );
        assert_eq!(count, traps.len());
        Outcome { config, traps, errors }
    }

    #[test]
    fn good_file() {
        let outcome = file(
            "# decoys\n\
             pidfile /run/ttrapd.pid\n\
             no-perm\n\
             remote udp://127.0.0.1:514   # collector\n\
             quiet 5\n\
             allow /usr/sbin/backup\n\
             trap /etc/shadow\n\
             \ttrap \"/srv/with space/key\" deny quiet=0 events=open,read\n\
             \n",
        );
        assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
        assert_eq!(outcome.config.pidfile, Some(&b"/run/ttrapd.pid"[..]));
        assert_eq!(outcome.config.fanotify, Fanotify::Notification);
        assert_eq!(outcome.config.remotes().len(), 1);
        assert_eq!(outcome.config.quiet, 5);
        assert_eq!(outcome.config.allowed(), &[&b"/usr/sbin/backup"[..]]);
        assert_eq!(outcome.traps.len(), 2);
        assert_eq!(outcome.traps[0], (&b"/etc/shadow"[..], TrapSettings::default()));
        let (path, settings) = outcome.traps[1];
        assert_eq!(path, b"/srv/with space/key");
        assert!(settings.deny);
        assert_eq!(settings.quiet, Some(0));
        assert_eq!(settings.events, 1 << 0 | 1 << 2);
    }

    #[test]
    fn each_kind_of_bad_line() {
        let outcome = file(
            "trapp /x\n\
             quiet loud\n\
             trap\n\
             trap /x frobnicate\n\
             trap \"/unclosed\n\
             pidfile /a /b\n\
             help\n\
             no-perm yes\n\
             trap /y events=open,bogus\n\
             pidfile\n",
        );
        let problems: Vec<_> = outcome.errors.iter().map(|e| (e.line, e.problem)).collect();
        assert_eq!(problems.len(), 10, "{problems:?}");
        assert_eq!(problems[0], (1, Problem::UnknownDirective(b"trapp")));
        assert!(matches!(problems[1], (2, Problem::Usage(UsageError::InvalidValue { .. }))));
        assert_eq!(problems[2], (3, Problem::MissingPath));
        assert_eq!(problems[3], (4, Problem::BadTrapSetting(b"frobnicate")));
        assert_eq!(problems[4], (5, Problem::UnclosedQuote));
        assert_eq!(problems[5], (6, Problem::ExtraWord(b"/b")));
        assert_eq!(problems[6], (7, Problem::Usage(UsageError::CommandLineOnly("--help"))));
        assert_eq!(problems[7], (8, Problem::Usage(UsageError::UnexpectedValue("--no-perm"))));
        assert_eq!(problems[8], (9, Problem::BadTrapSetting(b"events=open,bogus")));
        assert_eq!(problems[9], (10, Problem::Usage(UsageError::MissingValue("--pidfile"))));
        assert!(outcome.traps.is_empty());
    }

    #[test]
    fn hash_inside_quotes_is_kept() {
        let outcome = file("trap \"/srv/#1\" # comment\n");
        assert!(outcome.errors.is_empty());
        assert_eq!(outcome.traps[0].0, b"/srv/#1");
    }

    #[test]
    fn cmdline_words() {
        let text = b"BOOT_IMAGE=/vmlinuz root=/dev/vda ttrapd.trap=/etc/shadow quiet \
                     ttrapd.trap=\"/srv/a b\" ttrapd.quiet=3 ttrapd.no-fanotify \
                     ttrapd.remote=udp://10.0.2.2:514\n";
        let mut config = Config::default();
        let mut traps = Vec::new();
        let mut errors = Vec::new();
        let count = parse_cmdline(
            text,
            &mut config,
            |path, _| {
                traps.push(path);
                Ok(())
            },
            |error| errors.push(error),
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(count, 2);
        assert_eq!(traps, vec![&b"/etc/shadow"[..], b"/srv/a b"]);
        assert_eq!(config.quiet, 3);
        assert_eq!(config.fanotify, Fanotify::Off);
        assert_eq!(config.remotes().len(), 1);
    }

    #[test]
    fn cmdline_errors_name_the_word() {
        let mut config = Config::default();
        let mut errors = Vec::new();
        parse_cmdline(
            b"quiet ttrapd.bogus=1 ttrapd.quiet=x",
            &mut config,
            |_, _| Ok(()),
            |error| errors.push(error),
        );
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0], LineError { line: 2, problem: Problem::UnknownDirective(b"bogus") });
        assert!(matches!(errors[1].problem, Problem::Usage(UsageError::InvalidValue { .. })));
        assert_eq!(errors[1].line, 3);
    }
}
