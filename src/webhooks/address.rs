//! Which IP addresses a webhook may reach: the classification behind the SSRF policy.
//!
//! A webhook URL is chosen by an admin, but the request is made from inside the network the
//! engine runs in: an address that only makes sense there (loopback, private ranges, link-local
//! such as the cloud metadata service at 169.254.169.254, the unspecified address, which Linux
//! treats as loopback) is refused unless its host is allow-listed. IPv6 forms that embed an IPv4
//! address (v4-mapped, v4-compatible, NAT64) are judged by the address they embed, so that
//! `[::ffff:127.0.0.1]` is as loopback as `127.0.0.1`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused, for the 422 and the delivery log.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_refusal(v4),
        IpAddr::V6(v6) => v6_refusal(v6),
    }
}

/// Whether a webhook may be delivered to `ip` (without an allow-list entry).
pub fn is_public(ip: IpAddr) -> bool {
    refusal(ip).is_none()
}

fn v4_refusal(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b) {
        (0, _) => "an unspecified address (0.0.0.0/8)",
        (127, _) => "a loopback address",
        (10, _) => "a private address (10.0.0.0/8)",
        (172, 16..=31) => "a private address (172.16.0.0/12)",
        (192, 168) => "a private address (192.168.0.0/16)",
        (169, 254) => "a link-local address",
        // Carrier-grade NAT: private to the provider's network, often the host's own.
        (100, 64..=127) => "a shared address (100.64.0.0/10)",
        // IETF protocol assignments, and benchmarking networks: never a public service.
        (192, 0) if c == 0 => "a reserved address (192.0.0.0/24)",
        (198, 18..=19) => "a benchmarking address (198.18.0.0/15)",
        (224..=239, _) => "a multicast address",
        (240..=255, _) => "a reserved or broadcast address",
        _ => return None,
    })
}

fn v6_refusal(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = embedded_v4(ip) {
        return v4_refusal(v4);
    }
    let first = ip.segments()[0];
    Some(if ip.is_unspecified() {
        "an unspecified address (::)"
    } else if ip.is_loopback() {
        "a loopback address"
    } else if first & 0xfe00 == 0xfc00 {
        "a private address (fc00::/7)"
    } else if first & 0xffc0 == 0xfe80 {
        "a link-local address"
    } else if first & 0xffc0 == 0xfec0 {
        "a site-local address (fec0::/10)"
    } else if first & 0xff00 == 0xff00 {
        "a multicast address"
    } else {
        return None;
    })
}

