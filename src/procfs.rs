//! Parsers for the `/proc` files that describe a process (proc(5)):
//! `stat`, `status`, `cmdline`, `environ` and the TCP tables in
//! `/proc/net`. Each takes bytes as read and never trusts them: a process
//! controls its own name, arguments and environment.

use crate::buf::{Buf, Bytes, parse_u64};

/// The fields of `/proc/PID/stat` that ttrapd uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat<'a> {
    /// The command name (`comm`), as the process set it.
    pub comm: &'a [u8],
    /// The state letter: `R`, `S`, `D`, `Z` (zombie), `X` (dead), ...
    pub state: u8,
    pub ppid: u32,
    /// Session id.
    pub session: u32,
    /// Kernel flags of the task, such as [`PF_EXITING`].
    pub flags: u32,
    /// Controlling terminal as an encoded device number; 0 for none.
    pub tty_nr: u32,
    /// Start time in clock ticks after boot; tells a reused pid apart.
    pub start_time: u64,
}

/// Parses `/proc/PID/stat`. The name sits between the first `(` and the
/// last `)`, because it can contain both; numbers follow the last `)`.
pub fn parse_stat(text: &[u8]) -> Option<Stat<'_>> {
    let open = text.iter().position(|&b| b == b'(')?;
    let close = text.iter().rposition(|&b| b == b')')?;
    if close < open {
        return None;
    }
    let comm = &text[open + 1..close];
    // Fields after the name, numbered as in proc(5): 3 is the state.
    let mut fields = text.get(close + 1..)?.split(|&b| b == b' ').filter(|f| !f.is_empty());
    let mut nth = |skip: usize| -> Option<&[u8]> {
        for _ in 0..skip {
            fields.next()?;
        }
        fields.next()
    };
    let state = *nth(0)?.first()?; // field 3
    let ppid = parse_u32(nth(0)?)?; // field 4
    let session = parse_u32(nth(1)?)?; // field 6
    // The kernel prints tty_nr with %d; the device number is its bits.
    let tty_nr = parse_i32(nth(0)?)? as u32; // field 7
    let flags = parse_u32(nth(1)?)?; // field 9
    let start_time = parse_u64(nth(12)?)?; // field 22
    Some(Stat { comm, state, ppid, session, tty_nr, flags, start_time })
}

/// `PF_EXITING` in the flags of `/proc/PID/stat`: the process is past the
/// point of no return in `exit(2)`, and its memory and files may be gone.
pub const PF_EXITING: u32 = 0x4;

fn parse_i32(text: &[u8]) -> Option<i32> {
    match text.strip_prefix(b"-") {
        Some(digits) => i32::try_from(parse_u64(digits)?).ok().map(|n| -n),
        None => i32::try_from(parse_u64(text)?).ok(),
    }
}

/// The ids from `/proc/PID/status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ids {
    pub uid: Option<u32>,
    pub euid: Option<u32>,
    pub gid: Option<u32>,
    pub egid: Option<u32>,
}

/// Parses the `Uid:` and `Gid:` lines of `/proc/PID/status` (real, then
/// effective, then saved and file-system ids).
pub fn parse_status_ids(text: &[u8]) -> Ids {
    let mut ids = Ids::default();
    for line in text.split(|&b| b == b'\n') {
        let (rest, real, effective) = if let Some(rest) = line.strip_prefix(b"Uid:") {
            (rest, &mut ids.uid, &mut ids.euid)
        } else if let Some(rest) = line.strip_prefix(b"Gid:") {
            (rest, &mut ids.gid, &mut ids.egid)
        } else {
            continue;
        };
        let mut numbers = words(rest);
        *real = numbers.next().and_then(parse_u32);
        *effective = numbers.next().and_then(parse_u32);
    }
    ids
}

fn words(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|&b| b == b' ' || b == b'\t').filter(|w| !w.is_empty())
}

fn parse_u32(text: &[u8]) -> Option<u32> {
    parse_u64(text).and_then(|n| u32::try_from(n).ok())
}

