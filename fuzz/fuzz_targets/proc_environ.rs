//! `procfs::EnvSearch` fed an environment block in chunks of random size
//! (the first four input bytes seed the sizes): the result must not depend
//! on the chunking and must match a plain search of the whole block.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ttrapd::procfs::{ENV_VALUE_MAX, EnvSearch};

/// Returns the first `SSH_CONNECTION` or `SSH_CLIENT` value in `block`,
/// cut at `ENV_VALUE_MAX` bytes.
fn reference(block: &[u8]) -> Option<&[u8]> {
    block.split(|&b| b == 0).find_map(|entry| {
        let value = entry
            .strip_prefix(b"SSH_CONNECTION=")
            .or_else(|| entry.strip_prefix(b"SSH_CLIENT="))?;
        Some(&value[..value.len().min(ENV_VALUE_MAX)])
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let seed = u32::from_ne_bytes(data[..4].try_into().unwrap());
    let block = &data[4..];
    let mut rng = ttrapd_fuzz::Rng::new(seed.into());

    let mut chunked = EnvSearch::new();
    let mut pos = 0;
    let mut done = false;
    while pos < block.len() && !done {
        // Sizes from 0 to 40: empty chunks, single bytes, and chunks that
        // cross a name or a value.
        let size = rng.below(41).min(block.len() - pos);
        done = chunked.feed(&block[pos..pos + size]);
        pos += size;
    }
    let chunked_found = done || chunked.finish();

    let mut whole = EnvSearch::new();
    let whole_found = whole.feed(block) || whole.finish();

    let expected = reference(block);
    assert_eq!(whole_found, expected.is_some());
    assert_eq!(whole.value(), expected, "whole block");
    assert_eq!(chunked_found, expected.is_some());
    assert_eq!(chunked.value(), expected, "chunked block");
});