/// The IPv4 address an IPv6 address stands for, when it is one of the forms that reach an
/// IPv4 host: v4-mapped `::ffff:a.b.c.d`, the deprecated v4-compatible `::a.b.c.d` (but not
/// `::` and `::1`, which are IPv6's own), and the NAT64 prefix `64:ff9b::/96`.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail),
        [0, 0, 0, 0, 0, 0, 0, 0] | [0, 0, 0, 0, 0, 0, 0, 1] => None,
        [0, 0, 0, 0, 0, 0, _, _] => Some(tail),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v4(text: &str) -> IpAddr {
        IpAddr::V4(text.parse().expect("an IPv4 address"))
    }

    fn v6(text: &str) -> IpAddr {
        IpAddr::V6(text.parse().expect("an IPv6 address"))
    }

    #[test]
    fn the_issue_s_addresses_are_refused() {
        for ip in [
            v4("169.254.169.254"),
            v6("::1"),
            v4("10.1.2.3"),
            v4("127.0.0.1"),
            v4("0.0.0.0"),
            v6("::"),
            v6("::ffff:127.0.0.1"),
            v6("::ffff:169.254.169.254"),
            v6("::127.0.0.1"),
            v6("64:ff9b::10.0.0.1"),
            v6("fe80::1"),
            v6("fd00::1"),
            v6("ff02::1"),
            v4("224.0.0.1"),
            v4("255.255.255.255"),
            v4("172.31.255.255"),
            v4("192.168.0.1"),
            v4("100.64.0.1"),
        ] {
            assert!(!is_public(ip), "{ip} must be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            v4("93.184.216.34"),
            v4("1.1.1.1"),
            v4("172.15.255.255"),
            v4("172.32.0.0"),
            v4("100.128.0.1"),
            v4("192.0.2.1"),
            v4("169.253.255.255"),
            v6("2606:4700::1111"),
            v6("::ffff:1.1.1.1"),
            v6("64:ff9b::1.1.1.1"),
        ] {
            assert!(is_public(ip), "{ip} must be allowed");
        }
    }

    fn mapped(ip: Ipv4Addr) -> IpAddr {
        IpAddr::V6(ip.to_ipv6_mapped())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// The standard library's own predicates, an independent statement of the ranges the
        /// contract names: each one they flag is refused.
        #[test]
        fn every_v4_address_std_calls_internal_is_refused(bits in any::<u32>()) {
            let ip = Ipv4Addr::from(bits);
            let internal = ip.is_loopback() || ip.is_private() || ip.is_link_local()
                || ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast();
            if internal {
                prop_assert!(!is_public(IpAddr::V4(ip)), "{}", ip);
            }
        }

        #[test]
        fn a_v4_mapped_or_nat64_address_is_judged_as_its_v4_address(bits in any::<u32>()) {
            let ip = Ipv4Addr::from(bits);
            let expected = is_public(IpAddr::V4(ip));
            prop_assert_eq!(is_public(mapped(ip)), expected, "{}", ip);
            let [a, b, c, d] = ip.octets();
            let nat64 = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0,
                u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
            prop_assert_eq!(is_public(IpAddr::V6(nat64)), expected, "{}", nat64);
        }

        #[test]
        fn every_v6_address_std_calls_internal_is_refused(bits in any::<u128>()) {
            let ip = Ipv6Addr::from(bits);
            let internal = ip.is_loopback() || ip.is_unspecified() || ip.is_multicast()
                || ip.is_unique_local() || ip.is_unicast_link_local();
            if internal {
                prop_assert!(!is_public(IpAddr::V6(ip)), "{}", ip);
            }
        }

        #[test]
        fn addresses_inside_each_refused_v4_range_are_refused(
            range in prop_oneof![
                Just((0x0000_0000u32, 8u32)), Just((0x0a00_0000, 8)), Just((0x7f00_0000, 8)),
                Just((0xa9fe_0000, 16)), Just((0xac10_0000, 12)), Just((0xc0a8_0000, 16)),
                Just((0x6440_0000, 10)), Just((0xe000_0000, 4)), Just((0xf000_0000, 4)),
            ],
            host in any::<u32>(),
        ) {
            let (network, prefix) = range;
            let ip = Ipv4Addr::from(network | (host >> prefix));
            prop_assert!(!is_public(IpAddr::V4(ip)), "{}", ip);
            prop_assert!(!is_public(mapped(ip)), "{}", ip);
        }

        #[test]
        fn addresses_inside_each_refused_v6_range_are_refused(
            range in prop_oneof![
                Just((0xfc00u128 << 112, 7u32)), Just((0xfe80u128 << 112, 10)),
                Just((0xfec0u128 << 112, 10)), Just((0xff00u128 << 112, 8)),
            ],
            host in any::<u128>(),
        ) {
            let (network, prefix) = range;
            let ip = Ipv6Addr::from(network | (host >> prefix));
            prop_assert!(!is_public(IpAddr::V6(ip)), "{}", ip);
        }

        /// Global unicast space outside the embedded-v4 prefixes (2000::/3) is public.
        #[test]
        fn global_unicast_v6_is_allowed(host in any::<u128>()) {
            let ip = Ipv6Addr::from((0x2000u128 << 112) | (host >> 3));
            prop_assert!(is_public(IpAddr::V6(ip)), "{}", ip);
        }
    }
}
