//! HTTP trigger routes: exact paths and trailing `/...` wildcards.
//!
//! Matching follows Spin's HTTP trigger for these two forms: an exact route
//! wins over a wildcard, and a longer wildcard prefix wins over a shorter one.
//! Spin's named `:segment` wildcards are not supported.

/// A parsed `route` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Matches the path exactly, for example `/webhook`.
    Exact(String),
    /// Matches the prefix path and anything below it, for example `/api/...`.
    /// The prefix is stored without a trailing slash, so `/...` is `""`.
    Wildcard(String),
}

/// The result of matching a request path to a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// Index of the matched trigger in the list passed to [`Router::new`].
    pub trigger_index: usize,
    /// The route as written in the manifest (normalized), for `spin-matched-route`.
    pub matched_route: String,
    /// The route without its `/...` suffix, for `spin-component-route`.
    pub component_route: String,
    /// The part of the path after the route prefix, for `spin-path-info`.
    pub path_info: String,
}

impl Route {
    /// Parses a manifest `route`, which must start with `/`. A trailing `/` on
    /// an exact route is dropped.
    pub fn parse(text: &str) -> Result<Self, String> {
        if !text.starts_with('/') {
            return Err("a route must start with '/'".to_string());
        }
        if let Some(prefix) = text.strip_suffix("/...") {
            if prefix.contains("...") {
                return Err("'...' may appear only once, at the end of a route".to_string());
            }
            return Ok(Self::Wildcard(prefix.trim_end_matches('/').to_string()));
        }
        if text.contains("...") {
            return Err(
                "'...' must follow a '/' at the end of a route, as in \"/api/...\"".to_string(),
            );
        }
        if text.split('/').any(|segment| segment.starts_with(':')) {
            return Err(
                "named wildcards such as '/:id' are not supported by this host".to_string(),
            );
        }
        let trimmed = text.trim_end_matches('/');
        Ok(Self::Exact(if trimmed.is_empty() {
            "/".to_string()
        } else {
            trimmed.to_string()
        }))
    }

    /// Returns the route in manifest form, such as `/api/...`.
    pub fn as_str(&self) -> String {
        match self {
            Self::Exact(path) => path.clone(),
            Self::Wildcard(prefix) => format!("{prefix}/..."),
        }
    }
}

/// Maps request paths to triggers.
#[derive(Debug, Clone)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// Builds a router over `routes`. Match results refer to their indexes.
    pub fn new(routes: Vec<Route>) -> Self {
        Self { routes }
    }

    /// Finds the best route for `path` (the request path without its query).
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let normalized = match path.trim_end_matches('/') {
            "" => "/",
            trimmed => trimmed,
        };

        // An exact route wins over any wildcard.
        for (index, route) in self.routes.iter().enumerate() {
            if let Route::Exact(exact) = route {
                if exact == normalized {
                    return Some(RouteMatch {
                        trigger_index: index,
                        matched_route: exact.clone(),
                        component_route: exact.clone(),
                        path_info: String::new(),
                    });
                }
            }
        }

        // Among wildcards, the longest matching prefix wins.
        let mut best: Option<(usize, &str)> = None;
        for (index, route) in self.routes.iter().enumerate() {
            let Route::Wildcard(prefix) = route else {
                continue;
            };
            let matches = path == prefix.as_str()
                || path
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.starts_with('/'));
            if matches && best.is_none_or(|(_, best_prefix)| prefix.len() > best_prefix.len()) {
                best = Some((index, prefix));
            }
        }
        best.map(|(index, prefix)| RouteMatch {
            trigger_index: index,
            matched_route: format!("{prefix}/..."),
            component_route: prefix.to_string(),
            path_info: path[prefix.len()..].to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_parse_table() {
        let cases = [
            ("/...", Ok(Route::Wildcard(String::new()))),
            ("/api/...", Ok(Route::Wildcard("/api".to_string()))),
            ("/webhook", Ok(Route::Exact("/webhook".to_string()))),
            ("/webhook/", Ok(Route::Exact("/webhook".to_string()))),
            ("/", Ok(Route::Exact("/".to_string()))),
        ];
        for (text, expected) in cases {
            assert_eq!(Route::parse(text), expected, "route {text:?}");
        }
        for bad in ["webhook", "/a/.../b", "/a...", "/users/:id", ""] {
            assert!(
                Route::parse(bad).is_err(),
                "route {bad:?} should be rejected"
            );
        }
    }

    fn router(routes: &[&str]) -> Router {
        Router::new(routes.iter().map(|r| Route::parse(r).unwrap()).collect())
    }

    #[test]
    fn router_catch_all_gets_whole_path() {
        let matched = router(&["/..."]).route("/acr/webhook").unwrap();
        assert_eq!(matched.trigger_index, 0);
        assert_eq!(matched.matched_route, "/...");
        assert_eq!(matched.component_route, "");
        assert_eq!(matched.path_info, "/acr/webhook");
    }

    #[test]
    fn router_prefers_exact_then_longest() {
        let routes = router(&["/...", "/api/...", "/api/health"]);
        assert_eq!(routes.route("/api/health").unwrap().trigger_index, 2);
        assert_eq!(routes.route("/api/other").unwrap().trigger_index, 1);
        assert_eq!(routes.route("/api").unwrap().trigger_index, 1);
        assert_eq!(routes.route("/apix").unwrap().trigger_index, 0);
        assert_eq!(routes.route("/").unwrap().trigger_index, 0);
    }

    #[test]
    fn router_wildcard_path_info() {
        let matched = router(&["/api/..."]).route("/api/v1/x").unwrap();
        assert_eq!(matched.path_info, "/v1/x");
        assert_eq!(matched.component_route, "/api");
    }

    #[test]
    fn router_no_match_returns_none() {
        assert!(router(&["/webhook"]).route("/other").is_none());
        assert!(router(&["/api/..."]).route("/apis").is_none());
    }
}
