//! Registered servers, by name, in memory (as in the original service): a
//! restarted balance service knows no servers until they register again.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Where a registered server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    pub host: String,
    pub port: String,
}

/// Servers by name, in name order (which also breaks ties between equally
/// loaded chat servers).
#[derive(Debug, Default)]
pub struct Registry {
    servers: Mutex<BTreeMap<String, ServerAddress>>,
}

/// At most this many servers per registry: whoever can call the service
/// cannot grow its memory without bound.
pub const MAX_SERVERS: usize = 1024;

/// What became of a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Added,
    /// The name is registered already.
    Taken,
    /// [`MAX_SERVERS`] are registered.
    Full,
}

impl Registry {
    pub fn register(&self, name: String, address: ServerAddress) -> Registration {
        let mut servers = self.servers.lock().expect("registry lock");
        if servers.contains_key(&name) {
            return Registration::Taken;
        }
        if servers.len() >= MAX_SERVERS {
            return Registration::Full;
        }
        servers.insert(name, address);
        Registration::Added
    }

    /// `false` when no server has this name.
    pub fn remove(&self, name: &str) -> bool {
        self.servers
            .lock()
            .expect("registry lock")
            .remove(name)
            .is_some()
    }

    /// Every server but `name`; `None` when `name` is not registered (the
    /// original service then answers an error and an empty list).
    pub fn others(&self, name: &str) -> Option<Vec<(String, ServerAddress)>> {
        let servers = self.all();
        if !servers.iter().any(|(registered, _)| registered == name) {
            return None;
        }
        Some(
            servers
                .into_iter()
                .filter(|(other, _)| other != name)
                .collect(),
        )
    }

    pub fn all(&self) -> Vec<(String, ServerAddress)> {
        let servers = self.servers.lock().expect("registry lock");
        servers
            .iter()
            .map(|(name, address)| (name.clone(), address.clone()))
            .collect()
    }
}

/// The server with the lowest known login count; a server whose count is
/// unknown (missing or unreadable) ranks after every known one; ties go to
/// the first name.
pub fn least_loaded(
    servers: &[(String, ServerAddress)],
    count_of: impl Fn(&str) -> Option<u64>,
) -> Option<&(String, ServerAddress)> {
    servers
        .iter()
        .min_by_key(|(name, _)| count_of(name).map_or((1, 0), |count| (0, count)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(port: &str) -> ServerAddress {
        ServerAddress {
            host: "127.0.0.1".into(),
            port: port.into(),
        }
    }

    #[test]
    fn names_are_unique_and_removal_needs_a_known_name() {
        let registry = Registry::default();
        assert_eq!(
            registry.register("a".into(), address("1")),
            Registration::Added
        );
        assert_eq!(
            registry.register("a".into(), address("2")),
            Registration::Taken
        );
        assert_eq!(
            registry.register("b".into(), address("2")),
            Registration::Added
        );
        assert_eq!(registry.others("b").unwrap().len(), 1);
        assert_eq!(registry.others("nobody"), None);
        assert!(registry.remove("a"));
        assert!(!registry.remove("a"));
        assert_eq!(registry.others("b").unwrap(), vec![]);
    }

    #[test]
    fn a_registry_holds_at_most_max_servers() {
        let registry = Registry::default();
        for n in 0..MAX_SERVERS {
            assert_eq!(
                registry.register(n.to_string(), address("1")),
                Registration::Added
            );
        }
        assert_eq!(
            registry.register("one more".into(), address("1")),
            Registration::Full
        );
        assert!(registry.remove("0"));
        assert_eq!(
            registry.register("one more".into(), address("1")),
            Registration::Added
        );
    }

    #[test]
    fn the_lowest_known_count_wins_unknown_ranks_last_and_ties_go_by_name() {
        let servers = vec![
            ("alpha".to_owned(), address("1")),
            ("beta".to_owned(), address("2")),
            ("gamma".to_owned(), address("3")),
        ];
        let counts = |map: &'static [(&str, u64)]| {
            move |name: &str| map.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
        };
        assert_eq!(
            least_loaded(&servers, counts(&[("alpha", 5), ("beta", 2), ("gamma", 9)]))
                .unwrap()
                .0,
            "beta"
        );
        assert_eq!(
            least_loaded(&servers, counts(&[("alpha", 5)])).unwrap().0,
            "alpha"
        );
        assert_eq!(
            least_loaded(&servers, counts(&[("beta", 3), ("gamma", 3)]))
                .unwrap()
                .0,
            "beta"
        );
        assert_eq!(least_loaded(&servers, counts(&[])).unwrap().0, "alpha");
        assert!(least_loaded(&[], counts(&[])).is_none());
    }
}
