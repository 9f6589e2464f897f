//! Kernel structures that rustix and linux-raw-sys do not describe, read
//! from byte buffers at fixed offsets. Unit tests check the offsets against
//! the `libc` crate.

/// Size of `struct signalfd_siginfo` (signalfd(2)).
pub const SIGINFO_LEN: usize = 128;

const SSI_SIGNO: usize = 0;
const SSI_PID: usize = 12;
const SSI_UID: usize = 16;

/// The parts of one `struct signalfd_siginfo` that ttrapd uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalInfo {
    pub signo: u32,
    /// Pid of the sender; 0 when the kernel sent the signal.
    pub pid: u32,
    /// Real uid of the sender.
    pub uid: u32,
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_ne_bytes(word)
}

/// Decodes one record of a signalfd read.
pub fn parse_siginfo(record: &[u8; SIGINFO_LEN]) -> SignalInfo {
    SignalInfo {
        signo: read_u32(record, SSI_SIGNO),
        pid: read_u32(record, SSI_PID),
        uid: read_u32(record, SSI_UID),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn siginfo_layout_matches_libc() {
        assert_eq!(SIGINFO_LEN, size_of::<libc::signalfd_siginfo>());
        assert_eq!(SSI_SIGNO, offset_of!(libc::signalfd_siginfo, ssi_signo));
        assert_eq!(SSI_PID, offset_of!(libc::signalfd_siginfo, ssi_pid));
        assert_eq!(SSI_UID, offset_of!(libc::signalfd_siginfo, ssi_uid));
    }

    #[test]
    fn siginfo_fields_decode() {
        let mut record = [0u8; SIGINFO_LEN];
        record[0..4].copy_from_slice(&15u32.to_ne_bytes());
        record[12..16].copy_from_slice(&4242u32.to_ne_bytes());
        record[16..20].copy_from_slice(&1000u32.to_ne_bytes());
        assert_eq!(parse_siginfo(&record), SignalInfo { signo: 15, pid: 4242, uid: 1000 });
    }
}
