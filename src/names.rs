//! Names for numbers: syslog facilities and severities (RFC 3164 and
//! syslog(3)), signals and the errno values ttrapd can meet.

/// Syslog facility names accepted by `--facility`, with their codes.
pub const FACILITIES: &[(&str, u8)] = &[
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// Syslog severity names accepted by `--severity`, with their codes.
pub const SEVERITIES: &[(&str, u8)] = &[
    ("emerg", 0),
    ("alert", 1),
    ("crit", 2),
    ("err", 3),
    ("warning", 4),
    ("notice", 5),
    ("info", 6),
    ("debug", 7),
];

pub const SEVERITY_ALERT: u8 = 1;
pub const SEVERITY_ERR: u8 = 3;
pub const SEVERITY_WARNING: u8 = 4;
pub const SEVERITY_NOTICE: u8 = 5;
pub const SEVERITY_INFO: u8 = 6;

/// Looks up `name` in a name table.
pub fn lookup(table: &[(&str, u8)], name: &[u8]) -> Option<u8> {
    table.iter().find(|(known, _)| known.as_bytes() == name).map(|&(_, code)| code)
}

/// Returns the name of signal `signo` on x86_64 Linux, or `None` for a
/// number without a standard name.
pub fn signal_name(signo: u32) -> Option<&'static str> {
    const NAMES: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    let index = (signo as usize).checked_sub(1)?;
    NAMES.get(index).copied()
}

/// Returns the symbolic name and a short description of errno `code`.
/// Codes outside the table get `None`, and callers print the number.
pub fn errno_text(code: i32) -> Option<(&'static str, &'static str)> {
    let text = match code {
        1 => ("EPERM", "operation not permitted"),
        2 => ("ENOENT", "no such file or directory"),
        3 => ("ESRCH", "no such process"),
        4 => ("EINTR", "interrupted system call"),
        5 => ("EIO", "input/output error"),
        9 => ("EBADF", "bad file descriptor"),
        11 => ("EAGAIN", "resource temporarily unavailable"),
        12 => ("ENOMEM", "out of memory"),
        13 => ("EACCES", "permission denied"),
        17 => ("EEXIST", "file exists"),
        20 => ("ENOTDIR", "not a directory"),
        21 => ("EISDIR", "is a directory"),
        22 => ("EINVAL", "invalid argument"),
        23 => ("ENFILE", "too many open files in system"),
        24 => ("EMFILE", "too many open files"),
        28 => ("ENOSPC", "no space left on device or watch limit reached"),
        30 => ("EROFS", "read-only file system"),
        32 => ("EPIPE", "broken pipe"),
        36 => ("ENAMETOOLONG", "file name too long"),
        38 => ("ENOSYS", "function not implemented"),
        40 => ("ELOOP", "too many levels of symbolic links"),
        88 => ("ENOTSOCK", "not a socket"),
        91 => ("EPROTOTYPE", "protocol wrong type for socket"),
        95 => ("EOPNOTSUPP", "operation not supported"),
        97 => ("EAFNOSUPPORT", "address family not supported"),
        104 => ("ECONNRESET", "connection reset by peer"),
        105 => ("ENOBUFS", "no buffer space available"),
        107 => ("ENOTCONN", "socket is not connected"),
        110 => ("ETIMEDOUT", "connection timed out"),
        111 => ("ECONNREFUSED", "connection refused"),
        _ => return None,
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facility_codes_match_syslog_h() {
        assert_eq!(lookup(FACILITIES, b"authpriv"), Some(10));
        assert_eq!(lookup(FACILITIES, b"local7"), Some(23));
        assert_eq!(lookup(FACILITIES, b"nope"), None);
        assert_eq!(lookup(SEVERITIES, b"alert"), Some(SEVERITY_ALERT));
    }

    #[test]
    fn signal_names_match_libc() {
        assert_eq!(signal_name(libc::SIGTERM as u32), Some("SIGTERM"));
        assert_eq!(signal_name(libc::SIGHUP as u32), Some("SIGHUP"));
        assert_eq!(signal_name(libc::SIGSYS as u32), Some("SIGSYS"));
        assert_eq!(signal_name(libc::SIGUSR2 as u32), Some("SIGUSR2"));
        assert_eq!(signal_name(0), None);
        assert_eq!(signal_name(32), None);
    }

    #[test]
    fn errno_names_match_libc() {
        for code in 1..200 {
            if let Some((name, _)) = errno_text(code) {
                let expected = match name {
                    "EPERM" => libc::EPERM,
                    "ENOENT" => libc::ENOENT,
                    "EACCES" => libc::EACCES,
                    "ENOSPC" => libc::ENOSPC,
                    "EPROTOTYPE" => libc::EPROTOTYPE,
                    "ECONNREFUSED" => libc::ECONNREFUSED,
                    "ENOTCONN" => libc::ENOTCONN,
                    "EMFILE" => libc::EMFILE,
                    "ENOSYS" => libc::ENOSYS,
                    "ELOOP" => libc::ELOOP,
                    _ => code,
                };
                assert_eq!(code, expected, "{name}");
            }
        }
    }
}