/// Login uid that means "never set" (`(uid_t)-1`).
pub const AUID_UNSET: u32 = u32::MAX;

/// Parses the single number in `loginuid` or `sessionid`.
pub fn parse_number_file(text: &[u8]) -> Option<u32> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    parse_u32(text)
}

/// Appends the name of terminal device `tty_nr` (`pts/3`, `tty1`,
/// `ttyS0`, `console`), or `major:minor` for other devices. Returns
/// `false` for 0, which means no controlling terminal.
pub fn push_tty_name(out: &mut Bytes, tty_nr: u32) -> bool {
    if tty_nr == 0 {
        return false;
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        136..=143 => {
            out.push_bytes(b"pts/");
            out.push_u64(u64::from((major - 136) * 256 + minor));
        }
        4 if minor < 64 => {
            out.push_bytes(b"tty");
            out.push_u64(minor.into());
        }
        4 => {
            out.push_bytes(b"ttyS");
            out.push_u64((minor - 64).into());
        }
        5 if minor == 1 => out.push_bytes(b"console"),
        _ => {
            out.push_u64(major.into());
            out.push(b':');
            out.push_u64(minor.into());
        }
    }
    true
}

/// Appends the arguments in `/proc/PID/cmdline` joined by spaces. Returns
/// `false` when `out` was too small and the text is cut.
pub fn push_cmdline(out: &mut Bytes, raw: &[u8]) -> bool {
    let raw = raw.strip_suffix(b"\0").unwrap_or(raw);
    for (index, arg) in raw.split(|&b| b == 0).enumerate() {
        if index > 0 {
            out.push(b' ');
        }
        out.push_bytes(arg);
    }
    !out.overflowed()
}

/// Longest environment value kept by [`EnvSearch`].
pub const ENV_VALUE_MAX: usize = 256;

/// Finds the first of `SSH_CONNECTION` and `SSH_CLIENT` in an environment
/// block (`NAME=value` entries separated by NUL) that arrives in chunks of
/// any size, so `/proc/PID/environ` can be read through a small buffer.
pub struct EnvSearch {
    /// Position inside the current entry.
    pos: usize,
    /// Flags for the names that still match the current entry's start.
    candidates: [bool; 2],
    /// Index of the name whose value is being copied.
    capturing: Option<usize>,
    value: Buf<ENV_VALUE_MAX>,
    found: bool,
}

const SSH_NAMES: [&[u8]; 2] = [b"SSH_CONNECTION=", b"SSH_CLIENT="];

impl Default for EnvSearch {
    fn default() -> Self {
        Self::new()
    }
}

impl EnvSearch {
    pub const fn new() -> Self {
        Self { pos: 0, candidates: [true; 2], capturing: None, value: Buf::new(), found: false }
    }

    /// Feeds the next chunk; returns `true` once a value is complete.
    pub fn feed(&mut self, chunk: &[u8]) -> bool {
        for &byte in chunk {
            if self.found {
                return true;
            }
            if byte == 0 {
                if self.capturing.is_some() {
                    self.found = true;
                    return true;
                }
                self.pos = 0;
                self.candidates = [true; 2];
                continue;
            }
            if self.capturing.is_some() {
                self.value.push(byte);
                continue;
            }
            for (index, name) in SSH_NAMES.iter().enumerate() {
                if self.candidates[index] {
                    if name.get(self.pos) != Some(&byte) {
                        self.candidates[index] = false;
                    } else if self.pos + 1 == name.len() {
                        self.capturing = Some(index);
                    }
                }
            }
            self.pos += 1;
        }
        self.found
    }

    /// Ends the input: a value that ran to the end of the block counts.
    pub fn finish(&mut self) -> bool {
        if self.capturing.is_some() {
            self.found = true;
        }
        self.found
    }

    /// Returns the value found, cut at [`ENV_VALUE_MAX`] bytes.
    pub fn value(&self) -> Option<&[u8]> {
        if self.found { Some(self.value.as_bytes()) } else { None }
    }
}

