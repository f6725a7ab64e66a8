//! `allowed_outbound_hosts` entries and the check applied to each outbound
//! HTTP request.
//!
//! The accepted forms follow Spin 3's `spin-outbound-networking-config`:
//! `scheme://host[:port]`, where the scheme and the port may be `*`, the host
//! may be `*` or start with `*.`, and the port may be a range `a..b` (end
//! excluded). Spin's CIDR host form is not supported.

/// One parsed `allowed_outbound_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    ports: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `*.example.com`, stored as `.example.com`.
    Subdomain(String),
    /// `self`: the app itself, which this host never serves outbound.
    ToSelf,
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Single(u16),
    /// Start included, end excluded, as in Spin.
    Range(u16, u16),
}

/// Returns the default port of an outbound URL scheme, if it has one.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        _ => None,
    }
}

impl AllowedHost {
    /// Parses one entry, such as `https://*.example.com:8443`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(
                "the entry has no scheme; write it as <scheme>://<host>[:<port>], for example \"https://example.com\""
                    .to_string(),
            );
        };

        let scheme = match scheme {
            "*" => None,
            name if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphabetic()) => {
                Some(name.to_ascii_lowercase())
            }
            name => {
                return Err(format!(
                    "scheme {name:?} must contain only ASCII letters, or be '*'"
                ))
            }
        };

        // Allow one trailing '/', as Spin does, but no path.
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            return Err("an allowed host must not contain a path".to_string());
        }

        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        };

        let host = parse_host(host)?;
        let ports = match port {
            None => {
                let scheme_name = scheme.as_deref().unwrap_or("*");
                let port = default_port(scheme_name).ok_or_else(|| {
                    format!("no port given and scheme {scheme_name:?} has no default port; add one, as in \"{scheme_name}://host:8080\" or \":*\"")
                })?;
                PortPattern::Single(port)
            }
            Some(port) => parse_port(port)?,
        };

        Ok(Self {
            scheme,
            host,
            ports,
        })
    }

    /// Returns true when a request to `scheme://host:port` matches this entry.
    /// `port` is `None` when the URL gave none, in which case the scheme's
    /// default port is used.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        if self
            .scheme
            .as_deref()
            .is_some_and(|allowed| allowed != scheme)
        {
            return false;
        }

        let host = host.to_ascii_lowercase();
        let host_matches = match &self.host {
            HostPattern::Any => true,
            HostPattern::Subdomain(suffix) => host.ends_with(suffix.as_str()),
            HostPattern::ToSelf => false,
            HostPattern::Exact(exact) => *exact == host,
        };
        if !host_matches {
            return false;
        }

        let Some(port) = port.or_else(|| default_port(scheme)) else {
            return matches!(self.ports, PortPattern::Any);
        };
        match self.ports {
            PortPattern::Any => true,
            PortPattern::Single(allowed) => allowed == port,
            PortPattern::Range(start, end) => (start..end).contains(&port),
        }
    }
}

fn parse_host(host: &str) -> Result<HostPattern, String> {
    let host = host.trim().to_ascii_lowercase();
    if host.is_empty() {
        return Err("the host is empty".to_string());
    }
    if host == "*" {
        return Ok(HostPattern::Any);
    }
    if host == "self" || host == "self.alt" {
        return Ok(HostPattern::ToSelf);
    }
    if host.starts_with('{') {
        return Err("host lists are not supported".to_string());
    }
    if let Some(domain) = host.strip_prefix("*.") {
        if domain.is_empty() || domain.contains('*') {
            return Err("a wildcard is allowed only as a leading '*.' before a domain".to_string());
        }
        return Ok(HostPattern::Subdomain(format!(".{domain}")));
    }
    if host.contains('*') {
        return Err("a wildcard is allowed only as a leading '*.' before a domain".to_string());
    }
    Ok(HostPattern::Exact(host))
}

fn parse_port(port: &str) -> Result<PortPattern, String> {
    if port == "*" {
        return Ok(PortPattern::Any);
    }
    if let Some((start, end)) = port.split_once("..") {
        let start = start
            .parse()
            .map_err(|_| format!("port range {port:?} contains a non-number"))?;
        let end = end
            .parse()
            .map_err(|_| format!("port range {port:?} contains a non-number"))?;
        return Ok(PortPattern::Range(start, end));
    }
    port.parse().map(PortPattern::Single).map_err(|_| {
        format!("port {port:?} is not a number between 0 and 65535, a range a..b, or '*'")
    })
}

/// The resolved `allowed_outbound_hosts` list of one component.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    entries: Vec<AllowedHost>,
}

impl OutboundPolicy {
    /// Parses resolved entries. Entries that are empty after template
    /// resolution are skipped.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let mut parsed = Vec::new();
        for entry in entries {
            let entry = entry.as_ref();
            if entry.trim().is_empty() {
                continue;
            }
            let host =
                AllowedHost::parse(entry).map_err(|reason| format!("{entry:?}: {reason}"))?;
            parsed.push(host);
        }
        Ok(Self { entries: parsed })
    }

    /// Returns true when any entry allows the request.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        self.entries
            .iter()
            .any(|entry| entry.allows(scheme, host, port))
    }

    /// Returns the number of entries in effect.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Returns true when no outbound request is allowed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
