//! Fixed sizes of ttrapd's tables and buffers.
//!
//! The daemon allocates nothing once armed, so every table has a size set
//! here. Exceeding one gives a clear error at start-up, never a silent cut.

/// Maximum number of traps, from the command line, counted after duplicate
/// paths are merged.
pub const MAX_TRAPS: usize = 1024;

/// Total bytes of trap path text the daemon can hold, including one NUL
/// terminator per path. Relative paths count after the working directory
/// is prefixed.
pub const PATH_ARENA_BYTES: usize = 64 * 1024;

/// Longest path that the kernel accepts (`PATH_MAX`, including the NUL).
pub const PATH_MAX: usize = 4096;

/// Size of one syslog line before it is sent. Values are capped well below
/// this, so a line is only cut when many long fields meet.
pub const LINE_BYTES: usize = 2048;

/// Escaped bytes kept of a path-like value (trap, entry) before the cut
/// marker.
pub const PATH_FIELD_CAP: usize = 400;

/// Escaped bytes kept of any other value before the cut marker.
pub const TEXT_FIELD_CAP: usize = 200;

/// Maximum length of the syslog tag set with `--tag`.
pub const TAG_MAX: usize = 32;

/// Maximum number of `--allow` executables.
pub const MAX_ALLOW: usize = 16;

/// Escaped bytes kept of a command line or an ancestry chain before the cut
/// marker.
pub const CMD_FIELD_CAP: usize = 256;

/// Maximum number of `--remote` collectors.
pub const MAX_REMOTES: usize = 4;

/// Hooks (`--exec`) that may run at once; an alert that finds them all
/// busy runs none and is counted.
pub const MAX_HOOKS: usize = 4;

/// Bytes queued per TCP collector while it cannot take them.
pub const REMOTE_QUEUE_BYTES: usize = 32 * 1024;