/// Returns the client address, the first word of an `SSH_CONNECTION` or
/// `SSH_CLIENT` value, if it looks like an IPv4 or IPv6 address.
pub fn ssh_client_address(value: &[u8]) -> Option<&[u8]> {
    let word = value.split(|&b| b == b' ').next()?;
    let valid =
        crate::rfc5424::parse_ipv4(word).is_some() || crate::rfc5424::parse_ipv6(word).is_some();
    if valid { Some(word) } else { None }
}

/// The socket state code of an established TCP connection.
const TCP_ESTABLISHED: &[u8] = b"01";

/// Parses one line of `/proc/net/tcp` or `/proc/net/tcp6`. When the
/// connection is established and its inode is `wanted`, appends the
/// remote address as `a.b.c.d:port` or `[v6]:port` and returns `true`.
pub fn push_tcp_peer(out: &mut Bytes, line: &[u8], wanted: impl Fn(u64) -> bool) -> bool {
    let mut fields = words(line);
    let (Some(_slot), Some(_local), Some(remote), Some(state)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return false;
    };
    // tx:rx queue, timer, retransmits, uid, timeout, then the inode.
    let Some(inode) = fields.nth(5).and_then(parse_u64) else { return false };
    if state != TCP_ESTABLISHED || !wanted(inode) {
        return false;
    }
    let Some(colon) = remote.iter().position(|&b| b == b':') else { return false };
    let (address, port) = (&remote[..colon], &remote[colon + 1..]);
    let Some(port) = parse_hex(port) else { return false };
    match address.len() {
        8 => {
            let Some(word) = parse_hex(address) else { return false };
            push_ipv4(out, (word as u32).to_le_bytes());
        }
        32 => {
            let mut bytes = [0u8; 16];
            for (index, chunk) in address.chunks(8).enumerate() {
                let Some(word) = parse_hex(chunk) else { return false };
                bytes[index * 4..index * 4 + 4].copy_from_slice(&(word as u32).to_le_bytes());
            }
            if bytes[..10].iter().all(|&b| b == 0) && bytes[10] == 0xff && bytes[11] == 0xff {
                push_ipv4(out, [bytes[12], bytes[13], bytes[14], bytes[15]]);
            } else {
                out.push(b'[');
                for group in 0..8 {
                    if group > 0 {
                        out.push(b':');
                    }
                    let value = u16::from_be_bytes([bytes[group * 2], bytes[group * 2 + 1]]);
                    out.push_hex_u16(value);
                }
                out.push(b']');
            }
        }
        _ => return false,
    }
    out.push(b':');
    out.push_u64(port);
    true
}

fn push_ipv4(out: &mut Bytes, bytes: [u8; 4]) {
    for (index, byte) in bytes.iter().enumerate() {
        if index > 0 {
            out.push(b'.');
        }
        out.push_u64(u64::from(*byte));
    }
}

fn parse_hex(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 16 {
        return None;
    }
    let mut value = 0u64;
    for &byte in text {
        let digit = (byte as char).to_digit(16)?;
        value = value << 4 | u64::from(digit);
    }
    Some(value)
}

