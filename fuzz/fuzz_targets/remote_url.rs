//! `rfc5424::parse_url` on arbitrary text: an accepted URL has a port from
//! 1 to 65535, and its destination written back as a URL parses to the same
//! destination.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ttrapd::rfc5424::{self, Transport};

fuzz_target!(|data: &[u8]| {
    let Ok(destination) = rfc5424::parse_url(data) else { return };
    assert_ne!(destination.port, 0);
    let scheme = match destination.transport {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
    };
    let url = if destination.is_ipv6 {
        let groups: Vec<String> = destination
            .address
            .chunks(2)
            .map(|pair| format!("{:x}", u16::from_be_bytes([pair[0], pair[1]])))
            .collect();
        format!("{scheme}://[{}]:{}", groups.join(":"), destination.port)
    } else {
        assert!(
            destination.address[4..].iter().all(|&b| b == 0),
            "IPv4 with bytes past the fourth"
        );
        let [a, b, c, d] = [0, 1, 2, 3].map(|i| destination.address[i]);
        format!("{scheme}://{a}.{b}.{c}.{d}:{}", destination.port)
    };
    assert_eq!(rfc5424::parse_url(url.as_bytes()), Ok(destination), "{url}");
});
