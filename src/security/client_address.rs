//! Which address a request comes from, for per-address limits. A client can
//! write any `X-Forwarded-For` it likes, so the header is believed only when
//! the TCP peer is a trusted proxy, and then only as far back as the chain
//! of trusted proxies goes.

use std::net::IpAddr;

use ipnet::IpNet;

/// The client's address: the TCP peer, unless that is a trusted proxy; then
/// the nearest address in `X-Forwarded-For` (read from the right) that is
/// not a trusted proxy itself.
pub fn client_address(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |address: &IpAddr| trusted.iter().any(|network| network.contains(address));
    let mut client = peer;
    if !is_trusted(&client) {
        return client;
    }
    let hops = forwarded_for
        .iter()
        .flat_map(|value| value.split(','))
        .rev();
    for hop in hops {
        match hop.trim().parse::<IpAddr>() {
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

#[cfg(test)]
mod tests {
    use super::client_address;

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
}
