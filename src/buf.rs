//! A fixed-capacity byte buffer that formats without `core::fmt`.
//!
//! Writes past the capacity are dropped and remembered, so a caller can
//! mark the cut; nothing here panics on long input.

/// An append-only byte buffer: a length and an overflow flag in front of
/// its storage. `Buf<N>` owns `N` bytes inline; every method lives on
/// [`Bytes`], the unsized view that any `Buf<N>` dereferences to, so the
/// code exists once whatever the sizes in use.
pub struct Buffer<T: ?Sized> {
    len: usize,
    overflowed: bool,
    bytes: T,
}

/// A buffer with `N` bytes of storage.
pub type Buf<const N: usize> = Buffer<[u8; N]>;

/// Any buffer, whatever its size.
pub type Bytes = Buffer<[u8]>;

impl<const N: usize> Default for Buf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Buf<N> {
    /// Creates an empty buffer.
    pub const fn new() -> Self {
        Self { len: 0, overflowed: false, bytes: [0; N] }
    }
}

impl<const N: usize> core::ops::Deref for Buf<N> {
    type Target = Bytes;

    fn deref(&self) -> &Bytes {
        self
    }
}

impl<const N: usize> core::ops::DerefMut for Buf<N> {
    fn deref_mut(&mut self) -> &mut Bytes {
        self
    }
}

impl Bytes {
    /// Returns the bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Returns how many more bytes fit.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.len
    }

    /// Reports whether any write was dropped for lack of room.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Empties the buffer and forgets any overflow.
    pub fn clear(&mut self) {
        self.len = 0;
        self.overflowed = false;
    }

    /// Shortens the buffer to `len` bytes; a longer `len` does nothing.
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
        }
    }

    /// Appends one byte, or records the overflow.
    pub fn push(&mut self, byte: u8) {
        if self.len < self.bytes.len() {
            self.bytes[self.len] = byte;
            self.len += 1;
        } else {
            self.overflowed = true;
        }
    }

    /// Appends as much of `bytes` as fits.
    pub fn push_bytes(&mut self, bytes: &[u8]) {
        let room = self.bytes.len() - self.len;
        let take = if bytes.len() > room { room } else { bytes.len() };
        self.bytes[self.len..self.len + take].copy_from_slice(&bytes[..take]);
        self.len += take;
        if take < bytes.len() {
            self.overflowed = true;
        }
    }

    pub fn push_str(&mut self, text: &str) {
        self.push_bytes(text.as_bytes());
    }

    /// Appends `value` in decimal.
    pub fn push_u64(&mut self, value: u64) {
        let mut digits = [0u8; 20];
        let text = format_u64(value, &mut digits);
        self.push_bytes(text);
    }

    /// Appends `value` in decimal with a leading `-` when negative.
    pub fn push_i64(&mut self, value: i64) {
        if value < 0 {
            self.push(b'-');
        }
        self.push_u64(value.unsigned_abs());
    }

    /// Appends `value` in lowercase hexadecimal without leading zeros, as
    /// one group of an IPv6 address.
    pub fn push_hex_u16(&mut self, value: u16) {
        let mut started = false;
        for shift in [12, 8, 4, 0] {
            let digit = ((value >> shift) & 0xf) as u8;
            if digit != 0 || started || shift == 0 {
                started = true;
                self.push(if digit < 10 { b'0' + digit } else { b'a' + digit - 10 });
            }
        }
    }

    /// Appends `value` as two lowercase hexadecimal digits.
    pub fn push_hex_byte(&mut self, value: u8) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.push(HEX[(value >> 4) as usize]);
        self.push(HEX[(value & 15) as usize]);
    }
}

/// Writes `value` in decimal into `digits` and returns the used tail.
pub fn format_u64(mut value: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    &digits[start..]
}

/// Parses a decimal number without sign; `None` on an empty string, a
/// non-digit or overflow.
pub fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &byte in text {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format_in_decimal() {
        let mut buf = Buf::<64>::new();
        buf.push_u64(0);
        buf.push(b' ');
        buf.push_u64(u64::MAX);
        buf.push(b' ');
        buf.push_i64(-42);
        assert_eq!(buf.as_bytes(), b"0 18446744073709551615 -42");
        assert!(!buf.overflowed());
    }

    #[test]
    fn overflow_is_recorded_not_panicking() {
        let mut buf = Buf::<4>::new();
        buf.push_bytes(b"abcdef");
        assert_eq!(buf.as_bytes(), b"abcd");
        assert!(buf.overflowed());
        buf.push(b'x');
        assert_eq!(buf.len(), 4);
    }

    #[test]
    fn parse_u64_rejects_bad_text() {
        assert_eq!(parse_u64(b"123"), Some(123));
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"1a"), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b"18446744073709551616"), None);
    }
}
