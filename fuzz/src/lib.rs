//! Checks shared by the fuzz targets.

use ttrapd::args::{Config, Fanotify};
use ttrapd::limits::{MAX_ALLOW, MAX_REMOTES, PATH_MAX, TAG_MAX};

/// Panics unless `config` keeps every limit that the option parser
/// promises, whatever text it came from.
pub fn assert_config_limits(config: &Config<'_>) {
    assert!(config.remote_count <= MAX_REMOTES);
    assert!(config.allow_count <= MAX_ALLOW);
    assert!(config.allowed().iter().all(|exe| exe.first() == Some(&b'/')));
    assert!(!config.tag.is_empty(), "empty tag");
    assert!(config.tag.len() <= TAG_MAX, "tag of {} bytes", config.tag.len());
    assert!(config.tag.iter().all(|b| b.is_ascii_alphanumeric() || b".-_".contains(b)));
    assert!((1..=107).contains(&config.log_socket.len()));
    assert!(!config.log_socket.contains(&0));
    assert!(config.heartbeat <= 86_400);
    assert!((1..=3600).contains(&config.exec_timeout));
    assert!(config.quiet <= 3600);
    assert!(config.exec.is_none_or(|exe| exe.first() == Some(&b'/')));
    assert!(config.pidfile.is_none_or(|file| !file.is_empty() && file.len() < PATH_MAX));
    assert!(config.facility < 24, "facility {}", config.facility);
    assert!(config.severity < 8, "severity {}", config.severity);
}

/// Panics unless a run accepted with `config` is consistent: `--deny`
/// needs permission events.
pub fn assert_runnable(config: &Config<'_>) {
    assert_config_limits(config);
    assert!(!config.deny || config.fanotify == Fanotify::Permission);
}

/// Panics unless `path` is a trap path the daemon can store.
pub fn assert_trap_path(path: &[u8]) {
    assert!(!path.is_empty(), "empty trap path accepted");
    assert!(path.len() < PATH_MAX, "trap path of {} bytes accepted", path.len());
    assert!(!path.contains(&0), "trap path with a NUL accepted");
}

/// Panics unless `text` is safe to write as one log line. It must be valid
/// UTF-8 without bytes below 0x20 or DEL, and without the characters that
/// the escaper writes as `\xHH`: C1 controls, line and paragraph
/// separators, bidirectional formatting characters.
pub fn assert_one_safe_line(text: &[u8]) {
    if let Some(at) = text.iter().position(|&b| b < 0x20 || b == 0x7f) {
        panic!("control byte {:#04x} at offset {at} in {:?}", text[at], show(text));
    }
    let decoded = match core::str::from_utf8(text) {
        Ok(decoded) => decoded,
        Err(error) => panic!("output is not UTF-8 ({error}): {:?}", show(text)),
    };
    if let Some(c) = decoded.chars().find(|&c| is_hidden_control(c)) {
        panic!("hidden control U+{:04X} in {:?}", c as u32, decoded);
    }
}

/// The characters that `ttrapd::escape` must never pass through.
fn is_hidden_control(c: char) -> bool {
    matches!(
        c,
        '\u{80}'..='\u{9f}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// Returns `bytes` as text for a panic message.
pub fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A small deterministic generator (xorshift64*), so a target can derive
/// chunk sizes from a few input bytes and still replay the same way.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // xorshift never leaves the all-zero state.
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Returns a number in `0..bound`; `bound` must not be 0.
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}
