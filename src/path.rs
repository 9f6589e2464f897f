//! Lexical path handling for trap paths: making them absolute and finding
//! the parent and final component. Nothing here touches the file system,
//! so `..` and symbolic links are left for the kernel to resolve.

use crate::buf::{Buf, Bytes};

/// Appends the normalized absolute form of `path` to `out`: relative paths
/// get `cwd` in front, repeated slashes and `.` components are dropped, and
/// a trailing slash is removed. Returns `false` when `out` had no room.
pub fn push_absolute(out: &mut Bytes, cwd: &[u8], path: &[u8]) -> bool {
    let start = out.len();
    if path.first() != Some(&b'/') {
        push_components(out, cwd);
    }
    push_components(out, path);
    if out.len() == start {
        out.push(b'/');
    }
    !out.overflowed()
}

fn push_components(out: &mut Bytes, path: &[u8]) {
    for component in path.split(|&b| b == b'/') {
        if component.is_empty() || component == b"." {
            continue;
        }
        out.push(b'/');
        out.push_bytes(component);
    }
}

/// Returns the index at which the final component of the absolute `path`
/// starts; for `/` itself, returns 1 and the final component is empty.
pub fn base_start(path: &[u8]) -> usize {
    match path.iter().rposition(|&b| b == b'/') {
        Some(slash) => slash + 1,
        None => 0,
    }
}

/// Returns the length of the parent directory part of the absolute `path`
/// (`/srv/trap` for `/srv/trap/key`, `/` for `/key`).
pub fn parent_len(path: &[u8]) -> usize {
    let base = base_start(path);
    if base <= 1 { 1 } else { base - 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn absolute(cwd: &str, path: &str) -> String {
        let mut out = Buf::<256>::new();
        assert!(push_absolute(&mut out, cwd.as_bytes(), path.as_bytes()));
        String::from_utf8(out.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn relative_paths_get_cwd() {
        assert_eq!(absolute("/home/a", "key"), "/home/a/key");
        assert_eq!(absolute("/", "key"), "/key");
        assert_eq!(absolute("/home/a", "./d//key/"), "/home/a/d/key");
    }

    #[test]
    fn absolute_paths_are_normalized() {
        assert_eq!(absolute("/x", "/srv//trap/./key/"), "/srv/trap/key");
        assert_eq!(absolute("/x", "/"), "/");
        assert_eq!(absolute("/x", "/a/../b"), "/a/../b");
    }

    #[test]
    fn parent_and_base_split() {
        assert_eq!(base_start(b"/srv/trap/key"), 10);
        assert_eq!(parent_len(b"/srv/trap/key"), 9);
        assert_eq!(parent_len(b"/key"), 1);
        assert_eq!(base_start(b"/"), 1);
        assert_eq!(parent_len(b"/"), 1);
    }

    #[test]
    fn overflow_is_reported() {
        let mut out = Buf::<8>::new();
        assert!(!push_absolute(&mut out, b"/home/user", b"key"));
    }
}

/// An absolute, NUL-terminated path of at most `N - 1` bytes, kept by value
/// so that it survives `chdir("/")`.
pub struct AbsPath<const N: usize> {
    bytes: Buf<N>,
}

impl<const N: usize> AbsPath<N> {
    /// Makes `raw` absolute against `cwd`; `None` when it does not fit, when
    /// it contains a NUL, or when it is relative and `cwd` is empty (unknown).
    pub fn new(cwd: &[u8], raw: &[u8]) -> Option<Self> {
        if raw.contains(&0) || (raw.first() != Some(&b'/') && cwd.is_empty()) {
            return None;
        }
        let mut bytes = Buf::new();
        if !push_absolute(&mut bytes, cwd, raw) || bytes.remaining() == 0 {
            return None;
        }
        bytes.push(0);
        Some(Self { bytes })
    }

    /// Returns the path without its NUL.
    pub fn as_bytes(&self) -> &[u8] {
        let bytes = self.bytes.as_bytes();
        &bytes[..bytes.len() - 1]
    }

    pub fn as_cstr(&self) -> &core::ffi::CStr {
        core::ffi::CStr::from_bytes_with_nul(self.bytes.as_bytes()).unwrap_or(c"/")
    }
}

#[cfg(test)]
mod abs_path_tests {
    use super::*;

    #[test]
    fn abs_path_is_nul_terminated() {
        let path = AbsPath::<64>::new(b"/run", b"ttrapd.pid").unwrap();
        assert_eq!(path.as_bytes(), b"/run/ttrapd.pid");
        assert_eq!(path.as_cstr().to_bytes(), b"/run/ttrapd.pid");
    }

    #[test]
    fn abs_path_rejects_what_cannot_be_used() {
        assert!(AbsPath::<8>::new(b"/", b"/too/long/path").is_none());
        assert!(AbsPath::<64>::new(b"", b"relative").is_none());
        assert!(AbsPath::<64>::new(b"/", b"a\0b").is_none());
        assert!(AbsPath::<64>::new(b"", b"/abs").is_some());
    }
}