/// Parses a `socket:[INODE]` link target from `/proc/PID/fd`.
pub fn socket_inode(link: &[u8]) -> Option<u64> {
    parse_u64(link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &[u8] =
        b"4242 (cat) R 4100 4242 4000 34817 4242 4194304 90 0 0 0 0 0 0 0 20 0 1 0 \
        987654 2539520 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn stat_fields() {
        let stat = parse_stat(STAT).unwrap();
        assert_eq!(stat.comm, b"cat");
        assert_eq!(stat.state, b'R');
        assert_eq!(stat.ppid, 4100);
        assert_eq!(stat.session, 4000);
        assert_eq!(stat.tty_nr, 34817);
        assert_eq!(stat.start_time, 987654);
    }

    #[test]
    fn stat_name_with_parens_and_spaces() {
        let text = b"7 (a) b (c) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0";
        let stat = parse_stat(text).unwrap();
        assert_eq!(stat.comm, b"a) b (c");
        assert_eq!(stat.ppid, 1);
        assert_eq!(stat.tty_nr, 0);
        assert_eq!(stat.start_time, 55);
    }

    #[test]
    fn stat_extreme_numbers_do_not_panic() {
        let text = b"1 (x) S 1 2 3 -9223372036854775808 0 0 0 0 0 0 0 0 0 0 0 0 0 0 5";
        assert!(parse_stat(text).is_none());
        let text = b"1 (x) S 1 2 3 9223372036854775808 0 0 0 0 0 0 0 0 0 0 0 0 0 0 5";
        assert!(parse_stat(text).is_none());
        let text = b"1 (x) S 4294967297 2 3 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 5";
        assert!(parse_stat(text).is_none(), "ppid above u32 must not wrap");
        let found = parse_stat(b"()S 7 0 \0 -9223372036854775808");
        assert!(found.is_none());
        let text = b"1 (x) S 1 2 3 -1 0 4194564 0 0 0 0 0 0 0 0 0 0 0 0 5";
        let stat = parse_stat(text).unwrap();
        assert_eq!(stat.tty_nr, u32::MAX);
        assert_eq!(stat.flags & PF_EXITING, PF_EXITING);
    }

    #[test]
    fn stat_garbage_is_rejected() {
        assert!(parse_stat(b"").is_none());
        assert!(parse_stat(b"1 (x").is_none());
        assert!(parse_stat(b"1 ) x (").is_none());
        assert!(parse_stat(b"1 (x) S 1 2").is_none());
    }

    #[test]
    fn status_ids() {
        let text = b"Name:\tcat\nUid:\t1000\t0\t0\t0\nGid:\t100\t101\t101\t101\n";
        let ids = parse_status_ids(text);
        assert_eq!(ids.uid, Some(1000));
        assert_eq!(ids.euid, Some(0));
        assert_eq!(ids.gid, Some(100));
        assert_eq!(ids.egid, Some(101));
        assert_eq!(parse_status_ids(b"garbage"), Ids::default());
    }

    #[test]
    fn number_files() {
        assert_eq!(parse_number_file(b"1000"), Some(1000));
        assert_eq!(parse_number_file(b"4294967295\n"), Some(AUID_UNSET));
        assert_eq!(parse_number_file(b"x"), None);
    }

    #[test]
    fn tty_names() {
        let name = |nr| {
            let mut out = Buf::<32>::new();
            push_tty_name(&mut out, nr).then(|| String::from_utf8(out.as_bytes().to_vec()).unwrap())
        };
        assert_eq!(name(0), None);
        assert_eq!(name(34817).as_deref(), Some("pts/1"));
        assert_eq!(name(1025).as_deref(), Some("tty1"));
        assert_eq!(name(4 << 8 | 64).as_deref(), Some("ttyS0"));
        assert_eq!(name(5 << 8 | 1).as_deref(), Some("console"));
        assert_eq!(name(137 << 8 | 2).as_deref(), Some("pts/258"));
        assert_eq!(name(8 << 8 | 3).as_deref(), Some("8:3"));
    }

    #[test]
    fn cmdline_is_joined() {
        let mut out = Buf::<64>::new();
        assert!(push_cmdline(&mut out, b"cat\0/srv/trap/vpn.key\0"));
        assert_eq!(out.as_bytes(), b"cat /srv/trap/vpn.key");
        let mut small = Buf::<4>::new();
        assert!(!push_cmdline(&mut small, b"abcdef\0"));
    }

    #[test]
    fn env_search_across_chunks() {
        let env = b"PATH=/bin\0SSH_CLIENTX=1\0SSH_CONNECTION=203.0.113.7 51234 192.0.2.1 22\0X=y\0";
        for split in 0..env.len() {
            let mut search = EnvSearch::new();
            let found = search.feed(&env[..split]) || search.feed(&env[split..]);
            assert!(found, "split at {split}");
            assert_eq!(search.value(), Some(&b"203.0.113.7 51234 192.0.2.1 22"[..]));
        }
    }

    #[test]
    fn env_search_takes_ssh_client_and_value_at_end() {
        let mut search = EnvSearch::new();
        assert!(!search.feed(b"A=1\0SSH_CLIENT=198.51.100.2 4000 22"));
        assert!(search.finish());
        assert_eq!(search.value(), Some(&b"198.51.100.2 4000 22"[..]));
        let mut none = EnvSearch::new();
        assert!(!none.feed(b"SSH=1\0XSSH_CONNECTION=1.2.3.4\0"));
        assert!(!none.finish());
        assert_eq!(none.value(), None);
    }

    #[test]
    fn ssh_address_must_look_like_ip() {
        assert_eq!(
            ssh_client_address(b"203.0.113.7 51234 192.0.2.1 22"),
            Some(&b"203.0.113.7"[..])
        );
        assert_eq!(ssh_client_address(b"2001:db8::1 5 ::1 22"), Some(&b"2001:db8::1"[..]));
        assert_eq!(ssh_client_address(b"x;rm -rf / 1 2 3"), None);
        assert_eq!(ssh_client_address(b""), None);
        assert_eq!(ssh_client_address(b"1234"), None);
        for bogus in [
            &b"... 1"[..],
            b": 1",
            b"999.999.999.999 1",
            b"1.2.3.4.5.6.7.8 1",
            b"deadbeef.cafe 1",
            b"1.2.3.04x 1",
        ] {
            assert_eq!(ssh_client_address(bogus), None, "{:?}", String::from_utf8_lossy(bogus));
        }
        assert_eq!(
            ssh_client_address(b"::ffff:192.0.2.1 1 ::1 22"),
            None,
            "mixed form is not parsed"
        );
        assert_eq!(ssh_client_address(b"::1 1 ::1 22"), Some(&b"::1"[..]));
    }

    #[test]
    fn tcp_lines() {
        let v4 = b"   1: 0100007F:0016 0771007F:C800 01 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 20 4 30 10 -1";
        let mut out = Buf::<64>::new();
        assert!(push_tcp_peer(&mut out, v4, |inode| inode == 31337));
        assert_eq!(out.as_bytes(), b"127.0.113.7:51200");
        let mut other = Buf::<64>::new();
        assert!(!push_tcp_peer(&mut other, v4, |inode| inode == 1));
        let listening = b"   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1";
        assert!(!push_tcp_peer(&mut other, listening, |_| true));
        assert!(!push_tcp_peer(&mut other, b"  sl  local_address rem_address   st", |_| true));
        assert!(other.is_empty());
    }

    #[test]
    fn tcp6_lines() {
        let mapped = b"   0: 0000000000000000FFFF00000100007F:0016 0000000000000000FFFF00000771007F:C800 01 00000000:00000000 00:00000000 00000000 0 0 77 1";
        let mut out = Buf::<64>::new();
        assert!(push_tcp_peer(&mut out, mapped, |inode| inode == 77));
        assert_eq!(out.as_bytes(), b"127.0.113.7:51200");
        let v6 = b"   0: 00000000000000000000000001000000:0016 B80D0120000000000000000001000000:0050 01 00000000:00000000 00:00000000 00000000 0 0 78 1";
        let mut out = Buf::<64>::new();
        assert!(push_tcp_peer(&mut out, v6, |inode| inode == 78));
        assert_eq!(out.as_bytes(), b"[2001:db8:0:0:0:0:0:1]:80");
    }

    #[test]
    fn socket_links() {
        assert_eq!(socket_inode(b"socket:[31337]"), Some(31337));
        assert_eq!(socket_inode(b"/dev/pts/1"), None);
        assert_eq!(socket_inode(b"socket:[x]"), None);
    }
}
