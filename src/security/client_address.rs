//! Which address a request comes from, for per-address limits. A client can
//! write any `X-Forwarded-For` it likes, so the header is believed only when
//! the TCP peer is a trusted proxy, and then only as far back as the chain
//! of trusted proxies goes.
//!
//! Every address is canonical first: an IPv4-mapped IPv6 address
//! (`::ffff:203.0.113.5`, what a gateway listening on `[::]` sees of IPv4
//! peers) is the IPv4 address, both as a client and when matched against
//! `limits.trusted_proxies`.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

/// The client's address: the TCP peer, unless that is a trusted proxy; then
/// the nearest address in `X-Forwarded-For` (read from the right) that is
/// not a trusted proxy itself.
pub fn client_address(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |address: &IpAddr| trusted.iter().any(|network| network.contains(address));
    let mut client = peer.to_canonical();
    if !is_trusted(&client) {
        return client;
    }
    let hops = forwarded_for
        .iter()
        .flat_map(|value| value.split(','))
        .rev();
    for hop in hops {
        match hop
            .trim()
            .parse::<IpAddr>()
            .map(|address| address.to_canonical())
        {
            Ok(address) => {
                client = address;
                if !is_trusted(&address) {
                    break;
                }
            }
            // A hop we cannot read ends what we can believe.
            Err(_) => break,
        }
    }
    client
}

/// What one budget of the per-address limit counts: an IPv4 address, or
/// the /64 network of an IPv6 address (one subscriber usually holds a whole
/// /64, and would otherwise get a fresh budget per address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressBucket {
    V4(std::net::Ipv4Addr),
    V6Net64(Ipv6Addr),
}

impl AddressBucket {
    pub fn of(address: IpAddr) -> AddressBucket {
        match address.to_canonical() {
            IpAddr::V4(v4) => AddressBucket::V4(v4),
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                AddressBucket::V6Net64(Ipv6Addr::from(prefix))
            }
        }
    }
}

impl fmt::Display for AddressBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressBucket::V4(v4) => write!(f, "{v4}"),
            AddressBucket::V6Net64(net) => write!(f, "{net}/64"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{AddressBucket, client_address};

    fn ip(text: &str) -> std::net::IpAddr {
        text.parse().unwrap()
    }

    fn nets(items: &[&str]) -> Vec<ipnet::IpNet> {
        items.iter().map(|item| item.parse().unwrap()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let client = client_address(ip("203.0.113.9"), &["1.2.3.4"], &nets(&["10.0.0.0/8"]));
        assert_eq!(client, ip("203.0.113.9"));
        assert_eq!(
            client_address(ip("127.0.0.1"), &["1.2.3.4"], &[]),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn a_trusted_peer_passes_on_the_nearest_untrusted_hop() {
        let trusted = nets(&["10.0.0.0/8"]);
        // The client forged the first entry; the proxy appended the real one.
        let client = client_address(ip("10.0.0.2"), &["6.6.6.6, 198.51.100.7"], &trusted);
        assert_eq!(client, ip("198.51.100.7"));
        // Two trusted proxies in a row, over two header lines.
        let client = client_address(ip("10.0.0.2"), &["198.51.100.7", "10.0.0.3"], &trusted);
        assert_eq!(client, ip("198.51.100.7"));
    }

    #[test]
    fn garbage_or_a_missing_header_leaves_the_last_trusted_hop() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_address(ip("10.0.0.2"), &[], &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), &["1.1.1.1, junk"], &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn mapped_addresses_are_their_ipv4_address_as_client_and_as_proxy() {
        assert_eq!(
            client_address(ip("::ffff:203.0.113.5"), &[], &[]),
            ip("203.0.113.5")
        );
        let trusted = nets(&["10.0.0.0/8"]);
        let client = client_address(ip("::ffff:10.0.0.2"), &["::ffff:198.51.100.7"], &trusted);
        assert_eq!(client, ip("198.51.100.7"));
    }

    #[test]
    fn an_ipv6_client_counts_by_its_64() {
        let bucket = |text: &str| AddressBucket::of(ip(text)).to_string();
        assert_eq!(bucket("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(bucket("2001:db8:1:2:ffff::9"), "2001:db8:1:2::/64");
        assert_ne!(bucket("2001:db8:1:3::1"), bucket("2001:db8:1:2::1"));
        assert_eq!(bucket("::ffff:203.0.113.5"), "203.0.113.5");
        assert_eq!(bucket("203.0.113.5"), "203.0.113.5");
    }
}
