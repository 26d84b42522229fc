//! IP addresses and CIDRs the way kube-apiserver reads them:
//! `netutils.ParseIPSloppy` / `ParseCIDRSloppy` (Go's pre-1.17 `net`
//! parsers, which accept leading zeros in IPv4 octets), and the address
//! classes of Go's `net.IP` (an IPv4-mapped IPv6 address counts as IPv4).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Parses an address as `ParseIPSloppy` does; IPv4-mapped IPv6 addresses
/// come back as IPv4 (Go's `To4()`).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    if s.contains(':') {
        // Go rejects zones and brackets, like Rust's parser.
        let v6: Ipv6Addr = s.parse().ok().or_else(|| parse_v6_sloppy_tail(s))?;
        return Some(match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        });
    }
    parse_v4_sloppy(s).map(IpAddr::V4)
}

/// Dotted decimal with any number of leading zeros per octet.
fn parse_v4_sloppy(s: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for o in &mut octets {
        let p = parts.next()?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits = p.trim_start_matches('0');
        if digits.len() > 3 {
            return None;
        }
        let n: u32 = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        *o = u8::try_from(n).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Ipv4Addr::from(octets))
}

/// An IPv6 address whose embedded IPv4 tail has leading zeros.
fn parse_v6_sloppy_tail(s: &str) -> Option<Ipv6Addr> {
    let (head, tail) = s.rsplit_once(':')?;
    if !tail.contains('.') {
        return None;
    }
    let v4 = parse_v4_sloppy(tail)?;
    format!("{head}:{v4}").parse().ok()
}

/// Parses `addr/prefix` as `ParseCIDRSloppy` does: the address may have
/// host bits set; the prefix is decimal and at most the address length.
pub fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = s.split_once('/')?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Keep the family as written: "::ffff:1.2.3.4/120" is an IPv6 CIDR.
    let ip = if addr.contains(':') {
        IpAddr::V6(
            addr.parse::<Ipv6Addr>()
                .ok()
                .or_else(|| parse_v6_sloppy_tail(addr))?,
        )
    } else {
        IpAddr::V4(parse_v4_sloppy(addr)?)
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let digits = len.trim_start_matches('0');
    let n: u32 = if digits.is_empty() {
        0
    } else if digits.len() > 3 {
        return None;
    } else {
        digits.parse().ok()?
    };
    (n <= max).then_some((ip, n as u8))
}

/// `IPv4` or `IPv6`, as `ipFamilies` spells it.
pub fn family_name(ip: &IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
}

/// The messages of `ValidateEndpointIP` / `ValidateNonSpecialIP` for an
/// address that parses: unspecified, loopback, link-local, link-local
/// multicast.
pub fn special_ip_messages(text: &str, ip: &IpAddr) -> Vec<String> {
    let mut out = Vec::new();
    let (unspecified, loopback, link_local, ll_multicast) = match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            (
                v4.is_unspecified(),
                o[0] == 127,
                o[0] == 169 && o[1] == 254,
                o[0] == 224 && o[1] == 0 && o[2] == 0,
            )
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            (
                v6.is_unspecified(),
                v6.is_loopback(),
                s[0] & 0xffc0 == 0xfe80,
                s[0] & 0xff0f == 0xff02,
            )
        }
    };
    if unspecified {
        out.push(format!("may not be unspecified ({text})"));
    }
    if loopback {
        out.push("may not be in the loopback range (127.0.0.0/8, ::1/128)".to_string());
    }
    if link_local {
        out.push("may not be in the link-local range (169.254.0.0/16, fe80::/10)".to_string());
    }
    if ll_multicast {
        out.push(
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)".to_string(),
        );
    }
    out
}

/// The message of `IsValidIP`.
pub const INVALID_IP: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";
/// The message of `IsValidCIDR`.
pub const INVALID_CIDR: &str = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sloppy_parsing() {
        assert_eq!(parse_ip("010.001.0.1"), Some(IpAddr::from([10, 1, 0, 1])));
        assert_eq!(parse_ip("1.2.3.256"), None);
        assert_eq!(parse_ip("1.2.3"), None);
        assert_eq!(parse_ip("myhost.mydomain"), None);
        assert_eq!(
            parse_ip("::ffff:127.0.0.1"),
            Some(IpAddr::from([127, 0, 0, 1]))
        );
        assert!(parse_ip("2001:db8::1").is_some_and(|ip| ip.is_ipv6()));
        assert_eq!(parse_ip("fe80::1%eth0"), None);
        assert_eq!(parse_ip(""), None);
        assert!(parse_cidr("1.2.3.4/24").is_some());
        assert!(parse_cidr("1.2.3.4/33").is_none());
        assert!(parse_cidr("2001:db8::/64").is_some());
        assert!(parse_cidr("1.2.3.4").is_none());
        assert!(parse_cidr("1.2.3.4/").is_none());
    }

    #[test]
    fn special_addresses() {
        let m = |s: &str| special_ip_messages(s, &parse_ip(s).unwrap());
        assert_eq!(m("0.0.0.0"), ["may not be unspecified (0.0.0.0)"]);
        assert_eq!(m("127.0.0.1").len(), 1);
        assert_eq!(m("169.254.1.1").len(), 1);
        assert_eq!(m("224.0.0.251").len(), 1);
        assert_eq!(m("ff02::1").len(), 1);
        assert_eq!(m("fe80::1").len(), 1);
        assert!(m("10.1.2.3").is_empty());
        assert!(m("239.1.1.1").is_empty());
    }
}
